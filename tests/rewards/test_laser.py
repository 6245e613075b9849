"""Hand-computed cases for LASER, LASER-D and LASER-DE (rewards/laser.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rewardkit.errors import UserError
from rewardkit.registry import REWARDS
from rewardkit.rewards.base import RewardContext
from rewardkit.rewards.laser import (
    choose_target,
    difficulty_bucket,
    expected_correct,
    update_laser_d,
    update_laser_de,
)
from rewardkit.testing import make_group

T, F, N = True, False, None
nan = math.nan


def test_laser_table():
    g = make_group(lengths=[50, 60, 61, 10, 70, 5], correct=[T, T, T, F, F, N])
    # target 60: correct 50, 60 (<= 60) -> alpha; correct 61 -> 0; wrong -> 0; None -> NaN
    np.testing.assert_equal(
        REWARDS.get("laser")(g, target_length=60), [0.5, 0.5, 0.0, 0.0, 0.0, nan]
    )
    np.testing.assert_equal(
        REWARDS.get("laser")(g, target_length=60, alpha=1.0), [1.0, 1.0, 0.0, 0.0, 0.0, nan]
    )


@pytest.mark.parametrize(
    "acc, bucket",
    [
        (1.0, "high"),
        (2 / 3, "high"),
        (4 / 6, "high"),
        (0.6, "medium"),
        (1 / 3, "medium"),
        (2 / 6, "medium"),
        (0.3, "low"),
        (0.0, "low"),
    ],
)
def test_difficulty_bucket(acc, bucket):
    assert difficulty_bucket(acc) == bucket


@pytest.mark.parametrize(
    "bucket, g, n",
    # G = 8: floor(16/3) = 5, floor(8/3) = 2; G = 3: 2, 1; G = 1: floor(2/3) = 0 -> at least 1
    [
        ("high", 8, 5),
        ("medium", 8, 2),
        ("low", 8, 1),
        ("high", 3, 2),
        ("medium", 3, 1),
        ("high", 1, 1),
        ("medium", 1, 1),
    ],
)
def test_expected_correct(bucket, g, n):
    assert expected_correct(bucket, g) == n


@pytest.mark.parametrize(
    "lengths, n, start, step, budget, expected",
    [
        # 10 lengths, n = 5: need covered * 5 >= 10, i.e. 2 lengths <= l
        # l=100: {50} 1; l=200: {50, 150} 2 -> 200
        ([50, 150, 250] + [900] * 7, 5, 100, 100, 1000, 200),
        # n = 1: every length must be covered -> first grid point >= 900 is 900
        ([50, 150, 250] + [900] * 7, 1, 100, 100, 1000, 900),
        # grid 100, 350, 600, 850: needs all <= l -> 900 is never covered -> budget 1000
        ([50, 900], 1, 100, 250, 1000, 1000),
        # no lengths -> budget
        ([], 5, 100, 100, 1000, 1000),
        # grid starts past the budget -> budget
        ([10], 1, 2048, 1024, 1000, 1000),
        # exactly at a grid point counts (L <= l)
        ([300], 1, 100, 100, 1000, 300),
    ],
)
def test_choose_target(lengths, n, start, step, budget, expected):
    assert choose_target(lengths, n, grid_start=start, grid_step=step, budget=budget) == expected


GRID = {"update_every": 2, "grid_start": 100, "grid_step": 100}


def _g(pid, lengths, correct):
    return make_group(lengths=lengths, correct=correct, problem_id=pid, max_new_tokens=1000)


def test_update_buffers_then_estimates_every_update_every_steps():
    step0 = [
        _g("a", [150, 250, 900], [T, T, T]),  # acc 1 -> high
        _g("b", [50, 400, 1000], [T, F, F]),  # acc 1/3 -> medium
        _g("c", [5, 5, 5], [N, N, N]),  # nothing judged -> ignored
    ]
    s1 = update_laser_d({}, step0, step=0, **GRID)
    # (0 + 1) % 2 != 0: only buffered, no targets yet
    assert s1 == {
        "buffer": {"high": [150, 250, 900], "medium": [50, 400, 1000], "low": []},
        "group_size": 3,
        "budget": 1000,
    }
    s2 = update_laser_d(s1, [_g("d", [300, 600, 700], [F, F, F])], step=1, **GRID)  # low
    # (1 + 1) % 2 == 0: estimate, G = 3
    # high, n = 2: covered * 2 >= 3 -> 2 covered: l=300 covers 150, 250 -> 300
    # medium, n = 1: all 3 covered -> 1000 (a grid point, = budget)
    # low, n = 1: all of 300, 600, 700 -> 700
    assert s2["targets"] == {"high": 300, "medium": 1000, "low": 700}
    assert s2["buffer"] == {"high": [], "medium": [], "low": []}
    # the input state was not mutated
    assert "targets" not in s1 and s1["buffer"]["low"] == []
    s3 = update_laser_d(s2, [_g("e", [10, 20, 30], [T, T, F])], step=2, **GRID)  # 2/3 high
    assert s3["targets"] == s2["targets"] and s3["buffer"]["high"] == [10, 20, 30]
    s4 = update_laser_d(s3, [_g("f", [100, 100, 100], [T, T, T])], step=3, **GRID)
    # high lengths 10, 20, 30, 100, 100, 100, n = 2: need 3 covered -> l=100 covers all -> 100
    # medium and low saw no rollouts in this window: the budget 1000, no length pressure, as in
    # LASER's _choose_target_length (coverage 0 at every grid length -> the fallback length)
    assert s4["targets"] == {"high": 100, "medium": 1000, "low": 1000}
    # plain JSON: a round trip changes nothing
    assert json.loads(json.dumps(s4)) == s4


def test_update_laser_de_matches_laser_d():
    batch = [_g("a", [150, 250, 900], [T, T, T])]
    assert update_laser_de({}, batch, step=1, ngram=3, max_repeat=0.2, **GRID) == update_laser_d(
        {}, batch, step=1, **GRID
    )


def test_update_rejects_zero_grid_step():
    with pytest.raises(UserError, match="grid_step"):
        update_laser_d({}, [], step=0, update_every=2, grid_start=100, grid_step=0)


STATE = {"targets": {"high": 30, "medium": 60, "low": 90}}


@pytest.mark.parametrize(
    "lengths, correct, expected",
    [
        # acc 3/3 high, T = 30: 20 -> 0.5; 40 -> 0; 30 -> 0.5 (<= T)
        ([20, 40, 30], [T, T, T], [0.5, 0.0, 0.5]),
        # acc 1/2 medium (None left out), T = 60: 50 -> 0.5; wrong -> 0; None -> NaN
        ([50, 10, 70], [T, F, N], [0.5, 0.0, nan]),
        # acc 1/4 low, T = 90: 80 -> 0.5; wrong 95 -> 0
        ([80, 95, 10, 10], [T, F, F, F], [0.5, 0.0, 0.0, 0.0]),
        # nothing judged: all NaN
        ([10, 20], [N, N], [nan, nan]),
    ],
)
def test_laser_d_uses_the_bucket_target(lengths, correct, expected):
    g = make_group(lengths=lengths, correct=correct)
    got = REWARDS.get("laser_d")(g, grid_start=10, grid_step=10, ctx=RewardContext(state=STATE))
    np.testing.assert_equal(got, expected)


def test_laser_d_before_the_first_estimate_uses_grid_start():
    g = make_group(lengths=[40, 50, 60], correct=[T, T, T])
    # no state: T = grid_start = 50 -> 40, 50 get alpha, 60 does not
    assert REWARDS.get("laser_d")(g, grid_start=50, grid_step=10) == [0.5, 0.5, 0.0]
    # state without this bucket's target behaves the same
    ctx = RewardContext(state={"targets": {"low": 1000}})
    assert REWARDS.get("laser_d")(g, grid_start=50, grid_step=10, ctx=ctx) == [0.5, 0.5, 0.0]


def test_laser_de_all_branches():
    ctx = RewardContext(state={"targets": {"low": 3, "medium": 3}})
    box = "\\boxed{7}"  # a wrong but well-formed answer (gold is 42)
    texts = [
        f"a {box}",  # wrong, L=2 <= T=3 -> 0
        f"a b c d e {box}",  # wrong, L=6 > 3, answer, bigrams all distinct -> explore bonus 0.5
        f"a a a a a {box}",  # wrong, L=6 > 3, bigrams 4 x (a a) + (a box): 1 - 2/5 = 0.6 > 0.5
        "x \\boxed{42}",  # correct, L=2 <= 3 -> 0.5
        "a b c \\boxed{42}",  # correct, L=4 > 3 -> 0
        "q",  # None -> NaN
        "a b c d e f",  # wrong, L=6 > 3, not a loop, but no answer: upstream's -1 branch -> 0
        f"a b c d e {box}",  # wrong, L=6 > 3, answer, but cut off at the budget -> 0
    ]
    # accuracy over judged: 2/7 -> low, T = 3
    reasons = ["stop"] * 7 + ["length"]
    g = make_group(texts=texts, correct=[F, F, F, T, T, N, F, F], finish_reasons=reasons)
    got = REWARDS.get("laser_de")(g, grid_start=2, grid_step=1, ngram=2, ctx=ctx)
    np.testing.assert_equal(got, [0.0, 0.5, 0.0, 0.5, 0.0, nan, 0.0, 0.0])
    # a looser loop threshold: 0.6 is not > 0.9, so the looping answer also gets the bonus
    got = REWARDS.get("laser_de")(g, grid_start=2, grid_step=1, ngram=2, max_repeat=0.9, ctx=ctx)
    np.testing.assert_equal(got, [0.0, 0.5, 0.5, 0.5, 0.0, nan, 0.0, 0.0])


def test_laser_de_no_bonus_for_a_truncated_answerless_reply():
    # the review's repro (B4): a truncated reply, a short correct one, a short wrong one
    g = make_group(
        texts=["a b c d e f", "\\boxed{42}", "\\boxed{7}"],
        correct=[F, T, F],
        finish_reasons=["length", "stop", "stop"],
    )
    ctx = RewardContext(state={"targets": {"medium": 3}})  # acc 1/3 -> medium, T = 3
    got = REWARDS.get("laser_de")(g, grid_start=2, grid_step=1, ngram=2, ctx=ctx)
    assert got == [0.0, 0.5, 0.0]  # was [0.5, 0.5, 0.0]


def test_laser_de_needs_a_verified_group():
    g = make_group(texts=["a b"])  # unverified: no answers to judge well-formedness by
    with pytest.raises(ValueError, match="verif"):
        REWARDS.get("laser_de")(g)
    # verified, but by code that recorded no answers: an error for every group, not only for
    # one holding a long wrong reply
    g = make_group(texts=["\\boxed{1}"], correct=[T], answers=())
    with pytest.raises(ValueError, match="no extracted answers"):
        REWARDS.get("laser_de")(g, ctx=RewardContext(state={"targets": {"high": 3}}))


def test_laser_de_nothing_judged_is_nan():
    ctx = RewardContext(state={"targets": {"low": 3}})
    g = make_group(texts=["a", "b"], correct=[N, N])
    assert all(math.isnan(x) for x in REWARDS.get("laser_de")(g, ctx=ctx))
