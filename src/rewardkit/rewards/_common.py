"""Small helpers shared by the reward families (not registered, not public API)."""

from __future__ import annotations

import math

from rewardkit.errors import UserError
from rewardkit.types import Group


def verdicts(group: Group, reward: str) -> tuple[bool | None, ...]:
    """The group's verdicts; an unverified group is an error, never silently all-wrong."""
    if not group.verified:
        raise ValueError(f"reward {reward!r}: group {group.problem.id!r} has not been verified")
    return group.correct


def extracted_answers(group: Group, reward: str) -> tuple[str | None, ...]:
    """The task's extracted answer per completion (`Group.answers`, filled by `Task.verify`).

    An unverified group, or one whose task did not record answers, is an error: only the task
    knows its answer format, so guessing one here would silently score replies as answerless.
    """
    if not group.verified or len(group.answers) != len(group):
        raise ValueError(
            f"reward {reward!r}: group {group.problem.id!r} has no extracted answers "
            "(verify it with its task first: Task.verify fills Group.answers)"
        )
    return group.answers


def judged_accuracy(correct: tuple[bool | None, ...]) -> float:
    """Share of correct answers among the judged ones (None left out); NaN if none was judged.

    >>> judged_accuracy((True, False, None)), judged_accuracy((None,))
    (0.5, nan)
    """
    judged = [c for c in correct if c is not None]
    return sum(judged) / len(judged) if judged else math.nan


def require_positive(reward: str, **values: float) -> None:
    """Fail at the first call with a named parameter (a UserError: the user's config value), not
    with a ZeroDivisionError later."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise UserError(f"reward {reward!r}: {name} must be > 0, got {value!r}")
