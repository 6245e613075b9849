"""Eval metrics against hand-computed values (working in the comments) and exact references."""

from __future__ import annotations

import math
from itertools import combinations

import pytest

from rewardkit.eval.metrics import (
    accuracy_per_1k_tokens,
    budget_accuracy,
    by_difficulty,
    ks_for,
    maj_at_k,
    majority_answer,
    pass_at_k,
    summarize,
    token_stats,
    truncated_frac,
    vote_keys,
)


# -- pass@k ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (5, 2, 1, 2 / 5),  # pass@1 = c / n
        # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (5, 2, 2, 0.7),
        # 1 - C(3,3)/C(5,3) = 1 - 1/10
        (5, 2, 3, 0.9),
        (5, 2, 4, 1.0),  # n - c = 3 < k = 4: every 4-subset holds a correct sample
        (5, 0, 3, 0.0),  # nothing correct
        (5, 5, 1, 1.0),
        # 1 - C(6,4)/C(10,4) = 1 - 15/210 = 13/14
        (10, 4, 4, 13 / 14),
    ],
)
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_equals_enumeration():
    # The definition: over all k-subsets of the n samples, the share with at least one correct.
    for n in range(1, 8):
        for c in range(n + 1):
            samples = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                subsets = list(combinations(samples, k))
                share = sum(any(s) for s in subsets) / len(subsets)
                assert pass_at_k(n, c, k) == pytest.approx(share, abs=1e-12), (n, c, k)


def test_pass_at_k_is_stable_where_binomials_overflow_floats():
    # C(1000, 500) ~ 2.7e299 and C(2000, 1000) overflows a float; the exact ratio with integers:
    n, c, k = 2000, 3, 1000
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)  # Python ints: exact, then one division
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-12)
    # and it is 1 - (1000/2000)(999/1999)(998/1998) by the product form
    assert exact == pytest.approx(1 - (1000 / 2000) * (999 / 1999) * (998 / 1998), rel=1e-12)


