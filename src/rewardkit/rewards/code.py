"""`code_tests_passed`: partial credit for programs, the share of the problem's tests they pass."""

from __future__ import annotations

import math

from rewardkit.registry import REWARDS
from rewardkit.rewards.base import RewardContext
from rewardkit.types import Group


@REWARDS.register("code_tests_passed")
def code_tests_passed(group: Group, *, ctx: RewardContext | None = None) -> list[float]:
    """passed / total tests for each completion of a `code` task; NaN where the sandbox could
    not judge (status "error" or "timeout": `correct` is None); the verdict (1.0 or 0.0) where
    there is no graded score (a reply with no program, or a group from another task).

    Partial credit by the share of tests passed, the code reward issue 15 attributes to DRIVE
    and ReST-RL (Zhoubian et al. 2025, https://arxiv.org/abs/2508.19576). Formula: r = k / n,
    where the `code` task's verifier stores k / n (tests passed / tests) as each completion's
    graded score (`Group.scores`). No parameters.

    >>> from rewardkit.testing import make_group
    >>> g = make_group(lengths=[5, 6, 7, 8], correct=[True, False, None, False])
    >>> g = g.with_verdicts(g.correct, ["ok", "ok", "error", "ok"], (), [1.0, 0.25, None, None])
    >>> code_tests_passed(g)
    [1.0, 0.25, nan, 0.0]
    """
    if not group.verified:
        raise ValueError(f"group {group.problem.id!r} has not been verified")
    scores = group.scores or [None] * len(group)
    return [math.nan if ok is None else float(ok) if score is None else float(score)
            for ok, score in zip(group.correct, scores)]
