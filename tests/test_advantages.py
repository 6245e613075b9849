"""Advantage estimators: loop references, invariances, hand-computed cases, NaN handling."""

from __future__ import annotations

import math
import statistics
import subprocess
import sys

import numpy as np
import pytest

from rewardkit.advantages import compute_advantages, hyperparameters
from rewardkit.errors import UserError
from rewardkit.registry import ADVANTAGES

NAMES = ["grpo", "dr_grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline", "canon"]
L_MAX = 64


def call(name: str, rewards, lengths=None, max_new_tokens=L_MAX, **params) -> np.ndarray:
    return ADVANTAGES.get(name)(
        np.asarray(rewards, dtype=float),
        lengths=None if lengths is None else np.asarray(lengths, dtype=float),
        max_new_tokens=max_new_tokens,
        **params,
    )


# ---------------------------------------------------------------------------------------------
# plain-Python loop references, written for clarity (lists, `statistics`, no numpy)


def scored(row):
    return [r for r in row if not math.isnan(r)]


def grpo_ref(rows, eps=1e-6):
    out = []
    for row in rows:
        xs = scored(row)
        if len(xs) < 2:
            out.append([0.0] * len(row))
            continue
        m, s = statistics.mean(xs), statistics.stdev(xs)  # stdev: Bessel's n − 1
        out.append([0.0 if math.isnan(r) else (r - m) / (s + eps) for r in row])
    return out


def dr_grpo_ref(rows):
    out = []
    for row in rows:
        xs = scored(row)
        m = statistics.mean(xs) if len(xs) >= 2 else None
        out.append([0.0 if m is None or math.isnan(r) else r - m for r in row])
    return out


def rloo_ref(rows):
    out = []
    for row in rows:
        new = []
        for i, r in enumerate(row):
            others = [x for j, x in enumerate(row) if j != i and not math.isnan(x)]
            if math.isnan(r) or not others:
                new.append(0.0)
            else:
                new.append(r - sum(others) / len(others))  # leave-one-out baseline
        out.append(new)
    return out


def whiten_ref(values, weights, valid):
    """verl's masked whitening written token by token: each sequence repeated L_i times."""
    tokens = []
    for vrow, wrow, okrow in zip(values, weights, valid):
        for v, w, ok in zip(vrow, wrow, okrow):
            if ok:
                tokens += [v] * int(w)
    mean = sum(tokens) / len(tokens)
    var = sum((t - mean) ** 2 for t in tokens) / (len(tokens) - 1)
    std = math.sqrt(var + 1e-8)
    return [
        [(v - mean) / std if ok else 0.0 for v, ok in zip(vrow, okrow)]
        for vrow, okrow in zip(values, valid)
    ]


def reinforce_pp_ref(rows, lengths):
    valid = [[not math.isnan(r) for r in row] for row in rows]
    return whiten_ref(rows, lengths, valid)


def reinforce_pp_baseline_ref(rows, lengths):
    # a completion counts only when its group has another scored one (a baseline)
    valid = [[not math.isnan(r) and len(scored(row)) >= 2 for r in row] for row in rows]
    return whiten_ref(dr_grpo_ref(rows), lengths, valid)


def canon_ref(rows, lengths, l_max, mix=1.0, alpha=1.0, beta=0.0):
    out = []
    for row, lens in zip(rows, lengths):
        items = [(lens[i], i) for i, r in enumerate(row) if not math.isnan(r)]
        new = [0.0] * len(row)
        if len(items) >= 2:
            items.sort(key=lambda t: t[0])  # Python's sort is stable: ties keep their order
            mid = len(items) // 2
            short = [i for _, i in items[:mid]]
            long_ = [i for _, i in items[mid:]]
            m_s = sum(row[i] for i in short) / len(short)
            m_l = sum(row[i] for i in long_) / len(long_)
            for i in long_:
                r = row[i]
                new[i] = (mix * (alpha * r - m_s + beta) + (1 - mix) * (r - m_l)) / l_max
            for i in short:
                r = row[i]
                new[i] = (mix * (r - alpha * m_l - beta) + (1 - mix) * (r - m_s)) / l_max
        out.append(new)
    return out


def random_batch(seed: int, p: int = 6, g: int = 5):
    """Rewards with ~20% NaN (one group fully NaN, one with a single score) and integer lengths."""
    rng = np.random.default_rng(seed)
    r = rng.normal(size=(p, g)).round(3)
    r[rng.random((p, g)) < 0.2] = np.nan
    r[0, :] = np.nan  # a fully unscored group
    r[1, 1:] = np.nan  # a group with one score
    lengths = rng.integers(1, 40, size=(p, g)).astype(float)
    lengths[2, :2] = 7.0  # a tie in length, for CANON's stable split
    return r, lengths


