"""Budget- and target-based length rewards: each completion is judged against a token budget.

The budget is the sampling budget `max_new_tokens` (`dapo_overlong`, `truncation`,
`cosine_length`), a per-problem target in `meta.target_tokens` (`l1_exact`, `l1_max`), or a
schedule over training steps (`budget_curriculum`). No group statistics, no memory.

`dapo_overlong` and `truncation` do not read the verdict and are never NaN; the others need it
and give NaN where the verifier could not judge (`cosine_length` only off its overlong branch).
"""

from __future__ import annotations

import math

from rewardkit.errors import UserError
from rewardkit.registry import REWARDS
from rewardkit.rewards._common import require_positive, verdicts
from rewardkit.rewards.base import RewardContext, primary
from rewardkit.types import Group


@REWARDS.register("dapo_overlong")
def dapo_overlong(
    group: Group, *, buffer: int, penalty: float = 1.0, ctx: RewardContext | None = None
) -> list[float]:
    """DAPO soft overlong punishment (Eq. 13): a shaping term added to the task reward.

    With B = max_new_tokens: 0 while L ≤ B − buffer, then (B − buffer − L)/buffer · penalty,
    falling linearly to −penalty at L = B; clamped at −penalty beyond B (the paper's third case).
    Never NaN: it does not need the verdict.

    Paper: max length 20480 = 16384 + a 4096-token buffer, penalty factor 1.0. "DAPO: An
    Open-Source LLM Reinforcement Learning System at Scale", https://arxiv.org/abs/2503.14476
    (verl `reward_manager/dapo.py`).

    >>> from rewardkit.testing import make_group
    >>> dapo_overlong(make_group(lengths=[50, 80, 90, 100], correct=[True] * 4), buffer=20)
    [0.0, 0.0, -0.5, -1.0]
    """
    require_positive("dapo_overlong", buffer=buffer)
    start = group.max_new_tokens - buffer  # where the penalty begins
    return [
        max(-penalty, min(0.0, (start - c.num_tokens) / buffer * penalty))
        for c in group.completions
    ]


@REWARDS.register("truncation")
def truncation(
    group: Group, *, penalty: float = 1.0, ctx: RewardContext | None = None
) -> list[float]:
    """−penalty for a completion cut off at the budget (finish_reason "length"), else 0.

    DLER and ThinkPrune use the sampling budget itself as the length penalty: a truncated reply
    has no final answer and scores 0. This term makes that explicit (and also hits a truncated
    reply whose partial answer happened to verify). Never NaN: truncation is known without a
    verdict. DLER: 4000-token budget, no DAPO overlong buffer.

    "DLER: Doing Length pEnalty Right - Incentivizing More Intelligence per Token via
    Reinforcement Learning", https://arxiv.org/abs/2510.15110

    >>> from rewardkit.testing import make_group
    >>> truncation(make_group(lengths=[50, 100], correct=[True, None], max_new_tokens=100))
    [0.0, -1.0]
    """
    return [-float(penalty) if c.truncated else 0.0 for c in group.completions]


