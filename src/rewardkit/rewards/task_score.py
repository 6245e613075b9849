"""`task_score`: the task's own graded score as a reward (partial credit where the task grades)."""

from __future__ import annotations

import math

from rewardkit.registry import REWARDS
from rewardkit.rewards.base import RewardContext
from rewardkit.types import Group


@REWARDS.register("task_score")
def task_score(group: Group, *, ctx: RewardContext | None = None) -> list[float]:
    """The score the task's checker gave each completion, `group.scores`: reasoning-gym's
    `score_answer` in [0, 1] for `reasoning_gym:*` tasks (Stojanovski et al., "REASONING GYM:
    Reasoning Environments for Reinforcement Learning with Verifiable Rewards", 2025,
    https://arxiv.org/abs/2505.24760), partial credit included. For tasks that only say right or
    wrong (no `scores`), 1.0/0.0 from the verdict, as `accuracy`. NaN where the checker could not
    judge (timeout, error, unparseable gold). No parameters.

    >>> from rewardkit.testing import make_group
    >>> g = make_group(lengths=[5, 6, 7], correct=[True, False, None])
    >>> task_score(g)                        # no graded scores: the verdicts
    [1.0, 0.0, nan]
    >>> task_score(g.with_verdicts(g.correct, g.status, (), [1.0, 0.25, None]))
    [1.0, 0.25, nan]
    """
    if not group.verified:
        raise ValueError(f"group {group.problem.id!r} has not been verified")
    if not group.scores:
        return [math.nan if ok is None else float(ok) for ok in group.correct]
    return [math.nan if s is None else float(s) for s in group.scores]