@pytest.mark.parametrize("seed", range(5))
def test_matches_loop_reference(seed):
    r, n = random_batch(seed)
    rows, lens = r.tolist(), n.tolist()
    cases = {
        "grpo": grpo_ref(rows),
        "dr_grpo": dr_grpo_ref(rows),
        "rloo": rloo_ref(rows),
        "reinforce_pp": reinforce_pp_ref(rows, lens),
        "reinforce_pp_baseline": reinforce_pp_baseline_ref(rows, lens),
        "canon": canon_ref(rows, lens, L_MAX),
    }
    for name, expected in cases.items():
        np.testing.assert_allclose(call(name, r, n), expected, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("mix", "alpha", "beta"), [(0.0, 1.0, 0.0), (0.3, 1.5, 0.1)])
def test_canon_matches_reference_with_params(seed, mix, alpha, beta):
    r, n = random_batch(seed)
    got = call("canon", r, n, mix=mix, alpha=alpha, beta=beta)
    expected = canon_ref(r.tolist(), n.tolist(), L_MAX, mix=mix, alpha=alpha, beta=beta)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_reinforce_pp_without_lengths_weighs_each_completion_once():
    r, _ = random_batch(0)
    ones = np.ones_like(r).tolist()
    got = call("reinforce_pp", r)
    np.testing.assert_allclose(got, reinforce_pp_ref(r.tolist(), ones), atol=1e-12)
    got = call("reinforce_pp_baseline", r)
    np.testing.assert_allclose(got, reinforce_pp_baseline_ref(r.tolist(), ones), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# invariances


@pytest.mark.parametrize("name", NAMES)  # canon: holds for its default alpha = 1 only
def test_constant_shift_changes_nothing(name):
    r, n = random_batch(1)
    np.testing.assert_allclose(call(name, r + 3.0, n), call(name, r, n), atol=1e-9)


def test_canon_shift_is_not_removed_when_alpha_is_not_one():
    # Long: α·r − m_S; shifting every r by c adds (α − 1)·c = 0.5 · 3 = 1.5 before / L_max.
    r, n = random_batch(1)
    diff = call("canon", r + 3.0, n, alpha=1.5) - call("canon", r, n, alpha=1.5)
    assert np.abs(diff).max() > 1.0 / L_MAX


# Equal rewards give no signal for every group-relative estimator. Not for reinforce_pp (no group
# baseline: raw rewards whitened over the batch), and not for reinforce_pp_baseline with unequal
# lengths (verl's whitening re-centres on the token-weighted mean); see the tests below.
@pytest.mark.parametrize("name", ["grpo", "dr_grpo", "rloo", "reinforce_pp_baseline", "canon"])
def test_equal_rewards_give_zero(name):
    r = np.array([[0.7] * 4, [1.0, 0.0, 1.0, 0.0], [2.0] * 4])
    n = np.array([[5, 9, 2, 30], [4, 4, 4, 4], [3, 8, 1, 6]])
    lengths = None if name == "reinforce_pp_baseline" else n
    adv = call(name, r, lengths)
    assert np.all(adv[[0, 2]] == 0.0)
    assert np.abs(adv[1]).min() > 0  # the mixed group still gets a signal


def test_reinforce_pp_gives_equal_groups_a_signal():
    # rewards [[1, 1], [0, 0]], weights 1: mean 0.5, var = 4·0.25/3 = 1/3, std = 0.57735
    # A = ±0.5 / 0.57735 = ±0.866 although each group is constant.
    adv = call("reinforce_pp", [[1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(adv, [[0.8660254, 0.8660254], [-0.8660254, -0.8660254]], rtol=1e-6)


def test_reinforce_pp_baseline_recentres_with_token_weights():
    # group 0: rewards [1, 0] → centred [0.5, −0.5], lengths [1, 3]
    # group 1: rewards [1, 1] → centred [0, 0],     lengths [2, 2]
    # tokens: 0.5 ×1, −0.5 ×3, 0 ×4 → W = 8, mean = (0.5 − 1.5)/8 = −0.125
    # Σw(a−m)² = 1·0.625² + 3·0.375² + 4·0.125² = 0.390625 + 0.421875 + 0.0625 = 0.875
    # var = 0.875 / 7 = 0.125, std = 0.353553
    # A = [0.625, −0.375, 0.125, 0.125] / 0.353553 = [1.767767, −1.06066, 0.353553, 0.353553]
    adv = call("reinforce_pp_baseline", [[1.0, 0.0], [1.0, 1.0]], [[1, 3], [2, 2]])
    np.testing.assert_allclose(adv, [[1.767767, -1.06066], [0.353553, 0.353553]], rtol=1e-5)


def test_canon_mix_half_is_dr_grpo_over_l_max():
    # With equal halves, ½(r − m_L) + ½(r − m_S) = r − mean: CANON's README remark.
    rng = np.random.default_rng(3)
    r, n = rng.random((4, 6)), rng.permutation(np.arange(24.0)).reshape(4, 6)
    np.testing.assert_allclose(call("canon", r, n, mix=0.5), call("dr_grpo", r) / L_MAX)


# ---------------------------------------------------------------------------------------------
# hand-computed small cases


def test_grpo_by_hand():
    # [1, 0, 0, 0]: mean 0.25; Σ(r−m)² = 0.5625 + 3·0.0625 = 0.75; Bessel std = sqrt(0.75/3) = 0.5
    # A = [0.75, −0.25, −0.25, −0.25] / (0.5 + 1e-6) ≈ [1.5, −0.5, −0.5, −0.5]
    adv = call("grpo", [[1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(adv, [[1.5, -0.5, -0.5, -0.5]], rtol=1e-5)
    # eps matters when std is tiny: [1, 0] with eps = 1: std = sqrt(0.5/1) = 0.7071
    # A = ±0.5 / 1.7071 = ±0.29289
    adv = call("grpo", [[1.0, 0.0]], eps=1.0)
    np.testing.assert_allclose(adv, [[0.2928932, -0.2928932]], rtol=1e-6)


def test_rloo_by_hand():
    # [3, 1, 2]: baselines (1+2)/2 = 1.5, (3+2)/2 = 2.5, (3+1)/2 = 2 → [1.5, −1.5, 0]
    np.testing.assert_allclose(call("rloo", [[3.0, 1.0, 2.0]]), [[1.5, -1.5, 0.0]])


def test_canon_by_hand_odd_group():
    # rewards [1, 0, 1, 0, 1], lengths [50, 10, 40, 20, 30], L_max 10
    # sorted by length: idx 1 (10), 3 (20), 4 (30), 2 (40), 0 (50); n//2 = 2
    # Short = {1, 3}: rewards 0, 0 → m_S = 0; Long = {4, 2, 0}: rewards 1, 1, 1 → m_L = 1
    # mix 1: Long r − m_S = 1 → 0.1; Short r − m_L = −1 → −0.1
    adv = call("canon", [[1.0, 0.0, 1.0, 0.0, 1.0]], [[50, 10, 40, 20, 30]], max_new_tokens=10)
    np.testing.assert_allclose(adv, [[0.1, -0.1, 0.1, -0.1, 0.1]])
    # β = 0.5 shifts Long up and Short down by β·mix/L_max = 0.05; here Long 0.15, Short −0.15
    adv = call("canon", [[1.0, 0.0, 1.0, 0.0, 1.0]], [[50, 10, 40, 20, 30]], 10, beta=0.5)
    np.testing.assert_allclose(adv, [[0.15, -0.15, 0.15, -0.15, 0.15]])


def test_canon_per_group_budget():
    # Two copies of [1, 0] (lengths [1, 2]) with budgets 10 and 100: Short r − m_L = 1 − 0 = 1,
    # Long r − m_S = 0 − 1 = −1 → [0.1, −0.1] and [0.01, −0.01].
    adv = call("canon", [[1.0, 0.0]] * 2, [[1, 2]] * 2, max_new_tokens=np.array([10, 100]))
    np.testing.assert_allclose(adv, [[0.1, -0.1], [0.01, -0.01]])


# ---------------------------------------------------------------------------------------------
# NaN handling and edge cases


@pytest.mark.parametrize("name", NAMES)
def test_nan_rewards_get_zero_and_do_not_move_the_others(name):
    r = np.array([[1.0, 0.0, 1.0, 0.5], [0.2, 0.9, 0.4, 0.3]])
    n = np.array([[3, 8, 5, 6], [4, 2, 9, 7]], dtype=float)
    with_nan = r.copy()
    with_nan[0, 3] = np.nan
    adv = call(name, with_nan, n)
    assert adv[0, 3] == 0.0 and np.isfinite(adv).all()
    # The NaN completion's length is not looked at (not a whitening weight, not in CANON's split).
    n_other = n.copy()
    n_other[0, 3] = 1000.0
    np.testing.assert_array_equal(call(name, with_nan, n_other), adv)
    if not name.startswith("reinforce_pp"):  # group-local: as if it had not been sampled at all
        short = call(name, np.array([r[0, :3]]), np.array([n[0, :3]]))
        np.testing.assert_allclose(adv[0, :3], short[0], rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_all_nan_and_single_score_groups_give_zero(name):
    r = np.array([[np.nan, np.nan, np.nan], [np.nan, 1.0, np.nan]])
    adv = call(name, r, [[1, 2, 3], [4, 5, 6]])
    assert np.all(adv == 0.0)


# B11: a lone completion (the only scored one of its group) next to a scored group.
# r = [[1, nan], [0, 1]], lengths [[5, 5], [1, 9]], budget 10 per group.
LONE_R = [[1.0, math.nan], [0.0, 1.0]]
LONE_N = [[5, 5], [1, 9]]
LONE_EXPECTED = {
    # group 2 alone: mean 0.5, Bessel std sqrt(0.5) -> +-0.5 / 0.707107
    "grpo": [[0.0, 0.0], [-0.707106, 0.707106]],
    "dr_grpo": [[0.0, 0.0], [-0.5, 0.5]],  # r - 0.5
    "rloo": [[0.0, 0.0], [-1.0, 1.0]],  # r - the other one
    # centred [-0.5, 0.5] with weights [1, 9]: W = 10, mean = (-0.5 + 4.5) / 10 = 0.4,
    # var = (1 * 0.81 + 9 * 0.01) / 9 = 0.1 -> (-0.9, 0.1) / sqrt(0.1) = -2.846050, 0.316228;
    # the lone completion is not a whitening sample (it was, as a = 0, before the fix: -0.833)
    "reinforce_pp_baseline": [[0.0, 0.0], [-2.846050, 0.316228]],
    # short = the length-1 reply (r 0), long = the length-9 reply (r 1): (0 - 1) / 10, (1 - 0) / 10
    "canon": [[0.0, 0.0], [-0.1, 0.1]],
    # no group baseline, the batch is its population: rewards [1, 0, 1], weights [5, 1, 9]:
    # W = 15, mean = 14/15, var = (5/225 + 196/225 + 9/225) / 14 = 1/15, std = 0.258199
    # -> lone (1/15)/std = 0.258199; (-14/15)/std = -3.614784; (1/15)/std = 0.258199
    "reinforce_pp": [[0.258199, 0.0], [-3.614784, 0.258199]],
}


@pytest.mark.parametrize("name", NAMES)
def test_lone_completion_next_to_other_groups(name):
    adv = compute_advantages(name, np.array(LONE_R), lengths=np.array(LONE_N, dtype=float),
                             max_new_tokens=np.array([10, 10]))
    np.testing.assert_allclose(adv, LONE_EXPECTED[name], atol=2e-6)


@pytest.mark.parametrize("name", NAMES)
def test_inputs_are_not_mutated(name):
    r, n = random_batch(4)
    r0, n0 = r.copy(), n.copy()
    call(name, r, n)
    np.testing.assert_array_equal(r, r0)
    np.testing.assert_array_equal(n, n0)


def test_canon_needs_lengths_and_budget():
    with pytest.raises(UserError, match="lengths and max_new_tokens"):
        call("canon", [[1.0, 0.0]], None)
    with pytest.raises(UserError, match="metric"):
        call("canon", [[1.0, 0.0]], [[1, 2]], metric="entropy")


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\(P, G\)"):
        call("grpo", [1.0, 0.0])
    with pytest.raises(ValueError, match="lengths shape"):
        call("reinforce_pp", [[1.0, 0.0]], [[1, 2, 3]])


# ---------------------------------------------------------------------------------------------
# compute_advantages and the registry contract


def test_compute_advantages_checks_params():
    r = np.array([[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(
        compute_advantages("grpo", r, params={"eps": 0.5}), call("grpo", r, eps=0.5)
    )
    with pytest.raises(UserError, match="'epsilon'.*accepted: eps"):
        compute_advantages("grpo", r, params={"epsilon": 1e-4})
    with pytest.raises(UserError, match=r"'mu'.*accepted: metric, mix, alpha, beta"):
        compute_advantages("canon", r, lengths=[[1, 2, 3]], max_new_tokens=8, params={"mu": 1})
    with pytest.raises(UserError, match=r"'eps'.*accepted: \(none\)"):
        compute_advantages("rloo", r, params={"eps": 1.0})
    with pytest.raises(UserError, match="unknown advantage estimator 'grpoo'"):
        compute_advantages("grpoo", r)


@pytest.mark.parametrize("name", NAMES)
def test_registered_and_uniform(name):
    import inspect

    fn = ADVANTAGES.get(name)
    params = inspect.signature(fn).parameters
    assert {"lengths", "max_new_tokens"} <= set(params)
    assert all(p.kind is not p.VAR_KEYWORD for p in params.values())
    assert all(params[h].kind is inspect.Parameter.KEYWORD_ONLY for h in hyperparameters(fn))
    assert "https://arxiv.org/abs/" in (fn.__doc__ or "")


def test_advantages_module_does_not_import_torch():
    code = "import sys, rewardkit.advantages; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
