"""Advantage estimators: rewards of P groups of G completions, (P, G) -> advantages (P, G).

Pure numpy (float64), so `rewardkit score --advantage NAME` runs without torch; the trainer turns
the result into a tensor and broadcasts it to tokens. Every estimator has the same call form

    fn(rewards (P, G), *, lengths=None (P, G), max_new_tokens=None, <hyperparameters>) -> (P, G)

so the caller never branches on the name: estimators that do not use `lengths` or `max_new_tokens`
accept and ignore them. Conventions shared by all of them:

- A NaN reward (unscorable completion, or padding of a short group) is left out of every statistic
  and gets advantage 0.
- One rule for lone completions: a completion whose baseline population holds no other scored
  completion gets advantage 0 and is left out of every batch statistic. The baseline population
  is the group for every group-relative estimator (`grpo`, `dr_grpo`, `rloo`,
  `reinforce_pp_baseline`, `canon`): a group with fewer than two scored completions gets 0
  everywhere, even when other groups of the batch are scored. `reinforce_pp` has no group
  baseline, only the batch mean, so for it a completion is lone only when it is the single
  scored completion of the whole batch. verl's `reinforce_plus_plus_baseline` instead keeps a
  lone completion's raw reward (group mean 0 for a group of one) and whitens it with the centred
  values of the other groups, so a lone 0/1 reward lands far outside their range; a lone
  completion usually means the rest of its group could not be judged, and we do not let it
  dominate the step.
- `lengths` are completion lengths in tokens; they weight the batch whitening of the REINFORCE++
  estimators (each token carries its sequence's value, as in verl) and split CANON's groups.

`compute_advantages(name, rewards, ...)` is the checked entry point for configs and the CLI: it
rejects unknown hyperparameters with a `UserError` that lists the accepted ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from rewardkit.errors import UserError
from rewardkit.registry import ADVANTAGES, UnknownName

# Keywords every estimator accepts that are data, not hyperparameters.
DATA_KEYWORDS = ("lengths", "max_new_tokens")
WHITEN_EPS = 1e-8  # verl's masked_whiten: (x - mean) * rsqrt(var + 1e-8)


# ---------------------------------------------------------------------------------------------
# helpers


def _as_rewards(rewards: np.ndarray) -> np.ndarray:
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"rewards must be a (P, G) array, got shape {r.shape}")
    return r


def _as_lengths(lengths: np.ndarray | None, shape: tuple[int, ...], name: str) -> np.ndarray | None:
    if lengths is None:
        return None
    n = np.asarray(lengths, dtype=np.float64)
    if n.shape != shape:
        raise ValueError(f"{name}: lengths shape {n.shape} != rewards shape {shape}")
    return n


def _group_mean(r: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the scored entries of each group, and their count; both (P, 1)."""
    n = valid.sum(axis=1, keepdims=True)  # (P, 1)
    total = np.where(valid, r, 0.0).sum(axis=1, keepdims=True)
    return total / np.maximum(n, 1), n


