"""Rewards from the policy's own per-token numbers: `sar` (perplexities) and `pear` (entropies).

Each declares the per-token `Completion` fields it reads (`@needs`); the trainer asks its
sampler for `logprobs` / `entropies` and computes SAR's `unconditional_logprobs` itself
(train/loop.py `with_unconditional_logprobs`). `rewardkit score` has no policy and its rollout
files carry no per-token values, so it cannot score them. A completion without them is an
error, not a silent 0. Neither reads the verdict, so neither is NaN when the verifier could not
judge; both are meant to be added to `accuracy`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rewardkit.errors import UserError
from rewardkit.registry import REWARDS
from rewardkit.rewards.base import RewardContext, needs
from rewardkit.types import Completion, Group

THINK_END = "</think>"


def _need(c: Completion, field: str, reward: str) -> tuple[float, ...]:
    values = getattr(c, field)
    if values is None:
        raise UserError(
            f"reward {reward!r} needs Completion.{field} (per-token values from the sampler or "
            f"trainer); this completion has none"
        )
    return values


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def self_aligned(conditional: Sequence[float], unconditional: Sequence[float]) -> float:
    """R_SA = clip((ppl(a) − ppl(a|q)) / ppl(a), −1, 1), from per-token log-probs of the answer
    with the question (`conditional`) and without it. 0 for an empty answer.

    Since ppl(a|q)/ppl(a) = exp(mean(unconditional) − mean(conditional)), R_SA is computed as
    1 − exp(mean(unconditional) − mean(conditional)), which cannot overflow.

    >>> round(self_aligned([-1.0, -1.0], [-2.0, -2.0]), 4)  # 1 - e^-1: the question helps
    0.6321
    >>> self_aligned([-3.0], [-1.0])  # 1 - e^2 < -1: clipped
    -1.0
    """
    if len(conditional) != len(unconditional):
        raise ValueError(
            f"reward 'sar': {len(conditional)} conditional and {len(unconditional)} "
            f"unconditional log-probs; they must score the same answer tokens"
        )
    if not conditional:
        return 0.0
    gap = _mean(unconditional) - _mean(conditional)  # log(ppl(a|q) / ppl(a))
    return max(-1.0, 1.0 - math.exp(min(gap, 1.0)))  # gap >= log 2 already clips to -1


@REWARDS.register("sar")
@needs("logprobs", "unconditional_logprobs")
def sar(group: Group, *, alpha: float, ctx: RewardContext | None = None) -> list[float]:
    """Self-Aligned Reward: α · R_SA, the relative perplexity gain of the answer given the question.

    R_SA = clip((ppl(a) − ppl(a|q)) / ppl(a), −1, 1), ppl(a|q) = exp(−mean_j log P(a_j | q, a_<j))
    from `Completion.logprobs`, ppl(a) the same without the question from
    `Completion.unconditional_logprobs`; both from the policy itself. Higher for answers that are
    specific to the question, lower for padding that is likely anyway. Here a is the whole
    completion. Never NaN (it does not use the verdict); add it to `accuracy` (R = R_VR + α·R_SA).
    α (`reward_factors` in the code) has no verified default, so it is required.

    "Self-Aligned Reward: Towards Effective and Efficient Reasoners",
    https://arxiv.org/abs/2509.05489

    >>> from rewardkit.testing import make_group
    >>> g = make_group(lengths=[2, 1], correct=[True, None], logprobs=[[-1.0, -1.0], [-3.0]],
    ...                unconditional_logprobs=[[-2.0, -2.0], [-1.0]])
    >>> [round(x, 4) for x in sar(g, alpha=0.5)]  # 0.5 * (1 - e^-1), 0.5 * clip(1 - e^2)
    [0.3161, -0.5]
    """
    return [
        alpha * self_aligned(_need(c, "logprobs", "sar"), _need(c, "unconditional_logprobs", "sar"))
        for c in group.completions
    ]


def thinking_tokens(c: Completion, n: int) -> int:
    """How many of the completion's n per-token values belong to the thinking phase.

    Tokens are not aligned with characters without the tokenizer, so the split is placed by the
    share of text: k = round(n · len(text up to and including the first `</think>`) / len(text)).
    No `</think>`: the model never left the thinking phase (often a truncated reply): k = n.

    >>> thinking_tokens(Completion(text="<think>abc</think>xy", num_tokens=10), 10)  # 18 of 20
    9
    >>> thinking_tokens(Completion(text="still thinking", num_tokens=4), 4)
    4
    """
    end = c.text.find(THINK_END)
    if end < 0:
        return n
    return round(n * (end + len(THINK_END)) / len(c.text))


@REWARDS.register("pear")
@needs("entropies")
def pear(
    group: Group, *, alpha: float, answer_alpha: float = 0.0, ctx: RewardContext | None = None
) -> list[float]:
    """PEAR phase-entropy penalty (*unverified* form): −(α · H̄_think + answer_alpha · H̄_answer).

    H̄_think and H̄_answer are the mean per-token entropies (`Completion.entropies`) of the
    thinking phase (up to and including `</think>`, located by `thinking_tokens`) and of the
    answer after it; an empty phase counts 0. High entropy while thinking goes with long,
    exploratory reasoning, so it is penalised; the answer phase is treated leniently
    (`answer_alpha` = 0 by default: not penalised). Never NaN (it does not use the verdict);
    add it to `accuracy` (R = correctness − penalty).

    Readings (PAPERS.md 3A.20: mechanism from the abstract and summaries only): the exact
    functional form, the weights and whether the answer phase is rewarded are not verified;
    this linear penalty on the phase means is the simplest form matching the description, and α
    is required because no default is known. The paper's code locates `</think>` with the
    tokenizer; without one we split by the share of text.

    "PEAR: Phase Entropy Aware Reward for Efficient Reasoning", https://arxiv.org/abs/2510.08026

    >>> from rewardkit.testing import make_group
    >>> texts = ["<think>x</think>" + "y" * 16, "still thinking"]  # 16 of 32 chars: 2 of 4 tokens
    >>> g = make_group(texts=texts, correct=[True, None],
    ...                entropies=[[2.0, 2.0, 0.5, 0.5], [1.0, 3.0]])
    >>> pear(g, alpha=0.1)  # -0.1 * mean(2, 2); -0.1 * mean(1, 3) (no </think>: all thinking)
    [-0.2, -0.2]
    >>> [round(x, 6) for x in pear(g, alpha=0.1, answer_alpha=0.2)]  # -(0.1 * 2 + 0.2 * 0.5)
    [-0.3, -0.2]
    """
    out = []
    for c in group.completions:
        h = _need(c, "entropies", "pear")
        k = thinking_tokens(c, len(h))
        out.append(-(alpha * _mean(h[:k]) + answer_alpha * _mean(h[k:])) + 0.0)
    return out
