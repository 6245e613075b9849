"""Hand-computed cases for `sar` and `pear` (rewards/logprob.py), with made-up per-token values."""

from __future__ import annotations

import math

import pytest

from rewardkit.errors import UserError
from rewardkit.registry import REWARDS
from rewardkit.rewards.logprob import self_aligned, thinking_tokens
from rewardkit.testing import make_group
from rewardkit.types import Completion

T, F, N = True, False, None


@pytest.mark.parametrize(
    "cond, uncond, expected",
    [
        # R = 1 - exp(mean(u) - mean(c))
        ([-1.0, -1.0], [-2.0, -2.0], 1 - math.exp(-1)),  # the question helps: 0.632
        ([-1.0, -3.0], [-2.0, -2.0], 0.0),  # same mean: no gain
        ([-1.5], [-1.0], 1 - math.exp(0.5)),  # the question hurts a little: -0.6487
        ([-5.0], [-1.0], -1.0),  # 1 - e^4 is clipped to -1
        ([-0.1, -0.1], [-20.0, -20.0], 1 - math.exp(-19.9)),  # near the upper bound 1
        ([], [], 0.0),  # empty answer
    ],
)
def test_self_aligned(cond, uncond, expected):
    assert self_aligned(cond, uncond) == pytest.approx(expected, abs=1e-12)


def test_sar_scales_by_alpha_and_ignores_verdicts():
    g = make_group(
        lengths=[2, 1, 1],
        correct=[T, F, N],
        logprobs=[[-1.0, -1.0], [-1.5], [-5.0]],
        unconditional_logprobs=[[-2.0, -2.0], [-1.0], [-1.0]],
    )
    got = REWARDS.get("sar")(g, alpha=0.5)
    assert got == pytest.approx([0.5 * (1 - math.exp(-1)), 0.5 * (1 - math.exp(0.5)), -0.5])


def test_sar_needs_both_logprob_fields():
    g = make_group(lengths=[1], correct=[T], logprobs=[[-1.0]])
    with pytest.raises(UserError, match="unconditional_logprobs"):
        REWARDS.get("sar")(g, alpha=1.0)
    g = make_group(lengths=[1], correct=[T])
    with pytest.raises(UserError, match="Completion.logprobs"):
        REWARDS.get("sar")(g, alpha=1.0)
    g = make_group(
        lengths=[2], correct=[T], logprobs=[[-1.0, -1.0]], unconditional_logprobs=[[-1.0]]
    )
    with pytest.raises(ValueError, match="same answer tokens"):
        REWARDS.get("sar")(g, alpha=1.0)


@pytest.mark.parametrize(
    "text, n, k",
    [
        ("<think>x</think>" + "y" * 16, 4, 2),  # 16 of 32 chars -> 4 * 0.5
        ("<think>abc</think>xy", 10, 9),  # 18 of 20 chars -> 9
        ("<think>abc</think>", 5, 5),  # nothing after: all thinking
        ("no tags", 3, 3),  # never closed: all thinking
        ("</think>" + "a" * 24, 4, 1),  # 8 of 32 chars -> 1
        ("<think>a</think>b</think>" + "c" * 7, 8, 4),  # the first </think> ends thinking: 16/32
    ],
)
def test_thinking_tokens(text, n, k):
    assert thinking_tokens(Completion(text=text, num_tokens=n), n) == k


def test_pear_phases():
    texts = [
        "<think>x</think>" + "y" * 16,  # k = 2: think [2, 2], answer [0.5, 0.5]
        "still thinking",  # no </think>: think [1, 3], no answer
        "<think>abc</think>",  # all thinking: [4]
        "</think>" + "a" * 24,  # k = 1: think [0], answer [1, 1, 1]
    ]
    g = make_group(
        texts=texts,
        correct=[T, N, F, T],
        entropies=[[2.0, 2.0, 0.5, 0.5], [1.0, 3.0], [4.0], [0.0, 1.0, 1.0, 1.0]],
    )
    # -(alpha * mean_think + answer_alpha * mean_answer), empty phase = 0; verdicts not read
    assert REWARDS.get("pear")(g, alpha=0.1) == pytest.approx([-0.2, -0.2, -0.4, 0.0])
    got = REWARDS.get("pear")(g, alpha=0.1, answer_alpha=0.2)
    assert got == pytest.approx([-0.2 - 0.1, -0.2, -0.4, -0.2])


def test_pear_empty_entropies_and_missing_field():
    g = make_group(texts=["<think></think>"], correct=[T], entropies=[[]])
    assert REWARDS.get("pear")(g, alpha=1.0) == [0.0]
    with pytest.raises(UserError, match="entropies"):
        REWARDS.get("pear")(make_group(lengths=[3], correct=[T]), alpha=1.0)
