"""N-gram repetition: the `repetition` penalty and the helpers LASER-DE uses to spot loops.

Tokens are the sampler's `token_ids` when it recorded them, otherwise the whitespace-separated
words of the text (so a reward scored from a JSONL file without token ids still works; the two
units give different numbers, which is why the docstrings say which one is used).
"""

from __future__ import annotations

from collections.abc import Sequence

from rewardkit.errors import UserError
from rewardkit.registry import REWARDS
from rewardkit.rewards._common import require_positive
from rewardkit.rewards.base import RewardContext
from rewardkit.types import Completion, Group


def completion_tokens(c: Completion) -> tuple:
    """The completion's token ids if known, else its whitespace-separated words.

    >>> completion_tokens(Completion(text="a b  c", num_tokens=3))
    ('a', 'b', 'c')
    >>> completion_tokens(Completion(text="abc", num_tokens=2, token_ids=(7, 8)))
    (7, 8)
    """
    return tuple(c.token_ids) if c.token_ids is not None else tuple(c.text.split())


def repeated_ngram_fraction(tokens: Sequence, n: int) -> float:
    """1 − (distinct n-grams / n-grams): 0 for no repeat, → 1 for a loop; 0 if no n-gram fits.

    >>> repeated_ngram_fraction("a b c a b c".split(), 3)  # abc bca cab abc: 3 distinct of 4
    0.25
    >>> repeated_ngram_fraction("a b".split(), 3)
    0.0
    """
    if n < 1:
        raise UserError(f"ngram must be >= 1, got {n}")
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


@REWARDS.register("repetition")
def repetition(
    group: Group, *, ngram: int = 3, max_penalty: float = -1.0, ctx: RewardContext | None = None
) -> list[float]:
    """N-gram repetition penalty: max_penalty · (1 − distinct n-grams / n-grams).

    0 for a completion without a repeated n-gram, approaching `max_penalty` for a degenerate loop;
    0 when the completion is shorter than `ngram` tokens. Counted over `token_ids` when present,
    else over whitespace words. Never NaN: it does not need the verdict. (The Demystifying-Long-CoT
    code adds its penalty to wrong answers only; combine with a correctness-gated reward if you
    want that. HAPO's code has a 3-gram term with weight 0 by default.)

    "Demystifying Long Chain-of-Thought Reasoning in LLMs", https://arxiv.org/abs/2502.03373

    >>> from rewardkit.testing import make_group
    >>> repetition(make_group(texts=["a b c a b c", "a b c d", "a b"], correct=[True, False, None]))
    [-0.25, 0.0, 0.0]
    """
    require_positive("repetition", ngram=ngram)
    # + 0.0 turns -0.0 (max_penalty * 0.0) into 0.0 for readable logs
    return [
        max_penalty * repeated_ngram_fraction(completion_tokens(c), ngram) + 0.0
        for c in group.completions
    ]
