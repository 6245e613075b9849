"""HAPO: a length reward relative to the shortest correct answer seen for the same problem before.

State (plain JSON, saved with checkpoints): {"history": {problem_id: shortest correct length}}.
It is updated by `update_hapo` after each step's batch has been scored, so a completion is
always compared with *earlier* steps, never with its own group or batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rewardkit.errors import UserError
from rewardkit.registry import REWARDS
from rewardkit.rewards._common import verdicts
from rewardkit.rewards.base import RewardContext, stateful
from rewardkit.types import Group

MODES = ("cosine", "linear")


def update_hapo(
    state: Mapping[str, Any],
    batch: Sequence[Group],
    *,
    step: int,
    mode: str = "cosine",
    floor: float = -0.7,
    tolerance: float = 0.1,
) -> dict:
    """h_q ← min(h_q, shortest correct length of q in this batch); problems without a correct
    answer keep their history. Lengths are stored as at least 1 token (h is a divisor)."""
    history = dict(state.get("history", {}))
    for group in batch:
        correct = verdicts(group, "hapo")
        good = [c.num_tokens for c, ok in zip(group.completions, correct) if ok]
        if good:
            key = str(group.problem.id)  # JSON object keys are strings
            best = max(1, min(good))
            history[key] = min(history.get(key, best), best)
    return {"history": history}


def _cosine(n: int, h: int, ok: bool, floor: float) -> float:
    r = math.cos(math.pi / 2 * n / h) if n < 2 * h else -1.0
    return max(floor, r) if ok else min(0.0, r)


def _linear(n: int, h: int, ok: bool, floor: float, tolerance: float) -> float:
    slack = (1 + tolerance) * h  # lengths in [h, slack) are neither rewarded nor punished
    if ok:
        if n < h:
            return 1.0 - n / h
        if n < slack:
            return 0.0
        return max(floor, -(n - slack) / h)
    return 0.0 if n < slack else max(-1.0, -(n - slack) / h)


@REWARDS.register("hapo")
@stateful(update_hapo)
def hapo(
    group: Group,
    *,
    mode: str = "cosine",
    floor: float = -0.7,
    tolerance: float = 0.1,
    ctx: RewardContext | None = None,
) -> list[float]:
    """HAPO history-aware length reward (the shaping term; the paper adds it with weight 1.0).

    h = shortest correct length of this problem (by `problem.id`) in earlier steps, from
    `ctx.state["history"]`. No history yet: 0.

    cosine (default): r = cos(π/2 · L/h) if L < 2h, else −1 (1 at L = 0, 0 at L = h, −1 at 2h);
    then max(floor, r) if correct and min(0, r) if wrong: a short wrong answer is never
    rewarded, and a long correct one never punished below `floor`.

    linear, with slack s = (1 + tolerance)·h:
    correct: 1 − L/h if L < h; 0 if h ≤ L < s; max(floor, −(L − s)/h) beyond.
    wrong: 0 if L < s; max(−1, −(L − s)/h) beyond.

    Verdict None: NaN. Paper: floor −0.7, tolerance 0.1, weight 1.0, 32768-token budget,
    DeepSeek-R1-Distill-1.5B with TRL GRPO. "HAPO: Training Language Models to Reason Concisely
    via History-Aware Policy Optimization", https://arxiv.org/abs/2505.11225

    >>> from rewardkit.testing import make_group
    >>> from rewardkit.rewards.base import RewardContext
    >>> ctx = RewardContext(state={"history": {"p0": 100}})
    >>> g = make_group(lengths=[0, 100, 150, 250, 50], correct=[True, True, True, True, False],
    ...                max_new_tokens=1000)
    >>> [round(x, 4) for x in hapo(g, ctx=ctx)]  # cos(0), cos(pi/2), cos(3pi/4), -1, cos(pi/4)
    [1.0, 0.0, -0.7, -0.7, 0.0]
    """
    if mode not in MODES:
        raise UserError(f"reward 'hapo': mode must be one of {', '.join(MODES)}, got {mode!r}")
    correct = verdicts(group, "hapo")
    history = ctx.state.get("history", {}) if ctx is not None else {}
    h = history.get(str(group.problem.id))
    out = []
    for c, ok in zip(group.completions, correct):
        if ok is None:
            out.append(math.nan)
        elif h is None:
            out.append(0.0)
        elif mode == "cosine":
            out.append(_cosine(c.num_tokens, h, ok, floor))
        else:
            out.append(_linear(c.num_tokens, h, ok, floor, tolerance))
    return out
