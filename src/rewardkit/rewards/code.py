"""`code_tests_passed`: partial credit for programs, the share of the problem's tests they pass."""

from __future__ import annotations

import math

from rewardkit.registry import REWARDS
from rewardkit.rewards.base import RewardContext
from rewardkit.types import Group


def _fraction(answer: str | None) -> float:
    if answer is None:
        return 0.0  # no program in the reply
    passed, _, total = answer.partition("/")
    return int(passed) / int(total)


@REWARDS.register("code_tests_passed")
def code_tests_passed(group: Group, *, ctx: RewardContext | None = None) -> list[float]:
    """passed / total tests for each completion of a `code` task; NaN where the sandbox could
    not judge (status "error" or "timeout": `correct` is None), 0.0 for a reply with no program.

    Partial credit by the fraction of unit tests passed, as DRIVE ("Data Curation Best Practices
    for Reinforcement Learning with Verifiable Reward in Competitive Code Generation",
    https://arxiv.org/abs/2511.06307) and ReST-RL (https://arxiv.org/abs/2508.19576) use. The
    `code` task's verifier stores "k/n" as each completion's answer; no parameters.

    >>> from rewardkit.testing import make_group
    >>> g = make_group(lengths=[5, 6, 7, 8], correct=[True, False, None, False])
    >>> g = g.with_verdicts(g.correct, ["ok", "ok", "error", "ok"], ["4/4", "1/4", None, None])
    >>> code_tests_passed(g)
    [1.0, 0.25, nan, 0.0]
    """
    if not group.verified:
        raise ValueError(f"group {group.problem.id!r} has not been verified")
    return [math.nan if ok is None else _fraction(answer)
            for ok, answer in zip(group.correct, group.answers or [None] * len(group))]