@pytest.mark.parametrize("n, c, k", [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_ks_for():
    assert ks_for(1) == [1]
    assert ks_for(5) == [1, 2, 4, 5]
    assert ks_for(16) == [1, 2, 4, 8, 16]


# -- maj@k ----------------------------------------------------------------------------------------
def test_majority_answer_ignores_whitespace_and_none():
    # votes: "1 / 2" and "1/2" are the same key "1/2" (2 votes); "3" has 1; None does not vote
    assert majority_answer(["3", "1 / 2", None, "1/2"]) == 1


def test_majority_tie_goes_to_first_seen_not_to_the_correct_one():
    answers = ["5", "7", "7", "5"]  # 2-2 tie, "5" seen first
    correct = [False, True, True, False]
    assert majority_answer(answers) == 0
    assert maj_at_k(answers, correct, 4) == 0.0  # the tie rule must not peek at the gold


def test_maj_at_k_hand_computed():
    answers = ["12", "15", "15", None, "12", "12"]
    correct = [True, False, False, False, True, True]
    assert maj_at_k(answers, correct, 1) == 1.0  # only "12"
    assert maj_at_k(answers, correct, 2) == 1.0  # 1-1 tie, "12" first
    assert maj_at_k(answers, correct, 3) == 0.0  # "15" x2 beats "12" x1
    assert maj_at_k(answers, correct, 4) == 0.0  # None adds no vote: still "15"
    assert maj_at_k(answers, correct, 5) == 1.0  # 2-2 tie, "12" first
    assert maj_at_k(answers, correct, 6) == 1.0  # "12" x3


def test_maj_at_k_no_answers_or_unjudged_winner_is_wrong():
    assert maj_at_k([None, None], [False, False], 2) == 0.0
    assert maj_at_k(["4", "4"], [None, None], 2) == 0.0


# -- tokens, truncation, budgets ------------------------------------------------------------------
def test_token_stats_hand_computed():
    s = token_stats([100, 200, 300, 1000], [True, True, False, None])
    assert s["mean_tokens"] == 400.0  # 1600 / 4
    assert s["median_tokens"] == 250.0  # (200 + 300) / 2
    assert s["mean_tokens_correct"] == 150.0  # (100 + 200) / 2
    assert s["mean_tokens_wrong"] == 650.0  # None counts as wrong: (300 + 1000) / 2
    assert s["median_tokens_wrong"] == 650.0


def test_token_stats_empty_subset_is_nan():
    s = token_stats([5, 7], [False, False])
    assert math.isnan(s["mean_tokens_correct"]) and s["mean_tokens_wrong"] == 6.0


def test_truncation_and_accuracy_per_1k():
    assert truncated_frac(["length", "stop", "stop"]) == pytest.approx(1 / 3)
    assert accuracy_per_1k_tokens(0.5, 250.0) == 2.0  # 0.5 / 0.25
    assert math.isnan(accuracy_per_1k_tokens(0.5, 0.0))


def test_budget_accuracy_counts_only_finished_within_budget():
    tokens = [80, 120, 300, 512, 200]
    finish = ["stop", "stop", "stop", "length", "stop"]
    correct = [True, True, True, True, False]
    got = budget_accuracy(tokens, finish, correct, [64, 100, 128, 512])
    # B=64: none; B=100: sample 0; B=128: samples 0,1; B=512: 0,1,2 (3 is truncated, 4 is wrong)
    assert got == {64: 0.0, 100: 0.2, 128: 0.4, 512: 0.6}


# -- summarize ------------------------------------------------------------------------------------
def _rows():
    # problem a: 4 samples, 2 correct; b: 4 samples, 0 correct (one unjudged)
    return [
        dict(problem_id="a", tokens=10, finish_reason="stop", correct=False, answer="1",
             difficulty="easy"),
        dict(problem_id="a", tokens=20, finish_reason="stop", correct=True, answer="2",
             difficulty="easy"),
        dict(problem_id="a", tokens=30, finish_reason="stop", correct=True, answer="2",
             difficulty="easy"),
        dict(problem_id="a", tokens=40, finish_reason="length", correct=False, answer=None,
             difficulty="easy"),
        dict(problem_id="b", tokens=50, finish_reason="stop", correct=False, answer="9",
             difficulty="hard"),
        dict(problem_id="b", tokens=60, finish_reason="stop", correct=None, answer="8",
             difficulty="hard"),
        dict(problem_id="b", tokens=70, finish_reason="stop", correct=False, answer="9",
             difficulty="hard"),
        dict(problem_id="b", tokens=80, finish_reason="length", correct=False, answer=None,
             difficulty="hard"),
    ]


def test_summarize_hand_computed():
    s = summarize(_rows(), n=4, budgets=[25, 100])
    assert s["accuracy"] == 0.25  # 2 / 8
    assert s["unjudged_frac"] == 0.125
    assert s["pass@1"] == pytest.approx(0.25)  # mean(2/4, 0/4)
    assert s["pass@2"] == pytest.approx((1 - 1 / 6 + 0) / 2)  # a: 1 - C(2,2)/C(4,2); b: 0
    assert s["pass@4"] == 0.5  # a: 1, b: 0
    assert "pass@3" not in s
    assert s["maj@1"] == 0.0  # a: "1" wrong; b: "9" wrong
    assert s["maj@2"] == 0.0  # a: 1-1 tie -> "1" first, wrong
    assert s["maj@4"] == 0.5  # a: "2" x2 wins, correct; b: "9" x2 wins, wrong
    assert s["mean_tokens"] == 45.0  # 360 / 8
    assert s["mean_tokens_correct"] == 25.0  # (20 + 30) / 2
    assert s["mean_tokens_wrong"] == pytest.approx(310 / 6)  # (360 - 50) / 6
    assert s["truncated_frac"] == 0.25
    assert s["accuracy_per_1k_tokens"] == pytest.approx(0.25 / 0.045)
    assert s["budgets"] == {"25": 0.125, "100": 0.25}  # B=25: only the 20-token correct one
    rows = {r["difficulty"]: r for r in s["by_difficulty"]}
    assert rows["easy"]["accuracy"] == 0.5 and rows["hard"]["accuracy"] == 0.0
    assert rows["easy"]["pass@4"] == 1.0 and rows["easy"]["num_problems"] == 1
    assert rows["hard"]["mean_tokens"] == 65.0


def test_by_difficulty_numeric_order_and_absent():
    rows = [dict(problem_id=str(i), tokens=1, finish_reason="stop", correct=True, difficulty=d)
            for i, d in enumerate([10, 2, 1])]
    assert [r["difficulty"] for r in by_difficulty(rows, n=1)] == [1, 2, 10]
    assert by_difficulty([dict(problem_id="x", tokens=1, finish_reason="stop", correct=True)],
                         n=1) == []


# -- repeated problems: group by occurrence (issue 11 #15, review B7) -----------------------------
def _repeated_rows(*, with_group: bool = True, with_sample: bool = True):
    # Problem "a" drawn twice (0/4 correct, then 4/4), problem "b" once (0/4): 3 draws x 4 samples.
    draws = [("a", 1, False, "3"), ("a", 1, True, "5"), ("b", 2, False, "7")]
    rows = []
    for g, (pid, difficulty, ok, answer) in enumerate(draws):
        for i in range(4):
            row = dict(problem_id=pid, tokens=10, finish_reason="stop", correct=ok,
                       answer=answer, difficulty=difficulty)
            if with_group:
                row["group"] = g
            if with_sample:
                row["sample"] = i
            rows.append(row)
    return rows


@pytest.mark.parametrize("with_group", [True, False])  # False: an old samples.jsonl
def test_repeated_problem_counts_once_per_draw(with_group):
    s = summarize(_repeated_rows(with_group=with_group), n=4)
    assert s["accuracy"] == pytest.approx(1 / 3)  # 4 correct of 12
    # per draw: pass@k = 0, 1, 0 for every k (c = 0 or c = n), so each mean is 1/3;
    # pooled by id "a" would be n=8, c=4: pass@1 = 1/2 for "a", mean 1/4 != accuracy
    assert s["pass@1"] == pytest.approx(1 / 3) == pytest.approx(s["accuracy"])
    assert s["pass@2"] == pytest.approx(1 / 3)
    assert s["pass@4"] == pytest.approx(1 / 3)
    # maj@4 per draw: "3" wrong, "5" right, "7" wrong -> 1/3 (pooled: first 4 of "a" -> 0)
    assert s["maj@4"] == pytest.approx(1 / 3)
    assert s["num_groups"] == 3
    d1 = s["by_difficulty"][0]
    # difficulty 1 holds the two draws of "a": pass@4 = mean(0, 1) (pooled: 1 - 1/C(8,4))
    assert (d1["difficulty"], d1["num_problems"], d1["pass@4"]) == (1, 2, 0.5)


def test_rows_without_group_or_sample_group_by_consecutive_id():
    # No way to tell the draws of "a" apart: they pool (n=8, c=4), "b" stays apart.
    s = summarize(_repeated_rows(with_group=False, with_sample=False), n=4)
    assert s["num_groups"] == 2
    # "a": 1 - C(4,4)/C(8,4) = 1 - 1/70; "b": 0
    assert s["pass@4"] == pytest.approx((1 - 1 / 70) / 2)


def test_vote_keys_use_the_given_equivalence_in_reference_order():
    seen = []

    def same(reference, other):
        seen.append((reference, other))
        return reference.lower() == other.lower()

    keys = vote_keys(["A", "b", None, "a", "B", "c"], [False, False, False, False, None, True],
                     same)
    # "A" opens 1, "b" opens 2, None: no vote, "a" joins 1, "B" (unjudged) joins 2, correct: 0
    assert keys == [1, 2, None, 1, 2, 0]
    assert ("A", "a") in seen and ("a", "A") not in seen  # the representative goes first
    # maj@k over these keys: 1 and 2 tie 2-2 over the first 5, key 1 came first (wrong)
    assert maj_at_k(keys, [False, False, False, False, None, True], 5) == 0.0
