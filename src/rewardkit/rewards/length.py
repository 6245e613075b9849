"""Group-relative length rewards: the shaping term depends on the other completions of the group.

`kimi_length` (Kimi k1.5), `grpo_lambda` (Kimi shaping only on the batch's best-solved groups),
`observe_bonus` (Observe-R1) and `efficiency` (Arora & Zanette). All lengths are policy tokens
(`Completion.num_tokens`). A completion whose verdict is None gets NaN: these terms need it.

Budget- and target-based rewards (DAPO, cosine, L1, truncation, curricula) are in `budget.py`;
rewards with memory (LASER-D, HAPO) in `laser.py` and `hapo.py`.
"""

from __future__ import annotations

import math

import numpy as np

from rewardkit.errors import UserError
from rewardkit.registry import REWARDS
from rewardkit.rewards._common import judged_accuracy, verdicts
from rewardkit.rewards.base import RewardContext, batch_level, primary
from rewardkit.types import Group


@REWARDS.register("kimi_length")
def kimi_length(group: Group, *, ctx: RewardContext | None = None) -> list[float]:
    """Kimi k1.5 group-relative length reward (the shaping term; recipes weight it 0.4).

    lam_i = 0.5 - (L_i - L_min) / (L_max - L_min), min and max over the whole group (every
    completion's length counts, judged or not). Correct: lam_i. Wrong: min(0, lam_i), so a short
    wrong answer is never rewarded. Verdict None: NaN. All lengths equal: 0.

    "Kimi k1.5: Scaling Reinforcement Learning with LLMs", https://arxiv.org/abs/2501.12599
    (length penalty, section 2.3.3). LASER's code uses the same term with weight 0.4
    (`compute_kimi_penalty`, https://github.com/hkust-nlp/Laser) with one difference: it adds
    the term only to replies whose base score is 1 (correct) or −0.5 (wrong with a \\boxed
    answer), so a reply without an answer (score −1, e.g. one cut off at the budget) gets no
    length term there; here, as in the Kimi paper, every wrong reply gets min(0, lam_i).

    >>> from rewardkit.testing import make_group
    >>> kimi_length(make_group(lengths=[10, 20, 30, 20], correct=[True, True, False, None]))
    [0.5, 0.0, -0.5, nan]
    """
    correct = verdicts(group, "kimi_length")
    lengths = group.lengths
    lo, hi = min(lengths, default=0), max(lengths, default=0)
    out = []
    for n, ok in zip(lengths, correct):
        lam = 0.0 if hi == lo else 0.5 - (n - lo) / (hi - lo)
        out.append(math.nan if ok is None else lam if ok else min(0.0, lam))
    return out


@REWARDS.register("grpo_lambda")
@batch_level
def grpo_lambda(
    group: Group, *, top_fraction: float, coef: float = 0.4, ctx: RewardContext | None = None
) -> list[float]:
    """GRPO-λ: Kimi length shaping only for the batch's best-solved groups (*unverified* details).

    Every group of the batch (`ctx.batch`) is ranked by its correctness ratio (share of correct
    answers among the judged ones). Let k = ceil(top_fraction · P) for P groups and t the ratio of
    the k-th best group. A group with ratio ≥ t (and ratio > 0) gets `coef · kimi_length`; every
    other group gets 0, i.e. plain 0/1 rewards once `accuracy` is added.

    Readings (the paper's exact rule and λ are not verified, PAPERS.md 3A.8):
    - ties at the cut-off are all selected, so the result does not depend on batch order;
    - a group with no correct answer is never selected (a length penalty there only teaches the
      model to give up sooner, the collapse the paper is about);
    - `top_fraction` (the paper's λ) has no verified default, so it is required.
    Without `ctx` (or an empty batch) the group is ranked against itself, hence selected if it has
    a correct answer. Verdict None: NaN.

    "Stable Reinforcement Learning for Efficient Reasoning" (Dai et al.),
    https://arxiv.org/abs/2505.18086

    >>> from rewardkit.testing import make_group
    >>> from rewardkit.rewards.base import RewardContext
    >>> easy = make_group(lengths=[10, 30], correct=[True, True], problem_id="easy")
    >>> hard = make_group(lengths=[10, 30], correct=[True, False], problem_id="hard")
    >>> ctx = RewardContext(batch=(easy, hard))
    >>> grpo_lambda(easy, top_fraction=0.5, ctx=ctx), grpo_lambda(hard, top_fraction=0.5, ctx=ctx)
    ([0.2, -0.2], [0.0, 0.0])
    """
    if not 0.0 <= top_fraction <= 1.0:
        raise UserError(
            f"reward 'grpo_lambda': top_fraction must be in [0, 1], got {top_fraction}"
        )
    correct = verdicts(group, "grpo_lambda")
    batch = ctx.batch if ctx is not None and ctx.batch else (group,)
    ratios = sorted(
        (r for r in (judged_accuracy(verdicts(g, "grpo_lambda")) for g in batch) if r == r),
        reverse=True,
    )  # NaN ratios (nothing judged) never rank
    # 1e-9: top_fraction * P is often a hair above an integer (0.2 * 10 = 2.0000000000000004)
    k = math.ceil(top_fraction * len(batch) - 1e-9)
    own = judged_accuracy(correct)
    selected = k > 0 and bool(ratios) and own > 0 and own >= ratios[min(k, len(ratios)) - 1]
    if not selected:
        return [math.nan if ok is None else 0.0 for ok in correct]
    return [coef * r if r == r else r for r in kimi_length(group)]


