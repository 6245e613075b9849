"""Hand-computed cases for the budget/target length rewards (rewards/budget.py)."""

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
S, LEN = "stop", "length"

# (name, lengths, verdicts, finish reasons, max_new_tokens, meta, params, expected)
CASES = [
    # dapo_overlong, budget 100, buffer 20: penalty starts at 80
    # L=79 -> 0; 80 -> 0; 90 -> (80-90)/20 = -0.5; 100 -> -1.0; 110 (past budget) -> clamp -1.0
    # verdicts are ignored: None still scores
    (
        "dapo_overlong",
        [79, 80, 90, 100, 110],
        [T, F, N, T, F],
        None,
        100,
        {},
        {"buffer": 20},
        [0.0, 0.0, -0.5, -1.0, -1.0],
    ),
    # penalty factor 0.5: L=90 -> -0.5 * 0.5 = -0.25
    ("dapo_overlong", [90], [T], None, 100, {}, {"buffer": 20, "penalty": 0.5}, [-0.25]),
    # truncation: finish_reason decides, verdict ignored
    ("truncation", [10, 100, 100], [T, T, N], [S, LEN, LEN], 100, {}, {}, [0.0, -1.0, -1.0]),
    ("truncation", [10, 100], [T, F], [S, LEN], 100, {}, {"penalty": 0.25}, [0.0, -0.25]),
    # cosine_length, budget 100: x = L/100, r = b + (a - b)(1 + cos(pi x))/2
    # correct (a, b) = (2, 1): x=0 -> 2; x=0.5 -> 1.5; x=1 (not truncated) -> 1
    # wrong (a, b) = (-10, 0): x=0.25 -> 0 + (-10)(1 + 0.7071068)/2 = -8.5355339
    # None, not truncated -> NaN; None but truncated -> overlong -10; correct truncated -> -10
    (
        "cosine_length",
        [0, 50, 100, 25, 40, 100, 100],
        [T, T, T, F, N, N, T],
        [S, S, S, S, S, LEN, LEN],
        100,
        {},
        {},
        [2.0, 1.5, 1.0, -8.5355339059, nan, -10.0, -10.0],
    ),
    # custom endpoints; length past the budget without the flag is clipped to x = 1 -> b
    (
        "cosine_length",
        [120, 50],
        [T, F],
        [S, S],
        100,
        {},
        {"correct_at_zero": 1.0, "correct_at_max": 0.5, "wrong_at_zero": -1.0, "wrong_at_max": 0.0},
        [0.5, -0.5],
    ),
    # l1_exact, target 100, alpha 0.001: correct L=100 -> 1; correct L=300 -> 1 - 0.2 = 0.8;
    # wrong L=50 -> 0 - 0.05; None -> NaN
    (
        "l1_exact",
        [100, 300, 50, 10],
        [T, T, F, N],
        None,
        1000,
        {"target_tokens": 100},
        {"alpha": 0.001},
        [1.0, 0.8, -0.05, nan],
    ),
    # default alpha 1/3000: |100 - 400| / 3000 = 0.1 -> 0.9
    ("l1_exact", [400], [T], None, 1000, {"target_tokens": 100}, {}, [0.9]),
    # l1_max, target 1000, alpha 0.001, delta 0.5: clip(0.001 (1000 - L) + 0.5, 0, 1)
    # L=0 -> clip(1.5) = 1; L=700 -> 0.8; L=1000 -> 0.5; L=1400 -> 0.1; L=1600 -> clip(-0.1) = 0
    # wrong -> 0; None -> NaN
    (
        "l1_max",
        [0, 700, 1000, 1400, 1600, 10, 10],
        [T, T, T, T, T, F, N],
        None,
        4000,
        {"target_tokens": 1000},
        {},
        [1.0, 0.8, 0.5, 0.1, 0.0, 0.0, nan],
    ),
]


@pytest.mark.parametrize(
    "name, lengths, correct, finish, budget, meta, params, expected",
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_table(name, lengths, correct, finish, budget, meta, params, expected):
    g = make_group(
        lengths=lengths, correct=correct, finish_reasons=finish, max_new_tokens=budget, meta=meta
    )
    got = REWARDS.get(name)(g, **params)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["l1_exact", "l1_max"])
@pytest.mark.parametrize("meta", [{}, {"target_tokens": "100"}, {"target_tokens": True}])
def test_l1_needs_a_numeric_target(name, meta):
    g = make_group(lengths=[10], correct=[T], meta=meta)
    with pytest.raises(UserError, match="target_tokens"):
        REWARDS.get(name)(g)


def test_dapo_overlong_rejects_zero_buffer():
    with pytest.raises(UserError, match="buffer"):
        REWARDS.get("dapo_overlong")(make_group(lengths=[1], correct=[T]), buffer=0)


SCHED = {"start": 256, "end": 64, "decay": 0.5, "every": 10}


@pytest.mark.parametrize(
    "step, expected",
    [
        # B(t) = max(64, 256 * 0.5^(t // 10)); r = clip(2 - L/B, 0, 1) if correct
        # lengths 100, 192, 300, 50 (wrong), 10 (None)
        # t=0, B=256: 100 -> 1; 192 -> 1 (within budget); 300 -> 2 - 1.171875 = 0.828125
        (0, [1.0, 1.0, 0.828125, 0.0, nan]),
        # t=10, B=128: 100 -> 1; 192 -> 0.5; 300 -> 2 - 2.34375 < 0 -> 0
        (10, [1.0, 0.5, 0.0, 0.0, nan]),
        # t=500: 256 * 0.5^50 is tiny -> floor B=64: 100 -> 2 - 1.5625 = 0.4375; others 0
        (500, [0.4375, 0.0, 0.0, 0.0, nan]),
    ],
)
def test_budget_curriculum_exponential(step, expected):
    g = make_group(lengths=[100, 192, 300, 50, 10], correct=[T, T, T, F, N], max_new_tokens=512)
    got = REWARDS.get("budget_curriculum")(g, **SCHED, ctx=RewardContext(step=step))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_budget_curriculum_linear_and_no_ctx():
    g = make_group(lengths=[150, 200], correct=[T, T], max_new_tokens=512)
    fn = REWARDS.get("budget_curriculum")
    # linear: B = max(64, 256 - 56 * (25 // 10)) = 256 - 112 = 144
    # 150 -> 2 - 150/144 = 0.9583333; 200 -> 2 - 1.3888889 = 0.6111111
    params = {**SCHED, "decay": 56, "schedule": "linear"}
    got = fn(g, **params, ctx=RewardContext(step=25))
    np.testing.assert_allclose(got, [2 - 150 / 144, 2 - 200 / 144], rtol=0, atol=1e-12)
    # without ctx the step is 0: B = 256, both inside -> 1
    assert fn(g, **SCHED) == [1.0, 1.0]


@pytest.mark.parametrize(
    "params, match",
    [
        ({**SCHED, "end": 512}, "end"),
        ({**SCHED, "decay": 1.5}, "decay"),
        ({**SCHED, "decay": -1, "schedule": "linear"}, "decay"),
        ({**SCHED, "every": 0}, "every"),
        ({**SCHED, "schedule": "cosine"}, "schedule"),
    ],
)
def test_budget_curriculum_rejects_bad_schedules(params, match):
    with pytest.raises(UserError, match=match):
        REWARDS.get("budget_curriculum")(make_group(lengths=[1], correct=[T]), **params)