def _whiten(values: np.ndarray, weights: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """verl's masked whitening over the whole batch, each sequence counted `weights` times.

    W = Σ w_i, mean = Σ w_i a_i / W, var = Σ w_i (a_i − mean)² / (W − 1) (unbiased in tokens),
    result (a_i − mean) / sqrt(var + 1e-8). With W ≤ 1 there is no spread to measure: zeros.
    """
    w = np.where(valid, weights, 0.0)  # (P, G)
    if (w < 0).any():
        raise ValueError("lengths must be non-negative")
    total = w.sum()
    if total <= 1.0:
        return np.zeros_like(values)
    a = np.where(valid, values, 0.0)
    mean = (w * a).sum() / total
    var = (w * (a - mean) ** 2).sum() / (total - 1.0)  # = Σw(a−m)²/W · W/(W−1)
    return np.where(valid, (a - mean) / np.sqrt(var + WHITEN_EPS), 0.0)


# ---------------------------------------------------------------------------------------------
# estimators


@ADVANTAGES.register("grpo")
def grpo(
    rewards: np.ndarray,
    *,
    lengths: np.ndarray | None = None,
    max_new_tokens: int | None = None,
    eps: float = 1e-6,
) -> np.ndarray:
    """GRPO: A_i = (r_i − mean_g) / (std_g + eps), std with Bessel's correction (as TRL and verl).

    "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models"
    (https://arxiv.org/abs/2402.03300). eps is 1e-6 in verl and 1e-4 in TRL. `lengths` and
    `max_new_tokens` are ignored. A group with equal rewards gives 0; a group with fewer than two
    scored completions gives 0; NaN rewards give 0 and are left out of mean and std.

    >>> import numpy as np
    >>> grpo(np.array([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, np.nan, 1.0]])).round(4)
    array([[ 0.866, -0.866, -0.866,  0.866],
           [ 0.   ,  0.   ,  0.   ,  0.   ]])
    """
    r = _as_rewards(rewards)
    valid = ~np.isnan(r)
    mean, n = _group_mean(r, valid)
    sq = np.where(valid, (r - mean) ** 2, 0.0).sum(axis=1, keepdims=True)
    std = np.sqrt(sq / np.maximum(n - 1, 1))  # Bessel: divide by n − 1
    adv = (r - mean) / (std + eps)
    return np.where(valid & (n >= 2), adv, 0.0)


@ADVANTAGES.register("dr_grpo")
def dr_grpo(
    rewards: np.ndarray,
    *,
    lengths: np.ndarray | None = None,
    max_new_tokens: int | None = None,
) -> np.ndarray:
    """Dr. GRPO: A_i = r_i − mean_g, no division by the group std.

    "Understanding R1-Zero-Like Training: A Critical Perspective" (https://arxiv.org/abs/2503.20783):
    the std division up-weights easy and hard questions; pair with the `constant` aggregation.
    `lengths` and `max_new_tokens` are ignored. NaN rewards give 0; groups of one give 0.

    >>> import numpy as np
    >>> dr_grpo(np.array([[1.0, 0.0, 0.0, 0.0]]))
    array([[ 0.75, -0.25, -0.25, -0.25]])
    """
    r = _as_rewards(rewards)
    valid = ~np.isnan(r)
    mean, n = _group_mean(r, valid)
    return np.where(valid & (n >= 2), r - mean, 0.0)


@ADVANTAGES.register("rloo")
def rloo(
    rewards: np.ndarray,
    *,
    lengths: np.ndarray | None = None,
    max_new_tokens: int | None = None,
) -> np.ndarray:
    """RLOO: A_i = r_i − mean of the other n − 1 scored rewards = n/(n − 1) · (r_i − mean_g).

    "Back to Basics: Revisiting REINFORCE Style Optimization for Learning from Human Feedback in
    LLMs" (https://arxiv.org/abs/2402.14740). n counts the scored (non-NaN) completions of the
    group. `lengths` and `max_new_tokens` are ignored. NaN rewards give 0; groups of one give 0.

    >>> import numpy as np
    >>> rloo(np.array([[1.0, 0.0, 0.0, 0.0]])).round(4)
    array([[ 1.    , -0.3333, -0.3333, -0.3333]])
    """
    r = _as_rewards(rewards)
    valid = ~np.isnan(r)
    mean, n = _group_mean(r, valid)
    scale = n / np.maximum(n - 1, 1)  # (P, 1)
    return np.where(valid & (n >= 2), scale * (r - mean), 0.0)


@ADVANTAGES.register("reinforce_pp")
def reinforce_pp(
    rewards: np.ndarray,
    *,
    lengths: np.ndarray | None = None,
    max_new_tokens: int | None = None,
) -> np.ndarray:
    """REINFORCE++: raw rewards whitened over the whole batch (no group baseline).

    "REINFORCE++: A Simple and Efficient Approach for Aligning Large Language Models"
    (https://arxiv.org/abs/2501.03262). With an outcome reward and γ = 1 every token's return is the
    sequence reward, so verl's token-level masked whitening is a whitening of r weighted by length:
    w_i = L_i, W = Σ w_i, mean = Σ w_i r_i / W, var = Σ w_i (r_i − mean)² / W · W/(W − 1),
    A_i = (r_i − mean) / sqrt(var + 1e-8). With `lengths=None` every completion weighs 1.
    A KL penalty folded into token rewards (verl's variant) is not modelled here.

    Not group-relative: a group whose rewards are all equal still gets a nonzero advantage when the
    batch mean differs, and a completion alone in its group is whitened like any other (its
    baseline is the batch). NaN rewards are left out and get 0. `max_new_tokens` is ignored.

    >>> import numpy as np
    >>> reinforce_pp(np.array([[1.0, 0.0]]), lengths=np.array([[1, 3]])).round(4)
    array([[ 1.5, -0.5]])
    """
    r = _as_rewards(rewards)
    n = _as_lengths(lengths, r.shape, "reinforce_pp")
    valid = ~np.isnan(r)
    return _whiten(r, np.ones_like(r) if n is None else n, valid)


@ADVANTAGES.register("reinforce_pp_baseline")
def reinforce_pp_baseline(
    rewards: np.ndarray,
    *,
    lengths: np.ndarray | None = None,
    max_new_tokens: int | None = None,
) -> np.ndarray:
    """REINFORCE++-baseline: a_i = r_i − mean_g, then whitened over the batch (length-weighted).

    "REINFORCE++" (https://arxiv.org/abs/2501.03262); the advantage of DLER, "DLER: Doing Length
    pEnalty Right" (https://arxiv.org/abs/2510.15110), which calls it batch-wise normalisation.
    Whitening is verl's, as in `reinforce_pp`, with w_i = L_i (1 when `lengths=None`).

    As in verl, the whitening re-centres: with unequal lengths the token-weighted mean of the
    group-centred values is not 0, so a group of equal rewards gets −mean/std, not 0 (with
    `lengths=None` the mean is exactly 0 and such a group gets 0). A group with fewer than two
    scored completions gets 0 and is left out of the whitening (verl keeps its raw reward; see
    the module docstring). NaN rewards are left out and get 0. `max_new_tokens` is ignored.

    >>> import numpy as np
    >>> reinforce_pp_baseline(np.array([[1.0, 0.0], [0.0, 1.0]])).round(4)
    array([[ 0.866, -0.866],
           [-0.866,  0.866]])
    """
    r = _as_rewards(rewards)
    n = _as_lengths(lengths, r.shape, "reinforce_pp_baseline")
    valid = ~np.isnan(r)
    mean, count = _group_mean(r, valid)
    has_baseline = valid & (count >= 2)  # (P, G): lone completions leave the statistics
    return _whiten(r - mean, np.ones_like(r) if n is None else n, has_baseline)


@ADVANTAGES.register("canon")
def canon(
    rewards: np.ndarray,
    *,
    lengths: np.ndarray | None = None,
    max_new_tokens: int | np.ndarray | None = None,
    metric: str = "length",
    mix: float = 1.0,
    alpha: float = 1.0,
    beta: float = 0.0,
) -> np.ndarray:
    """CANON with the length metric: compare each half of a group with the other half.

    "Conditional Advantage Estimation for Reinforcement Learning in Large Reasoning Models"
    (https://arxiv.org/abs/2509.23962; code biuboomc/CANON,
    `compute_dr_length_on_mean_group_outcome_advantage`). Sort the scored completions of a group
    by length (stable: ties keep their order); the first n//2 are Short and the rest Long (Long
    gets the extra one when n is odd); m_S, m_L are their mean rewards.
    With μ = `mix` (the released `_lambda`), α = `alpha`, β = `beta`, L_max = `max_new_tokens`:

        Long:  A_i = [μ(α·r_i − m_S + β) + (1 − μ)(r_i − m_L)] / L_max
        Short: A_i = [μ(r_i − α·m_L − β) + (1 − μ)(r_i − m_S)] / L_max

    μ = 1 (default) is the inter-group comparison; μ = 0 the intra-group one; with equal halves
    μ = 0.5 is Dr. GRPO divided by L_max. Paper defaults μ = 1, α = 1, β = 0. A constant shift of
    all rewards cancels only when α = 1, and a group of equal rewards gets 0 only when α = 1 and
    β = 0. Needs `lengths` and `max_new_tokens` (an int, or one per group, shape (P,)). NaN
    rewards are left out of the split and get 0; groups with fewer than two scored completions
    get 0.
    Only metric="length" is implemented (the entropy split needs per-token entropies).

    >>> import numpy as np
    >>> canon(np.array([[1.0, 1.0, 0.0, 0.0]]), lengths=np.array([[10, 20, 30, 40]]),
    ...       max_new_tokens=100)
    array([[ 0.01,  0.01, -0.01, -0.01]])
    """
    if metric != "length":
        raise UserError(f"canon: metric {metric!r} is not implemented; use metric='length'")
    r = _as_rewards(rewards)
    n = _as_lengths(lengths, r.shape, "canon")
    if n is None or max_new_tokens is None:
        raise UserError("canon needs completion lengths and max_new_tokens")
    l_max = np.broadcast_to(np.asarray(max_new_tokens, dtype=np.float64).reshape(-1), (r.shape[0],))
    out = np.zeros_like(r)
    for p in range(r.shape[0]):  # groups are small; a loop keeps the split readable
        idx = np.flatnonzero(~np.isnan(r[p]))  # scored completions of this group
        if idx.size < 2:
            continue
        order = idx[np.argsort(n[p, idx], kind="stable")]  # by length, ties in original order
        mid = order.size // 2
        short, long_ = order[:mid], order[mid:]
        m_s, m_l = r[p, short].mean(), r[p, long_].mean()
        rs, rl = r[p, short], r[p, long_]
        out[p, long_] = mix * (alpha * rl - m_s + beta) + (1 - mix) * (rl - m_l)
        out[p, short] = mix * (rs - alpha * m_l - beta) + (1 - mix) * (rs - m_s)
        out[p] /= l_max[p]
    return out


# ---------------------------------------------------------------------------------------------
# checked entry point


def hyperparameters(fn: Any) -> list[str]:
    """The keyword-only hyperparameters of an estimator (its data keywords excluded)."""
    params = inspect.signature(fn).parameters.values()
    return [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in DATA_KEYWORDS]


def compute_advantages(
    name: str,
    rewards: np.ndarray,
    *,
    lengths: np.ndarray | None = None,
    max_new_tokens: int | np.ndarray | None = None,
    params: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Look up estimator `name` (registered or a dotted path), check `params`, and run it.

    An unknown name or an unknown hyperparameter is a `UserError` listing what is accepted.

    >>> import numpy as np
    >>> compute_advantages("rloo", np.array([[1.0, 0.0]]), params={})
    array([[ 1., -1.]])
    >>> compute_advantages("grpo", np.array([[1.0, 0.0]]), params={"epsilon": 1e-4})
    Traceback (most recent call last):
    ...
    rewardkit.errors.UserError: advantage estimator 'grpo' has no parameter 'epsilon'; accepted: eps
    """
    try:
        fn = ADVANTAGES.get(name)
    except UnknownName as e:
        raise UserError(str(e)) from None
    params = dict(params or {})
    accepted = hyperparameters(fn)
    for key in params:
        if key not in accepted:
            raise UserError(
                f"advantage estimator {name!r} has no parameter {key!r}; "
                f"accepted: {', '.join(accepted) or '(none)'}"
            )
    return fn(rewards, lengths=lengths, max_new_tokens=max_new_tokens, **params)