@REWARDS.register("observe_bonus")
def observe_bonus(
    group: Group, *, bonus: float = 0.2, min_length: int = 100, ctx: RewardContext | None = None
) -> list[float]:
    """Observe-R1 bonus: +bonus for the group's shortest correct completion.

    Among the correct completions, the shortest (the first one on ties) gets `bonus` if its
    length is > `min_length` tokens (a floor that keeps the bonus from rewarding skipped
    reasoning); every other completion gets 0. No correct completion: all 0. Verdict None: NaN.

    Paper settings (code: `bonus_reward_coef` = 0.2, `bonus_constraint` = 100): "Observe-R1:
    Unlocking Reasoning Abilities of MLLMs with Dynamic Progressive Reinforcement Learning",
    https://arxiv.org/abs/2505.12432

    >>> from rewardkit.testing import make_group
    >>> observe_bonus(make_group(lengths=[300, 150, 150, 90], correct=[True, True, True, False]))
    [0.0, 0.2, 0.0, 0.0]
    >>> observe_bonus(make_group(lengths=[300, 80], correct=[True, True]))  # shortest is <= 100
    [0.0, 0.0]
    """
    correct = verdicts(group, "observe_bonus")
    out = [math.nan if ok is None else 0.0 for ok in correct]
    winners = [i for i, ok in enumerate(correct) if ok]
    if winners:
        best = min(winners, key=lambda i: group.completions[i].num_tokens)  # first on ties
        if group.completions[best].num_tokens > min_length:
            out[best] = float(bonus)
    return out


@REWARDS.register("efficiency")
@primary
def efficiency(
    group: Group, *, alpha: float = 0.1, ctx: RewardContext | None = None
) -> list[float]:
    """Arora & Zanette length-normalised correctness (a full reward: replaces `accuracy`).

    r_i = 1[c_i] · (1 − α · sigmoid((L_i − mean) / std)), mean and std of the lengths of the
    group's correct completions. Correct answers score in (1 − α, 1], shorter ones higher; wrong
    answers 0; verdict None: NaN. std is the population std (ddof=0); when it is 0 (one correct
    answer, or all of equal length) the z-score is 0, so each correct answer gets 1 − α/2.
    The paper sweeps α ∈ {0.05, 0.1, 0.2, 0.4}; α < 1 keeps every correct answer above every
    wrong one.

    "Training Language Models to Reason Efficiently", https://arxiv.org/abs/2502.04463

    >>> from rewardkit.testing import make_group
    >>> r = efficiency(make_group(lengths=[10, 30, 50], correct=[True, True, False]), alpha=0.2)
    >>> [round(x, 4) for x in r]  # z = -1, +1: 1 - 0.2 * sigmoid(z)
    [0.9462, 0.8538, 0.0]
    """
    correct = verdicts(group, "efficiency")
    good = np.array([c.num_tokens for c, ok in zip(group.completions, correct) if ok], dtype=float)
    mean = float(good.mean()) if good.size else 0.0
    std = float(good.std()) if good.size else 0.0
    out = []
    for c, ok in zip(group.completions, correct):
        if ok is None:
            out.append(math.nan)
        elif not ok:
            out.append(0.0)
        else:
            z = (c.num_tokens - mean) / std if std > 0 else 0.0
            out.append(1.0 - alpha / (1.0 + math.exp(-z)))
    return out
