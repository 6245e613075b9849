"""What a reward sees besides its group: the step, the whole batch, and its own saved state.

Rewards are pure functions `fn(group, *, <keyword-only params>, ctx=None) -> list[float]`.
Methods with memory (HAPO's per-problem history, LASER-D's adaptive targets, budget schedules)
read their state from `ctx.state` and declare how it evolves with `@stateful(update)`:

    update(state: dict, batch: Sequence[Group], *, step: int, <the reward's params>) -> dict

`update` runs once after each step's batch has been scored, so a reward never sees state built
from its own step's rollouts; it returns a new dict of plain JSON data (saved in checkpoints and
by `rewardkit score --state`), never mutating the old one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rewardkit.types import Group


@dataclass(frozen=True)
class RewardContext:
    step: int = 0
    batch: tuple[Group, ...] = ()  # every group scored in this step (GRPO-λ ranks them)
    state: Mapping[str, Any] = field(default_factory=dict)  # this reward's own state, read-only


def stateful(update: Callable[..., dict]) -> Callable:
    """Mark a reward as having memory; `update` computes its next state (see module docstring)."""

    def mark(fn: Callable) -> Callable:
        fn.update_state = update
        return fn

    return mark


def state_of(ctx: RewardContext | None) -> Mapping[str, Any]:
    return ctx.state if ctx is not None else {}
