"""`code_tests_passed`: partial credit for programs, the share of the problem's tests they pass."""

from __future__ import annotations

import math
import re

from rewardkit.registry import REWARDS
from rewardkit.rewards.base import RewardContext
from rewardkit.types import Group

_COUNTS = re.compile(r"(\d+)/(\d+)")


def _fraction(correct: bool, answer: str | None) -> float:
    counts = _COUNTS.fullmatch(answer or "")
    if counts is None or int(counts[2]) == 0:
        return float(correct)  # no program, or a verifier that gives no counts: the verdict
    return int(counts[1]) / int(counts[2])


@REWARDS.register("code_tests_passed")
def code_tests_passed(group: Group, *, ctx: RewardContext | None = None) -> list[float]:
    """passed / total tests for each completion of a `code` task; NaN where the sandbox could
    not judge (status "error" or "timeout": `correct` is None); the verdict (1.0 or 0.0) where
    there are no counts (a reply with no program, or a group from another task).

    Partial credit by the share of tests passed, the code reward issue 15 attributes to DRIVE
    and ReST-RL (Zhoubian et al. 2025, https://arxiv.org/abs/2508.19576). Formula: r = k / n,
    where the `code` task's verifier stores "k/n" (tests passed / tests) as each completion's
    answer. No parameters.

    >>> from rewardkit.testing import make_group
    >>> g = make_group(lengths=[5, 6, 7, 8], correct=[True, False, None, False])
    >>> g = g.with_verdicts(g.correct, ["ok", "ok", "error", "ok"], ["4/4", "1/4", None, None])
    >>> code_tests_passed(g)
    [1.0, 0.25, nan, 0.0]
    """
    if not group.verified:
        raise ValueError(f"group {group.problem.id!r} has not been verified")
    return [math.nan if ok is None else _fraction(ok, answer)
            for ok, answer in zip(group.correct, group.answers or [None] * len(group))]
