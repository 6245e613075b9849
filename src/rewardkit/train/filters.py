"""Batch filters between scoring and the update: pure functions on reward arrays, tested alone.

- `informative_groups`: dynamic sampling. A group whose total rewards are all equal has zero
  advantage under every group baseline, so it adds no gradient, only noise in the loss
  normalisation. DAPO ("DAPO: An Open-Source LLM Reinforcement Learning System at Scale",
  https://arxiv.org/abs/2503.14476, Eq. 11 constraint 0 < |{correct}| < G) and DLER
  (https://arxiv.org/abs/2510.15110) drop such groups and refill the batch with new prompts;
  the loop does the refilling (up to `filters.max_refill_rounds` rounds).
- `overlong_weights`: overlong filtering (DAPO section 3.3): truncated completions get zero weight
  in the loss, so a reply cut off by the budget is not punished for the cut itself.
- `prompts_to_sample`: over-sampling. Each round samples `oversample` times the missing groups,
  so the kept groups can outnumber the batch (DAPO's recipe generates 1536 prompts for 512).
- `Recompose` / `keep_first`: the hook that chooses which of the kept groups form the batch
  when over-sampling kept more than needed (batch recomposition, e.g. RoRecomp, plugs in here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np


def informative_groups(totals: Sequence[np.ndarray], *, atol: float = 0.0) -> np.ndarray:
    """One bool per group: True when the group's total rewards are not all equal.

    NaN rewards (unscorable completions) are left out; a group with fewer than two scored
    completions carries no comparison and is dropped too. `atol` treats rewards within it as equal.

    >>> informative_groups([np.array([1.0, 0.0]), np.array([1.0, 1.0]), np.array([0.5, np.nan]),
    ...                     np.array([0.0, np.nan, 1.0])])
    array([ True, False, False,  True])
    """
    keep = np.zeros(len(totals), dtype=bool)
    for i, total in enumerate(totals):
        scored = np.asarray(total, dtype=np.float64)
        scored = scored[~np.isnan(scored)]
        keep[i] = scored.size >= 2 and bool(scored.max() - scored.min() > atol)
    return keep


def overlong_weights(truncated: np.ndarray) -> np.ndarray:
    """Loss weight per completion: 0 where truncated (finish_reason "length"), else 1. Same shape.

    >>> overlong_weights(np.array([[True, False], [False, False]]))
    array([[0., 1.],
           [1., 1.]])
    """
    return np.where(np.asarray(truncated, dtype=bool), 0.0, 1.0)


def prompts_to_sample(missing: int, oversample: float) -> int:
    """Prompts to sample when `missing` groups are still needed: ceil(oversample * missing).

    >>> prompts_to_sample(4, 1.0), prompts_to_sample(4, 3.0), prompts_to_sample(3, 1.5)  # 4.5 up
    (4, 12, 5)
    """
    return math.ceil(oversample * missing - 1e-9)  # 1e-9: 0.1 * 30 is 3.0000000000000004


def zero_variance_fraction(totals: Sequence[np.ndarray]) -> float:
    """Share of groups with no reward spread (the quantity dynamic sampling removes).

    >>> zero_variance_fraction([np.array([1.0, 1.0]), np.array([0.0, 1.0])])
    0.5
    """
    if not totals:
        return 0.0
    return float(1.0 - informative_groups(totals).mean())


class Recompose(Protocol):
    def __call__(self, totals: Sequence[np.ndarray], *, target: int) -> list[int]:
        """Indices of the groups that form the batch (at most `target`), in batch order."""
        ...


def resolve_recompose(name: str) -> Recompose:
    """`keep_first`, or a dotted path to a user function with the `Recompose` signature.

    >>> resolve_recompose("keep_first") is keep_first
    True
    """
    if name == "keep_first":
        return keep_first
    module, dot, attr = name.rpartition(".")
    if not dot:
        raise ValueError(f"unknown recomposition {name!r}; known: keep_first, or a dotted path")
    import importlib

    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot import recomposition {name!r}: {e}") from None


def keep_first(totals: Sequence[np.ndarray], *, target: int) -> list[int]:
    """DAPO's rule: the first `target` kept groups, in the order they were sampled.

    >>> keep_first([np.zeros(2)] * 5, target=3)
    [0, 1, 2]
    """
    return list(range(min(target, len(totals))))
