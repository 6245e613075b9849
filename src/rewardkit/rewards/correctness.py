"""`accuracy`: the verifier's verdict as a reward."""

from __future__ import annotations

import math

from rewardkit.registry import REWARDS
from rewardkit.rewards.base import RewardContext, primary
from rewardkit.types import Group


@REWARDS.register("accuracy")
@primary
def accuracy(group: Group, *, ctx: RewardContext | None = None) -> list[float]:
    """1.0 if the task's verifier accepted the completion, 0.0 if it rejected it, NaN if it could
    not judge (timeout, unparseable gold, verifier error).

    The outcome reward of RLVR: DeepSeek-R1 / GRPO, "DeepSeekMath" (https://arxiv.org/abs/2402.03300).
    The group must have been verified (`Task.verify`); an unverified group is an error, not zeros.

    >>> from rewardkit.testing import make_group
    >>> accuracy(make_group(lengths=[5, 6, 7], correct=[True, False, None]))
    [1.0, 0.0, nan]
    """
    if not group.verified:
        raise ValueError(f"group {group.problem.id!r} has not been verified")
    return [math.nan if ok is None else float(ok) for ok in group.correct]
