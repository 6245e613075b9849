"""What a reward sees besides its group: the step, the batch, its own saved state; and the marks
a reward carries so the scorer and the trainer know how to call it.

Rewards are pure functions `fn(group, *, <keyword-only params>, ctx=None) -> list[float]`.
Methods with memory (HAPO's per-problem history, LASER-D's adaptive targets, budget schedules)
read their state from `ctx.state` and declare how it evolves with `@stateful(update)`:

    update(state: dict, batch: Sequence[Group], *, step: int, <the reward's params>) -> dict

`update` runs once after each step's batch has been scored (its groups carry text, lengths and
verdicts but no per-token arrays: `train.metrics.slim_group`), so a reward never sees state built
from its own step's rollouts; it returns a new dict of plain JSON data (saved in checkpoints and
by `rewardkit score --save-state`), never mutating the old one.

Steps are 0-based everywhere a reward sees them (`ctx.step` and `update(..., step=)`): the number
of steps completed before this one. Training step 1 (as logged and checkpointed) is reward step 0;
`rewardkit score` passes each line's `step` as it is, so a file written with 0-based steps
replays training exactly. LASER-D's first re-estimate and `budget_curriculum`'s first shrink
therefore come after the same number of steps in both.

Other marks, read by `RewardScorer` (rewards/combine.py):
- `@batch_level`: the reward compares groups with each other (GRPO-λ ranks them), so its
  `ctx.batch` must be the step's whole batch. The trainer scores it once per step, after dynamic
  sampling and the gather across ranks, over exactly the groups it trains on; `rewardkit score`
  scores it over the file's step.
- `@primary`: the reward is the verifier's judgement (`accuracy`, and the rewards that stand in
  for it: `cosine_length`, `l1_exact`, `l1_max`, `efficiency`). When its value is NaN (the
  verifier could not judge) the completion's total is NaN, so it gets advantage 0 and leaves
  the group statistics instead of being trained on the remaining terms. A reward spec can
  override this (`primary: true/false`).
- `@needs("logprobs", ...)`: per-token `Completion` fields the reward reads; the trainer asks the
  sampler for them (`logprobs`, `entropies`) or computes them (`unconditional_logprobs`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rewardkit.types import Group

PER_TOKEN_FIELDS = ("logprobs", "unconditional_logprobs", "entropies")


@dataclass(frozen=True)
class RewardContext:
    step: int = 0  # 0-based: steps completed before this one (module docstring)
    # The groups scored together: for a `@batch_level` reward the step's whole batch (in training:
    # the kept groups of every rank); for any other reward the groups of one sampling round on
    # one rank, which it must not depend on.
    batch: tuple[Group, ...] = ()
    state: Mapping[str, Any] = field(default_factory=dict)  # this reward's own state, read-only


def stateful(update: Callable[..., dict]) -> Callable:
    """Mark a reward as having memory; `update` computes its next state (see module docstring)."""

    def mark(fn: Callable) -> Callable:
        fn.update_state = update
        return fn

    return mark


def batch_level(fn: Callable) -> Callable:
    """Mark a reward whose values depend on the other groups of the step (see module docstring)."""
    fn.batch_level = True
    return fn


def primary(fn: Callable) -> Callable:
    """Mark a reward as the verifier's judgement: NaN there makes the total NaN."""
    fn.primary = True
    return fn


def needs(*fields: str) -> Callable[[Callable], Callable]:
    """Mark the per-token `Completion` fields a reward reads (a subset of PER_TOKEN_FIELDS)."""
    unknown = set(fields) - set(PER_TOKEN_FIELDS)
    if unknown:
        raise ValueError(f"unknown per-token fields {sorted(unknown)}; known: {PER_TOKEN_FIELDS}")

    def mark(fn: Callable) -> Callable:
        fn.needs = frozenset(fields)
        return fn

    return mark


def state_of(ctx: RewardContext | None) -> Mapping[str, Any]:
    return ctx.state if ctx is not None else {}
