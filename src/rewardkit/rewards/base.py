"""What a reward sees besides its group: the step, the whole batch, and its own saved state.

Rewards are pure functions `fn(group, *, <keyword-only params>, ctx=None) -> list[float]`.
Methods with memory (HAPO's per-problem history, LASER-D's adaptive targets, budget schedules)
read their state from `ctx.state` and declare how it evolves with `@stateful(update)`:

    update(state: dict, batch: Sequence[Group], *, step: int, <the reward's params>) -> dict

`update` runs once after each step's batch has been scored, so a reward never sees state built
from its own step's rollouts; it returns a new dict of plain JSON data (saved in checkpoints and
by `rewardkit score --save-state`), never mutating the old one.

Steps are 0-based everywhere a reward sees them (`ctx.step` and `update(..., step=)`): the number
of steps completed before this one. Training step 1 (as logged and checkpointed) is reward step 0;
`rewardkit score` passes each line's `step` as it is, so a file written with 0-based steps
replays training exactly. LASER-D's first re-estimate and `budget_curriculum`'s first shrink
therefore come after the same number of steps in both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rewardkit.types import Group


@dataclass(frozen=True)
class RewardContext:
    step: int = 0  # 0-based: steps completed before this one (module docstring)
    batch: tuple[Group, ...] = ()  # the groups scored in this call (GRPO-λ ranks them)
    state: Mapping[str, Any] = field(default_factory=dict)  # this reward's own state, read-only


def stateful(update: Callable[..., dict]) -> Callable:
    """Mark a reward as having memory; `update` computes its next state (see module docstring)."""

    def mark(fn: Callable) -> Callable:
        fn.update_state = update
        return fn

    return mark


def state_of(ctx: RewardContext | None) -> Mapping[str, Any]:
    return ctx.state if ctx is not None else {}
