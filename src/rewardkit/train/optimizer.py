"""The optimizer part of a run: AdamW over the trainable parameters, the learning-rate schedule,
gradient clipping, and the guard that skips a step with a NaN/inf loss or gradient and stops
training after a few in a row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch

from rewardkit.config import OptimConfig

MAX_NONFINITE_IN_A_ROW = 3
"""consecutive optimizer steps with a NaN/inf loss or gradient before training stops"""


class TrainingError(RuntimeError):
    """Training cannot go on (repeated non-finite losses); the message says what to try."""


def lr_factor(i: int, *, warmup: int, total: int, schedule: str) -> float:
    """Multiplier of the base lr at optimizer step i: linear warm-up, then constant/cosine/linear.

    >>> [round(lr_factor(i, warmup=2, total=6, schedule="linear"), 2) for i in range(6)]
    [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]
    """
    if i < warmup:
        return (i + 1) / warmup
    progress = min(1.0, (i - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress if schedule == "linear" else 1.0


@dataclass
class Optimization:
    """Parameters, optimizer and schedule, stepped together; counts the steps it skipped."""

    params: list[torch.nn.Parameter]
    optimizer: Any  # torch AdamW, or accelerate's wrapper of it with several processes
    scheduler: Any  # LambdaLR over the optimizer's learning rate
    max_grad_norm: float
    counters: dict[str, int] = field(default_factory=lambda: {
        "nonfinite_skipped": 0, "nonfinite_in_a_row": 0})
    """saved in checkpoints, so the guard's count survives a resume"""

    @classmethod
    def adamw(cls, model: torch.nn.Module, optim: OptimConfig, *, steps: int) -> Optimization:
        """AdamW over `model`'s trainable parameters, with warm-up and decay counted in optimizer
        steps (`epochs * updates_per_epoch` per training step, `steps` training steps)."""
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)
        per_step = optim.epochs * optim.updates_per_epoch
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(
            lr_factor, warmup=optim.warmup_steps * per_step, total=steps * per_step,
            schedule=optim.schedule))
        return cls(params, optimizer, scheduler, optim.max_grad_norm)

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return self.scheduler.get_last_lr()[0]

    def step(self, finite: bool) -> float:
        """Clip and step with the gradients the backward passes left (already summed over
        ranks), then clear them; the gradient norm before clipping (NaN when not finite).

        `finite` is false when some rank's loss was NaN/inf; such a step, or one whose gradient
        norm is not finite, is skipped and counted: the bad gradients never reach the weights.
        Raises TrainingError at MAX_NONFINITE_IN_A_ROW skipped steps in a row.
        """
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm))
        if finite and math.isfinite(grad_norm):
            self.optimizer.step()
            self.scheduler.step()
            self.counters["nonfinite_in_a_row"] = 0
        else:
            self.counters["nonfinite_skipped"] += 1
            self.counters["nonfinite_in_a_row"] += 1
            if self.counters["nonfinite_in_a_row"] >= MAX_NONFINITE_IN_A_ROW:
                raise TrainingError(
                    f"{MAX_NONFINITE_IN_A_ROW} optimizer steps in a row had a NaN/inf loss or "
                    "gradient; try a lower optim.lr, a smaller optim.max_grad_norm, or "
                    "dtype: float32")
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm if math.isfinite(grad_norm) else math.nan
