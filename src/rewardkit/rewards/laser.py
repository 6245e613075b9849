"""LASER step rewards: a bonus for correct answers within a target length, and its adaptive kin.

`laser` uses one fixed target. `laser_d` keeps a target per difficulty bucket and re-estimates
it from recent rollouts; `laser_de` also rewards long, well-formed wrong answers that are not loops
(exploration on hard prompts). All return the shaping term (α or 0); add `accuracy` (and
`format`) next to them. The paper's base score is +1 correct, −0.5 wrong with a box and think
tags, −1 otherwise; recipes approximate it with `accuracy` and `format` weights.

State of `laser_d` / `laser_de` (plain JSON, saved with checkpoints):

    {"targets": {"high": 3072, ...},          # absent until the first estimate
     "buffer": {"high": [812, 4096, ...], ...},  # lengths seen since the last estimate
     "group_size": 8, "budget": 16384}

"Learn to Reason Efficiently with Adaptive Length-based Reward Shaping",
https://arxiv.org/abs/2505.15612 (code: https://github.com/hkust-nlp/Laser).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rewardkit.registry import REWARDS
from rewardkit.rewards._common import (
    extracted_answers,
    judged_accuracy,
    require_positive,
    verdicts,
)
from rewardkit.rewards.base import RewardContext, stateful
from rewardkit.rewards.repetition import completion_tokens, repeated_ngram_fraction
from rewardkit.types import Group

BUCKETS = ("high", "medium", "low")  # by group accuracy: easy, medium, hard prompts


def difficulty_bucket(accuracy: float) -> str:
    """LASER-D's buckets: accuracy ≥ 2/3 "high" (easy), ≥ 1/3 "medium", else "low" (hard).

    >>> [difficulty_bucket(a) for a in (1.0, 2 / 3, 0.5, 1 / 3, 0.25)]
    ['high', 'high', 'medium', 'medium', 'low']
    """
    return "high" if accuracy >= 2 / 3 else "medium" if accuracy >= 1 / 3 else "low"


def expected_correct(bucket: str, group_size: int) -> int:
    """n_b: how many correct answers a group of the bucket has at least (LASER's `lower_n`).

    >>> [expected_correct(b, 8) for b in BUCKETS]
    [5, 2, 1]
    """
    if bucket == "high":
        return max(1, int(group_size * 2 / 3))
    if bucket == "medium":
        return max(1, int(group_size / 3))
    return 1


def choose_target(
    lengths: Sequence[int], n_expected: int, *, grid_start: int, grid_step: int, budget: int
) -> int:
    """Smallest grid length ℓ ∈ {grid_start, grid_start + grid_step, …} ≤ budget with
    ⌊coverage(ℓ) · n_expected⌋ ≥ 1, where coverage(ℓ) is the share of `lengths` ≤ ℓ; `budget`
    if no grid length qualifies (or there are no lengths).

    >>> # 10 lengths, n = 5: need coverage >= 1/5, i.e. 2 lengths <= l
    >>> choose_target([50, 150, 250] + [900] * 7, 5, grid_start=100, grid_step=100, budget=1000)
    200
    """
    total = len(lengths)
    ell = grid_start
    while total and ell <= budget:
        covered = sum(1 for n in lengths if n <= ell)
        if covered * n_expected >= total:  # floor(covered / total * n) >= 1, in integers
            return ell
        ell += grid_step
    return budget


def _group_bucket(group: Group, reward: str) -> str | None:
    acc = judged_accuracy(verdicts(group, reward))
    return None if math.isnan(acc) else difficulty_bucket(acc)


def _update_targets(
    state: Mapping[str, Any],
    batch: Sequence[Group],
    *,
    step: int,
    update_every: int,
    grid_start: int,
    grid_step: int,
    reward: str,
) -> dict:
    """Append this step's lengths to the buffer; every `update_every` steps, re-estimate."""
    require_positive(reward, update_every=update_every, grid_start=grid_start, grid_step=grid_step)
    buffer = {b: list(state.get("buffer", {}).get(b, [])) for b in BUCKETS}
    group_size = int(state.get("group_size", 0))
    budget = int(state.get("budget", 0))
    for group in batch:
        bucket = _group_bucket(group, reward)
        if bucket is None:  # nothing judged: no difficulty to learn from
            continue
        buffer[bucket].extend(group.lengths)
        group_size = max(group_size, len(group))
        budget = max(budget, group.max_new_tokens)
    targets = dict(state.get("targets", {}))
    # `step` counts the steps completed before this one (0-based), so this re-estimates after
    # every `update_every`-th step: after steps 0..19 for update_every = 20.
    if (step + 1) % update_every == 0 and budget > 0:
        for b in BUCKETS:
            # A bucket with no rollouts gets the budget (no length pressure), as in LASER's code,
            # where its coverage is 0 at every grid length.
            targets[b] = choose_target(
                buffer[b],
                expected_correct(b, group_size),
                grid_start=grid_start,
                grid_step=grid_step,
                budget=budget,
            )
        buffer = {b: [] for b in BUCKETS}
    new = {"buffer": buffer, "group_size": group_size, "budget": budget}
    if targets:
        new["targets"] = targets
    return new


def _targets_for(group: Group, ctx: RewardContext | None, grid_start: int, reward: str):
    """(bucket target, verdicts), or (None, verdicts) when nothing in the group was judged."""
    correct = verdicts(group, reward)
    bucket = _group_bucket(group, reward)
    if bucket is None:
        return None, correct
    targets = ctx.state.get("targets", {}) if ctx is not None else {}
    return int(targets.get(bucket, grid_start)), correct


@REWARDS.register("laser")
def laser(
    group: Group, *, target_length: int, alpha: float = 0.5, ctx: RewardContext | None = None
) -> list[float]:
    """LASER step reward: α if correct and L ≤ target_length, else 0. Verdict None: NaN.

    Paper: α = 0.5 (`length_reward_scalar`), L_T ∈ {2048, 4096, 8192} with a 16384-token budget.
    "Learn to Reason Efficiently with Adaptive Length-based Reward Shaping",
    https://arxiv.org/abs/2505.15612

    >>> from rewardkit.testing import make_group
    >>> laser(make_group(lengths=[50, 60, 61, 10], correct=[True, True, True, False]),
    ...       target_length=60)
    [0.5, 0.5, 0.0, 0.0]
    """
    correct = verdicts(group, "laser")
    return [
        math.nan if ok is None else alpha if ok and c.num_tokens <= target_length else 0.0
        for c, ok in zip(group.completions, correct)
    ]


def _update_for(reward: str) -> Callable[..., dict]:
    """The state update of `reward` (laser_d or laser_de): `_update_targets` with the reward's
    grid parameters; its shaping parameters (alpha, ngram, max_repeat) do not affect targets."""

    def update(
        state: Mapping[str, Any],
        batch: Sequence[Group],
        *,
        step: int,
        update_every: int = 20,
        grid_start: int = 2048,
        grid_step: int = 1024,
        **_shaping: Any,
    ) -> dict:
        return _update_targets(
            state,
            batch,
            step=step,
            update_every=update_every,
            grid_start=grid_start,
            grid_step=grid_step,
            reward=reward,
        )

    update.__name__ = update.__qualname__ = f"update_{reward}"
    return update


update_laser_d = _update_for("laser_d")
update_laser_de = _update_for("laser_de")


@REWARDS.register("laser_d")
@stateful(update_laser_d)
def laser_d(
    group: Group,
    *,
    alpha: float = 0.5,
    update_every: int = 20,
    grid_start: int = 2048,
    grid_step: int = 1024,
    ctx: RewardContext | None = None,
) -> list[float]:
    """LASER-D: the LASER step reward with a target length per difficulty bucket, re-estimated.

    The group's bucket comes from its own accuracy over judged answers: ≥ 2/3 "high" (easy),
    ≥ 1/3 "medium", else "low". Reward: α if correct and L ≤ T_bucket, else 0; verdict None: NaN
    (all NaN if nothing in the group was judged).

    Targets (state, updated after each step by `update_laser_d`): every completion length of
    each judged group is buffered under its group's bucket; after every `update_every` steps,
    T_b = the smallest ℓ in {grid_start, grid_start + grid_step, …} ≤ max_new_tokens with
    ⌊coverage_b(ℓ) · n_b⌋ ≥ 1, where coverage_b(ℓ) is the share of the bucket's buffered
    lengths ≤ ℓ and n_b = ⌊2G/3⌋, ⌊G/3⌋, 1 for high, medium, low ("at least one expected correct
    answer within ℓ"); max_new_tokens if none qualifies. Then the buffer is emptied, so it holds
    at most `update_every` steps of rollouts. A bucket with no rollouts in the window gets
    max_new_tokens, i.e. no length pressure: LASER's code (`_choose_target_length`) sees coverage
    0 at every grid length and falls back to the longest response of the batch; we fall back to
    the budget. Before the first estimate every bucket uses `grid_start` (the code uses its fixed
    `target_length` until the monitor has run). `ctx.step` is 0-based (steps completed before
    this one, `rewards/base.py`), so the first re-estimate follows the `update_every`-th step in
    training and in `rewardkit score` alike.

    Readings: the paper estimates targets on a 500-prompt monitor set every 20 steps
    (`monitor_freq`); we use the training rollouts of the last `update_every` steps instead (no
    extra generation), and coverage counts all rollouts as the code's `coverage_*` metric does.
    Paper defaults: α = 0.5, grid from 2048 (4096 in the L4096 script) in steps of 1024 to 16384,
    G = 8. "Learn to Reason Efficiently with Adaptive Length-based Reward Shaping",
    https://arxiv.org/abs/2505.15612

    >>> from rewardkit.testing import make_group
    >>> from rewardkit.rewards.base import RewardContext
    >>> ctx = RewardContext(state={"targets": {"high": 30, "medium": 60, "low": 90}})
    >>> easy = make_group(lengths=[20, 40, 25], correct=[True, True, True])  # high: T = 30
    >>> laser_d(easy, grid_start=10, grid_step=10, ctx=ctx)
    [0.5, 0.0, 0.5]
    """
    require_positive(
        "laser_d", update_every=update_every, grid_start=grid_start, grid_step=grid_step
    )
    target, correct = _targets_for(group, ctx, grid_start, "laser_d")
    if target is None:
        return [math.nan] * len(group)
    return [
        math.nan if ok is None else alpha if ok and c.num_tokens <= target else 0.0
        for c, ok in zip(group.completions, correct)
    ]


@REWARDS.register("laser_de")
@stateful(update_laser_de)
def laser_de(
    group: Group,
    *,
    alpha: float = 0.5,
    update_every: int = 20,
    grid_start: int = 2048,
    grid_step: int = 1024,
    ngram: int = 4,
    max_repeat: float = 0.5,
    ctx: RewardContext | None = None,
) -> list[float]:
    """LASER-DE: LASER-D plus an exploration bonus for long, well-formed wrong answers.

    Targets and buckets as in `laser_d`. Correct and L ≤ T: α. Wrong, well-formed, L > T and
    not repetitive: α (the model is rewarded for exploring longer on prompts it cannot solve
    yet). Otherwise 0; verdict None: NaN.

    Well-formed follows LASER's released code, not the paper: `compute_length_reward_larse_de`
    pays the bonus only in its `score == -0.5` branch, i.e. to wrong answers that have a \\boxed
    answer (and the "**Final Answer**" marker); a reply without one scores −1 and gets nothing.
    PAPERS.md 3A.2 omitted this condition. We read well-formed as: not cut off at the budget
    (finish_reason "stop") and the task's extractor found an answer (`group.answers`, filled by
    `Task.verify`). We do not look for the "**Final Answer**" marker, which is specific to
    DeepSeek-R1-Distill's replies; a truncated reply never gets the bonus, even when a \\boxed
    appears in its unfinished reasoning.

    Repetitive (our reading): more than `max_repeat` of the completion's `ngram`-grams are repeats
    (1 − distinct/total > max_repeat, over token ids, else words; see `repetition`). The code uses
    a more sensitive backward scan (`detect_token_ngram_repetition_optimized_reversed`: n = 2–4 by
    length, 2–3 close repeats flag a loop); we use the same measure as the `repetition` reward so
    a user can inspect it, with n = 4 as the code's default.

    "Learn to Reason Efficiently with Adaptive Length-based Reward Shaping",
    https://arxiv.org/abs/2505.15612

    >>> from rewardkit.testing import make_group
    >>> from rewardkit.rewards.base import RewardContext
    >>> ctx = RewardContext(state={"targets": {"low": 3}})
    >>> texts = ["\\\\boxed{1}", "a b c d e \\\\boxed{1}", "a a a a a \\\\boxed{1}", "a b c d e f",
    ...          "a b c d e \\\\boxed{42}"]
    >>> hard = make_group(texts=texts, correct=[False, False, False, False, True])  # low: T = 3
    >>> # short; explores; loops (bigram repeats 3/5 > 0.5); no answer; correct but over T
    >>> laser_de(hard, grid_start=2, grid_step=1, ngram=2, ctx=ctx)
    [0.0, 0.5, 0.0, 0.0, 0.0]
    """
    require_positive(
        "laser_de",
        update_every=update_every,
        grid_start=grid_start,
        grid_step=grid_step,
        ngram=ngram,
    )
    target, correct = _targets_for(group, ctx, grid_start, "laser_de")
    if target is None:
        return [math.nan] * len(group)
    answers = extracted_answers(group, "laser_de")
    out = []
    for c, ok, answer in zip(group.completions, correct, answers):
        if ok is None:
            out.append(math.nan)
        elif ok:
            out.append(alpha if c.num_tokens <= target else 0.0)
        elif c.num_tokens > target and not c.truncated and answer is not None:  # well-formed
            looping = repeated_ngram_fraction(completion_tokens(c), ngram) > max_repeat
            out.append(0.0 if looping else alpha)
        else:
            out.append(0.0)
    return out
