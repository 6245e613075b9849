"""Hand-computed cases for the group-relative length rewards (rewards/length.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rewardkit.errors import UserError
from rewardkit.registry import REWARDS
from rewardkit.rewards.base import RewardContext
from rewardkit.testing import make_group

T, F, N = True, False, None
nan = math.nan


def score(name, group, **params):
    return REWARDS.get(name)(group, **params)


# (name, lengths, verdicts, params, expected)
CASES = [
    # kimi_length: min 10, max 30, span 20 -> lam = 0.5 - (L - 10)/20
    # L=10 lam=0.5 correct -> 0.5; L=15 lam=0.25 wrong -> min(0, .25) = 0
    # L=25 lam=-0.25 wrong -> -0.25; L=30 lam=-0.5 correct -> -0.5; None -> NaN
    ("kimi_length", [10, 15, 25, 30, 20], [T, F, F, T, N], {}, [0.5, 0.0, -0.25, -0.5, nan]),
    # all lengths equal: no signal, 0 (NaN stays NaN)
    ("kimi_length", [7, 7, 7], [T, F, N], {}, [0.0, 0.0, nan]),
    # the None completion's length still sets the max: min 10, max 50 (the None one)
    # L=30: lam = 0.5 - 20/40 = 0.0
    ("kimi_length", [10, 30, 50], [T, T, N], {}, [0.5, 0.0, nan]),
    # observe_bonus: correct lengths 300, 150, 150 -> the first 150 (index 1) wins, 150 > 100
    ("observe_bonus", [300, 150, 150, 90], [T, T, T, F], {}, [0.0, 0.2, 0.0, 0.0]),
    # shortest correct is 80 <= min_length 100: no bonus at all
    ("observe_bonus", [300, 80, 50], [T, T, F], {}, [0.0, 0.0, 0.0]),
    # exactly at the floor (100 is not > 100): no bonus
    ("observe_bonus", [100, 200], [T, T], {}, [0.0, 0.0]),
    # no correct completion: zeros, None -> NaN
    ("observe_bonus", [300, 80], [F, N], {}, [0.0, nan]),
    # custom bonus and floor: shortest correct 20 > 10 -> +1.5
    ("observe_bonus", [20, 40], [T, T], {"bonus": 1.5, "min_length": 10}, [1.5, 0.0]),
    # efficiency: correct lengths 10, 30 -> mean 20, population std 10, z = -1, +1
    # 1 - 0.2*sigmoid(-1) = 1 - 0.2*0.268941 = 0.946212; 1 - 0.2*0.731059 = 0.853788
    (
        "efficiency",
        [10, 30, 50, 60],
        [T, T, F, N],
        {"alpha": 0.2},
        [0.9462117157, 0.8537882843, 0.0, nan],
    ),
    # one correct answer: std 0 -> z 0 -> 1 - 0.1 * 0.5 = 0.95
    ("efficiency", [10, 30], [T, F], {}, [0.95, 0.0]),
    # no correct answer: all 0
    ("efficiency", [10, 30], [F, F], {}, [0.0, 0.0]),
]


@pytest.mark.parametrize("name, lengths, correct, params, expected", CASES)
def test_table(name, lengths, correct, params, expected):
    got = score(name, make_group(lengths=lengths, correct=correct, max_new_tokens=1000), **params)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def _group(pid, lengths, correct):
    return make_group(lengths=lengths, correct=correct, problem_id=pid, max_new_tokens=1000)


def test_grpo_lambda_selects_top_groups_of_the_batch():
    # ratios: a = 3/3 = 1.0, b = 2/3, c = 1/3, d = 0/2, e = NaN (nothing judged); P = 5
    a = _group("a", [10, 20, 30], [T, T, T])
    b = _group("b", [10, 20, 30], [T, T, F])
    c = _group("c", [10, 20, 30], [T, F, F])
    d = _group("d", [10, 30], [F, F])
    e = _group("e", [10, 30], [N, N])
    ctx = RewardContext(batch=(a, b, c, d, e))
    fn = REWARDS.get("grpo_lambda")
    # top_fraction 0.4: k = ceil(0.4*5) = 2 -> cut-off = 2nd best ratio = 2/3 -> a and b selected
    # kimi for [10, 20, 30]: lam = 0.5, 0, -0.5; times coef 0.4 -> 0.2, 0, -0.2 (a: all correct)
    assert fn(a, top_fraction=0.4, ctx=ctx) == pytest.approx([0.2, 0.0, -0.2])
    # b: third is wrong -> min(0, -0.5) * 0.4 = -0.2
    assert fn(b, top_fraction=0.4, ctx=ctx) == pytest.approx([0.2, 0.0, -0.2])
    # c is below the cut-off: plain zeros
    assert fn(c, top_fraction=0.4, ctx=ctx) == [0.0, 0.0, 0.0]
    # top_fraction 1.0: every group with a ratio qualifies, but d (no correct answer) never does
    assert fn(c, top_fraction=1.0, ctx=ctx) == pytest.approx([0.2, 0.0, -0.2])
    assert fn(d, top_fraction=1.0, ctx=ctx) == [0.0, 0.0]
    # e: nothing judged -> NaN everywhere
    assert all(math.isnan(x) for x in fn(e, top_fraction=1.0, ctx=ctx))
    # top_fraction 0: nothing selected
    assert fn(a, top_fraction=0.0, ctx=ctx) == [0.0, 0.0, 0.0]
    # custom coef 1.0 gives the plain kimi values
    assert fn(a, top_fraction=0.4, coef=1.0, ctx=ctx) == pytest.approx([0.5, 0.0, -0.5])


def test_grpo_lambda_ties_at_the_cutoff_are_all_selected_and_order_free():
    # ratios 1, 1, 1/2, P = 3, top_fraction 1/3 -> k = 1 -> cut-off 1.0 -> both ratio-1 groups
    a = _group("a", [10, 30], [T, T])
    b = _group("b", [10, 30], [T, T])
    c = _group("c", [10, 30], [T, F])
    for batch in [(a, b, c), (c, b, a)]:
        ctx = RewardContext(batch=batch)
        assert REWARDS.get("grpo_lambda")(b, top_fraction=1 / 3, ctx=ctx) == pytest.approx(
            [0.2, -0.2]
        )
        assert REWARDS.get("grpo_lambda")(c, top_fraction=1 / 3, ctx=ctx) == [0.0, 0.0]


def test_grpo_lambda_float_rounding_of_k():
    # 0.2 * 10 = 2.0000000000000004 in floats: k must be 2, not 3.
    # Ratios: groups 0, 1 have 2/2 correct; groups 2..9 have 1/2. With k = 3 a 1/2 group would
    # be selected (cut-off 1/2); with k = 2 the cut-off is 1.0.
    full = [_group(f"f{i}", [10, 30], [T, T]) for i in range(2)]
    half = [_group(f"h{i}", [10, 30], [T, F]) for i in range(8)]
    ctx = RewardContext(batch=tuple(full + half))
    assert REWARDS.get("grpo_lambda")(half[0], top_fraction=0.2, ctx=ctx) == [0.0, 0.0]


def test_grpo_lambda_without_batch_ranks_the_group_alone():
    g = _group("a", [10, 30], [T, F])
    # kimi: [0.5, min(0, -0.5)] * 0.4
    assert REWARDS.get("grpo_lambda")(g, top_fraction=0.1) == pytest.approx([0.2, -0.2])


def test_grpo_lambda_rejects_bad_fraction():
    with pytest.raises(UserError, match="top_fraction"):
        REWARDS.get("grpo_lambda")(_group("a", [1], [T]), top_fraction=1.5)


@pytest.mark.parametrize("name", ["kimi_length", "observe_bonus", "efficiency"])
def test_unverified_group_is_an_error(name):
    with pytest.raises(ValueError, match="not been verified"):
        REWARDS.get(name)(make_group(lengths=[1, 2]))
