import numpy as np
import pytest

from rewardkit.train.filters import (
    informative_groups,
    keep_first,
    overlong_weights,
    prompts_to_sample,
    zero_variance_fraction,
)


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        ([1.0, 0.0, 1.0], True),  # mixed outcomes: a learning signal
        ([1.0, 1.0, 1.0], False),  # all correct (DAPO: |correct| = G)
        ([0.0, 0.0, 0.0], False),  # all wrong (DAPO: |correct| = 0)
        ([0.3, 0.3 + 1e-12, 0.3], True),  # any spread counts at atol=0
        ([np.nan, 0.0, 1.0], True),  # NaN left out; 0 vs 1 remains
        ([np.nan, 1.0, 1.0], False),  # NaN left out; the rest are equal
        ([np.nan, 1.0, np.nan], False),  # one scored completion: nothing to compare
        ([np.nan, np.nan], False),
        ([2.0], False),  # a group of one
    ],
)
def test_informative_groups_table(total, expected):
    assert informative_groups([np.array(total)]).tolist() == [expected]


def test_informative_groups_atol():
    totals = [np.array([0.3, 0.3 + 1e-9]), np.array([0.0, 0.5])]
    assert informative_groups(totals, atol=1e-6).tolist() == [False, True]


def test_informative_groups_does_not_mutate_and_handles_empty():
    total = np.array([np.nan, 1.0, 0.0])
    informative_groups([total])
    assert np.isnan(total[0]) and total[1:].tolist() == [1.0, 0.0]
    assert informative_groups([]).shape == (0,)


def test_overlong_weights_zero_exactly_the_truncated():
    truncated = np.array([[True, False, True], [False, False, False]])
    w = overlong_weights(truncated)
    assert w.tolist() == [[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]]
    assert w.dtype == np.float64


def test_zero_variance_fraction():
    # 3 groups; the second and third have equal rewards -> 2/3
    totals = [np.array([0.0, 1.0]), np.array([1.0, 1.0]), np.array([0.0, 0.0])]
    assert zero_variance_fraction(totals) == pytest.approx(2 / 3)
    assert zero_variance_fraction([]) == 0.0


def test_keep_first_caps_at_target_and_available():
    assert keep_first([np.zeros(2)] * 2, target=4) == [0, 1]
    assert keep_first([np.zeros(2)] * 6, target=4) == [0, 1, 2, 3]
    assert keep_first([], target=4) == []


@pytest.mark.parametrize(("missing", "oversample", "expected"), [
    (4, 1.0, 4),   # no over-sampling: exactly the deficit
    (512, 3.0, 1536),  # DAPO's recipe: 1536 generated for 512 trained
    (3, 1.5, 5),   # 4.5 rounds up
    (30, 0.1 * 11, 33),  # 0.1 * 11 * 30 = 33.000000000000004 in floats: still 33
    (0, 3.0, 0),
])
def test_prompts_to_sample(missing, oversample, expected):
    assert prompts_to_sample(missing, oversample) == expected