@REWARDS.register("cosine_length")
@primary
def cosine_length(
    group: Group,
    *,
    correct_at_zero: float = 2.0,
    correct_at_max: float = 1.0,
    wrong_at_zero: float = -10.0,
    wrong_at_max: float = 0.0,
    overlong: float = -10.0,
    ctx: RewardContext | None = None,
) -> list[float]:
    """Cosine length-scaled reward of "Demystifying Long CoT" (a full reward: replaces accuracy).

    x = min(L/max_new_tokens, 1); r = b + ½(a − b)(1 + cos(πx)), where (a, b) is
    (correct_at_zero, correct_at_max) if correct, (wrong_at_zero, wrong_at_max) if wrong: a is
    the value at L = 0, b at the budget. Correct answers earn more when short (2 → 1); wrong ones
    are punished less when long (−10 → 0), so the model keeps thinking when it is unsure.
    A truncated completion (finish_reason "length") gets `overlong` whatever its verdict (the code
    tests L + 16 ≥ L_max; we use the sampler's own flag); otherwise verdict None gives NaN.
    Defaults are the paper's scripts (the code defaults are ±1 and 0).

    "Demystifying Long Chain-of-Thought Reasoning in LLMs", https://arxiv.org/abs/2502.03373

    >>> from rewardkit.testing import make_group
    >>> g = make_group(lengths=[0, 50, 50, 100], correct=[True, True, False, False])
    >>> cosine_length(g)  # the last one hit the budget (finish_reason "length"): overlong
    [2.0, 1.5, -5.0, -10.0]
    """
    correct = verdicts(group, "cosine_length")
    out = []
    for c, ok in zip(group.completions, correct):
        if c.truncated:
            out.append(float(overlong))
            continue
        if ok is None:
            out.append(math.nan)
            continue
        a, b = (correct_at_zero, correct_at_max) if ok else (wrong_at_zero, wrong_at_max)
        x = min(c.num_tokens / group.max_new_tokens, 1.0)
        out.append(b + 0.5 * (a - b) * (1.0 + math.cos(math.pi * x)))
    return out


def _target_tokens(group: Group, reward: str) -> float:
    target = group.problem.meta.get("target_tokens")
    if isinstance(target, bool) or not isinstance(target, (int, float)):
        raise UserError(
            f"reward {reward!r}: problem {group.problem.id!r} needs a numeric "
            f"meta['target_tokens'] (the length asked for in the prompt), got {target!r}"
        )
    return float(target)


@REWARDS.register("l1_exact")
@primary
def l1_exact(
    group: Group, *, alpha: float = 1 / 3000, ctx: RewardContext | None = None
) -> list[float]:
    """L1 / LCPO-Exact (a full reward): r = 1[correct] − α·|n_target − L|.

    n_target is the length the prompt asked for ("Think for N tokens"), read from
    `problem.meta["target_tokens"]`; a problem without it is an error. The paper writes α = 0.0003;
    the released code divides by 3000, our default. Verdict None: NaN.

    "L1: Controlling How Long A Reasoning Model Thinks With Reinforcement Learning",
    https://arxiv.org/abs/2503.04697

    >>> from rewardkit.testing import make_group
    >>> g = make_group(lengths=[100, 400], correct=[True, False], meta={"target_tokens": 100})
    >>> l1_exact(g, alpha=0.001)  # 1 - 0;  0 - 0.001 * 300
    [1.0, -0.3]
    """
    correct = verdicts(group, "l1_exact")
    target = _target_tokens(group, "l1_exact")
    return [
        math.nan if ok is None else float(ok) - alpha * abs(target - c.num_tokens)
        for c, ok in zip(group.completions, correct)
    ]


@REWARDS.register("l1_max")
@primary
def l1_max(
    group: Group, *, alpha: float = 0.001, delta: float = 0.5, ctx: RewardContext | None = None
) -> list[float]:
    """L1 / LCPO-Max (a full reward): r = 1[correct] · clip(α·(n_target − L) + δ, 0, 1).

    A budget, not a target: correct answers well under n_target get 1, then the reward falls
    linearly to 0 at n_target + δ/α; wrong answers get 0. With the defaults this is the released
    code's (clip((n_target − L)/500, −1, 1) + 1)/2. n_target comes from
    `problem.meta["target_tokens"]` (required). Verdict None: NaN.

    "L1: Controlling How Long A Reasoning Model Thinks With Reinforcement Learning",
    https://arxiv.org/abs/2503.04697

    >>> from rewardkit.testing import make_group
    >>> g = make_group(lengths=[100, 1000, 2000, 10], correct=[True, True, True, False],
    ...                meta={"target_tokens": 1000})
    >>> l1_max(g)  # clip(0.9 + 0.5), clip(0 + 0.5), clip(-1 + 0.5), wrong
    [1.0, 0.5, 0.0, 0.0]
    """
    correct = verdicts(group, "l1_max")
    target = _target_tokens(group, "l1_max")
    out = []
    for c, ok in zip(group.completions, correct):
        if ok is None:
            out.append(math.nan)
        else:
            out.append(float(ok) * min(1.0, max(0.0, alpha * (target - c.num_tokens) + delta)))
    return out


