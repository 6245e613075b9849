"""Stateful rewards over steps: resume through JSON is exact; HAPO sees earlier steps only."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import rewardkit.rewards  # noqa: F401  (registers every built-in reward)
from rewardkit.registry import REWARDS
from rewardkit.rewards import RewardScorer, RewardSpec
from rewardkit.testing import make_group

T, F, N = True, False, None

STATEFUL = [n for n in REWARDS.names() if hasattr(REWARDS.get(n), "update_state")]
# Small grids and update_every=1 so the targets move at every step of a 3-step run.
PARAMS = {
    "laser_d": {"update_every": 1, "grid_start": 10, "grid_step": 10},
    "laser_de": {"update_every": 1, "grid_start": 10, "grid_step": 10, "ngram": 2},
}


def test_the_stateful_rewards_are_the_expected_ones():
    assert set(STATEFUL) >= {"hapo", "laser_d", "laser_de"}


def _g(pid, lengths, correct):
    texts = [" ".join(f"w{i}" for i in range(n)) for n in lengths]  # no repeated n-grams
    return make_group(
        lengths=lengths, correct=correct, texts=texts, problem_id=pid, max_new_tokens=100
    )


# Three steps with problems that come back, mixed difficulties and an unjudged completion.
STEPS = [
    [_g("a", [60, 45, 90], [T, T, F]), _g("b", [20, 80, 35], [F, F, T])],
    [_g("a", [30, 50, 70], [T, T, T]), _g("c", [15, 95, 40], [T, N, F])],
    [_g("a", [25, 55, 65], [T, F, T]), _g("b", [30, 33, 85], [T, T, F])],
]


def _run(scorer, steps, first):
    out = []
    for i, batch in enumerate(steps, start=first):
        out.append(scorer.score(batch, step=i))
        scorer.end_step(batch, step=i)
    return out


@pytest.mark.parametrize("name", STATEFUL)
def test_resume_through_json_gives_the_same_scores(name):
    def spec():
        return [RewardSpec("accuracy"), RewardSpec(name, params=PARAMS.get(name, {}))]

    straight = RewardScorer(spec())
    full = _run(straight, STEPS, 0)

    first = RewardScorer(spec())
    _run(first, STEPS[:2], 0)
    saved = json.dumps(first.state_dict())  # what a checkpoint holds
    resumed = RewardScorer(spec())
    resumed.load_state_dict(json.loads(saved))
    (last,) = _run(resumed, STEPS[2:], 2)

    for got, want in zip(last, full[2]):
        np.testing.assert_array_equal(got, want)  # identical numbers, NaN in the same places
    assert resumed.state_dict() == straight.state_dict()
    # the state matters: problem "a" is scored differently at step 2 than with no state at all
    fresh = RewardScorer(spec()).score(STEPS[2], step=2)
    assert not np.array_equal(fresh[0], full[2][0], equal_nan=True)


def test_hapo_uses_history_from_earlier_steps_only():
    scorer = RewardScorer([RewardSpec("hapo")])
    cos = math.cos
    pi = math.pi

    # step 0: no history anywhere -> 0; the None completion -> NaN
    step0 = [_g("a", [100, 80, 50, 10], [T, T, F, N])]
    (s0,) = scorer.score(step0, step=0)
    np.testing.assert_array_equal(s0[:, 0], [0.0, 0.0, 0.0, math.nan])
    scorer.end_step(step0, step=0)
    assert scorer.state_dict() == {"hapo": {"history": {"a": 80}}}  # shortest correct of step 0

    # step 1: "a" appears twice and "b" for the first time. Both "a" groups use h = 80 from
    # step 0, not the shorter correct answers (40, 20) sampled in this same step.
    step1 = [
        _g("a", [40, 80, 160, 30], [T, T, T, F]),
        _g("b", [60], [T]),
        _g("a", [20], [T]),
    ]
    a1, b1, a1_again = scorer.score(step1, step=1)
    np.testing.assert_allclose(
        a1[:, 0],
        [
            cos(pi / 2 * 40 / 80),  # 0.7071
            0.0,  # L = h
            -0.7,  # L = 2h -> -1 -> floor
            0.0,  # wrong and short: min(0, cos(3pi/16))
        ],
        atol=1e-12,
    )
    np.testing.assert_array_equal(b1[:, 0], [0.0])  # "b" has no earlier history
    np.testing.assert_allclose(a1_again[:, 0], [cos(pi / 2 * 20 / 80)], atol=1e-12)  # 0.9239
    scorer.end_step(step1, step=1)
    assert scorer.state_dict() == {"hapo": {"history": {"a": 20, "b": 60}}}

    # step 2: h_a = 20 (from step 1), h_b = 60
    step2 = [_g("a", [40, 15], [T, F]), _g("b", [30, 20], [T, F])]
    a2, b2 = scorer.score(step2, step=2)
    np.testing.assert_allclose(a2[:, 0], [-0.7, min(0.0, cos(pi / 2 * 15 / 20))], atol=1e-12)
    np.testing.assert_allclose(b2[:, 0], [cos(pi / 4), 0.0], atol=1e-12)  # wrong: min(0, .)
