"""Hand-computed cases for HAPO (rewards/hapo.py); multi-step runs: tests/test_reward_state.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rewardkit.errors import UserError
from rewardkit.registry import REWARDS
from rewardkit.rewards.base import RewardContext
from rewardkit.rewards.hapo import update_hapo
from rewardkit.testing import make_group

T, F, N = True, False, None
nan = math.nan
CTX = RewardContext(state={"history": {"p0": 100}})  # h = 100 for problem "p0"


def hapo(lengths, correct, ctx=CTX, **params):
    g = make_group(lengths=lengths, correct=correct, max_new_tokens=10_000)
    return REWARDS.get("hapo")(g, ctx=ctx, **params)


def test_cosine_mode():
    # r = cos(pi/2 * L/100) if L < 200 else -1; correct: max(-0.7, r); wrong: min(0, r)
    lengths = [0, 50, 100, 120, 150, 200, 50, 150, 250, 10]
    correct = [T, T, T, T, T, T, F, F, F, N]
    expected = [
        1.0,  # cos 0
        math.cos(math.pi / 4),  # 0.7071
        0.0,  # cos(pi/2)
        math.cos(0.6 * math.pi),  # -0.3090, above the floor
        -0.7,  # cos(3pi/4) = -0.7071 -> floor
        -0.7,  # L = 2h -> -1 -> floor
        0.0,  # wrong and short: min(0, 0.7071)
        math.cos(0.75 * math.pi),  # wrong: -0.7071, no floor
        -1.0,  # wrong, L >= 2h
        nan,
    ]
    np.testing.assert_allclose(hapo(lengths, correct), expected, rtol=0, atol=1e-12)


def test_cosine_custom_floor():
    # correct L = 150: cos(3pi/4) = -0.7071 -> max(-0.5, .) = -0.5
    assert hapo([150], [T], floor=-0.5) == [-0.5]


def test_linear_mode():
    # h = 100, tolerance 0.1 -> slack s = 110
    lengths = [40, 100, 109, 130, 250, 50, 109, 160, 300, 10]
    correct = [T, T, T, T, T, F, F, F, F, N]
    expected = [
        0.6,  # 1 - 40/100
        0.0,  # h <= L < s
        0.0,
        -0.2,  # -(130 - 110)/100
        -0.7,  # -(250 - 110)/100 = -1.4 -> floor -0.7
        0.0,  # wrong, L < s
        0.0,
        -0.5,  # wrong: -(160 - 110)/100
        -1.0,  # wrong: -1.9 -> clamp -1
        nan,
    ]
    got = hapo(lengths, correct, mode="linear")
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    # tolerance 0.5: s = 150 -> correct 130 is now inside the slack; wrong 160 -> -0.1
    got = hapo([130, 160], [T, F], mode="linear", tolerance=0.5)
    np.testing.assert_allclose(got, [0.0, -0.1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["cosine", "linear"])
def test_no_history_gives_zero(mode):
    other = RewardContext(state={"history": {"another-problem": 5}})
    np.testing.assert_equal(hapo([10, 500, 7], [T, F, N], ctx=other, mode=mode), [0.0, 0.0, nan])
    np.testing.assert_equal(hapo([10, 500, 7], [T, F, N], ctx=None, mode=mode), [0.0, 0.0, nan])


def test_unknown_mode():
    with pytest.raises(UserError, match="mode"):
        hapo([1], [T], mode="mean")


def _g(pid, lengths, correct):
    return make_group(lengths=lengths, correct=correct, problem_id=pid, max_new_tokens=10_000)


def test_update_keeps_the_shortest_correct_length():
    old = {"history": {"a": 80, "b": 500}}
    batch = [
        _g("a", [90, 60, 10], [T, T, F]),  # shortest correct 60 < 80 -> 60 (the wrong 10 ignored)
        _g("b", [700, 600], [T, T]),  # 600 > 500 -> stays 500
        _g("c", [40, 30], [F, N]),  # no correct answer -> no entry
        _g("d", [300], [T]),  # new problem -> 300
        _g("d", [250, 400], [T, T]),  # same problem twice in one batch -> min 250
        _g("e", [0], [T]),  # a 0-token correct answer is stored as 1 (h is a divisor)
    ]
    new = update_hapo(old, batch, step=0)
    assert new == {"history": {"a": 60, "b": 500, "d": 250, "e": 1}}
    assert old == {"history": {"a": 80, "b": 500}}  # not mutated
