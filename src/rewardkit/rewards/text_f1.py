"""`text_f1`: token-level F1 of a short free-text answer, the usual QA partial credit."""

from __future__ import annotations

import math

from rewardkit.registry import REWARDS
from rewardkit.rewards.base import RewardContext
from rewardkit.types import Group


@REWARDS.register("text_f1")
def text_f1(group: Group, *, ctx: RewardContext | None = None) -> list[float]:
    """max over the gold and its aliases of SQuAD's token F1 (Rajpurkar et al., 2016,
    https://arxiv.org/abs/1606.05250): F1 = 2PR / (P + R) over the multiset of normalised tokens
    (lower case, no punctuation, no articles). No parameters.

    The answer is the one the `text` task's verifier extracted (`group.answers`; a reply stating
    no answer scores 0). NaN when the verifier could not judge a completion (`correct` None:
    a None verdict never becomes a number) or the problem has no usable gold.

    >>> from rewardkit.testing import make_group
    >>> g = make_group(texts=["The answer is: Eiffel Tower", "x" * 50, "Paris"],
    ...                answer="the Eiffel Tower in Paris", task="text")
    >>> [round(x, 3) for x in text_f1(g)]  # 2/2 and 2/4 -> 0.667; nothing; 1/1 and 1/4 -> 0.4
    [0.667, 0.0, 0.4]
    """
    from rewardkit.tasks.answers import stated_answer, text_golds, token_f1

    golds = text_golds(group.problem)
    if not golds:
        return [math.nan] * len(group)
    answers = (group.answers if len(group.answers) == len(group)
               else [stated_answer(c.text) for c in group.completions])
    unjudged = [ok is None for ok in group.correct] if group.verified else [False] * len(group)
    return [math.nan if skip else 0.0 if a is None else max(token_f1(a, g) for g in golds)
            for a, skip in zip(answers, unjudged)]
