"""Hand-computed cases for the n-gram repetition penalty (rewards/repetition.py)."""

from __future__ import annotations

import pytest

from rewardkit.errors import UserError
from rewardkit.registry import REWARDS
from rewardkit.rewards.repetition import completion_tokens, repeated_ngram_fraction
from rewardkit.testing import make_group
from rewardkit.types import Completion

T, F, N = True, False, None


@pytest.mark.parametrize(
    "tokens, n, expected",
    [
        # trigrams of a b c a b c: abc bca cab abc -> 3 distinct of 4 -> 1 - 3/4
        ("a b c a b c", 3, 0.25),
        # a a a a: bigrams aa aa aa -> 1 distinct of 3 -> 2/3
        ("a a a a", 2, 2 / 3),
        # all distinct
        ("a b c d", 2, 0.0),
        # shorter than n: no n-gram at all -> 0
        ("a b", 3, 0.0),
        ("", 1, 0.0),
        # unigrams: a b a -> 2 distinct of 3
        ("a b a", 1, 1 / 3),
    ],
)
def test_repeated_ngram_fraction(tokens, n, expected):
    assert repeated_ngram_fraction(tokens.split(), n) == pytest.approx(expected)


def test_repeated_ngram_fraction_rejects_n_below_one():
    with pytest.raises(UserError, match="ngram"):
        repeated_ngram_fraction(["a"], 0)


def test_repetition_reward_table():
    texts = ["a b c a b c", "a a a a", "a b c d", "x"]
    g = make_group(texts=texts, correct=[T, F, N, T])
    # default ngram 3, max_penalty -1: [-0.25, a a a a -> aaa aaa -> 1 - 1/2 = -0.5, 0, 0]
    # the None verdict does not matter: repetition never reads it
    assert REWARDS.get("repetition")(g) == pytest.approx([-0.25, -0.5, 0.0, 0.0])
    # bigrams with max_penalty -2: [1 - 3/5 = 0.4 -> -0.8, 1 - 1/3 -> -4/3, 0, 0]
    got = REWARDS.get("repetition")(g, ngram=2, max_penalty=-2.0)
    assert got == pytest.approx([-0.8, -4 / 3, 0.0, 0.0])


def test_token_ids_take_precedence_over_words():
    # the text has no repeat, the token ids do: 1 2 1 2 -> bigrams 12 21 12 -> 1 - 2/3
    c = Completion(text="one two three four", num_tokens=4, token_ids=(1, 2, 1, 2))
    assert completion_tokens(c) == (1, 2, 1, 2)
    assert repeated_ngram_fraction(completion_tokens(c), 2) == pytest.approx(1 / 3)