def curriculum_budget(
    step: int, *, start: int, end: int, decay: float, every: int, schedule: str = "exponential"
) -> float:
    """Train Long, Think Short budget B(t): from `start`, shrinking every `every` steps, >= `end`.

    exponential: max(end, start · decay^⌊t/every⌋); linear: max(end, start − decay · ⌊t/every⌋).

    >>> [curriculum_budget(t, start=256, end=64, decay=0.5, every=10) for t in (0, 9, 10, 25, 99)]
    [256.0, 256.0, 128.0, 64.0, 64.0]
    >>> curriculum_budget(25, start=256, end=64, decay=50, every=10, schedule="linear")
    156.0
    """
    k = step // every
    if schedule == "exponential":
        return float(max(end, start * decay**k))
    if schedule == "linear":
        return float(max(end, start - decay * k))
    raise UserError(
        f"reward 'budget_curriculum': schedule must be exponential or linear, got {schedule!r}"
    )


@REWARDS.register("budget_curriculum")
def budget_curriculum(
    group: Group,
    *,
    start: int,
    end: int,
    decay: float,
    every: int,
    schedule: str = "exponential",
    ctx: RewardContext | None = None,
) -> list[float]:
    """Length term against a token budget B(t) that tightens over training (*unverified* shape).

    B(t) from `curriculum_budget` with t = `ctx.step` (0-based: steps completed before this
    one, so the first shrink comes after `every` steps in training and `score`; 0 without ctx).
    A correct completion gets 1 if L ≤ B(t), then linearly less, reaching 0 at L = 2·B(t):
    r = clip(2 − L/B(t), 0, 1).
    Wrong: 0. Verdict None: NaN. Add it to `accuracy` (and `format`) with the paper's weights.

    Readings (PAPERS.md 3A.10: only the schedule is known, from a secondary summary): the length
    term's shape and weights are not public, so we chose a term that is flat inside the budget
    (no pressure below it, unlike a plain penalty) and gated on correctness, so that a short
    wrong answer earns nothing (the known failure of ungated length terms). The paper applies
    the budget to the thinking trace; we count the whole completion. The paper starts at
    B0 = 256 tokens; `decay` and `every` have no verified defaults, so all four are required.

    "Train Long, Think Short: Curriculum Learning for Efficient Reasoning",
    https://arxiv.org/abs/2508.08940

    >>> from rewardkit.testing import make_group
    >>> from rewardkit.rewards.base import RewardContext
    >>> g = make_group(lengths=[100, 192, 300], correct=[True, True, True], max_new_tokens=512)
    >>> budget_curriculum(g, start=256, end=64, decay=0.5, every=10, ctx=RewardContext(step=10))
    [1.0, 0.5, 0.0]
    """
    require_positive("budget_curriculum", start=start, end=end, every=every)
    if end > start:
        raise UserError(f"reward 'budget_curriculum': end ({end}) must be <= start ({start})")
    if schedule == "exponential" and not 0 < decay <= 1:
        raise UserError(
            f"reward 'budget_curriculum': exponential decay must be in (0, 1], got {decay}"
        )
    if schedule == "linear" and decay < 0:
        raise UserError(f"reward 'budget_curriculum': linear decay must be >= 0, got {decay}")
    correct = verdicts(group, "budget_curriculum")
    step = ctx.step if ctx is not None else 0
    budget = curriculum_budget(
        step, start=start, end=end, decay=decay, every=every, schedule=schedule
    )
    out = []
    for c, ok in zip(group.completions, correct):
        if ok is None:
            out.append(math.nan)
        else:
            out.append(float(ok) * min(1.0, max(0.0, 2.0 - c.num_tokens / budget)))
    return out
