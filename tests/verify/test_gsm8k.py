"""gsm8k answers: units, currency, percent, thousands separators, trailing periods."""

import pytest

from rewardkit.testing import make_group
from rewardkit.verify import verify_groups


def judge(gold, *replies):
    g = verify_groups("gsm8k", [make_group(texts=list(replies), answer=gold, task="gsm8k")])[0]
    return list(g.correct)


@pytest.mark.parametrize("reply", [
    "\\boxed{18 \\text{ dollars}}", "\\boxed{\\$18}", "\\boxed{18.00}", "\\boxed{18 dollars}",
    "\\boxed{\\$18.}", "The answer is 18 dollars.", "#### $18.", "\\boxed{\\text{\\$}18}",
])
def test_units_and_currency_around_the_number_are_ignored(reply):
    assert judge("18", reply) == [True]


def test_percent_and_thousands_separators():
    assert judge("25", "\\boxed{25\\%}", "\\boxed{25%}", "\\boxed{0.25}") == [True, True, False]
    assert judge("1234", "\\boxed{1,234}", "\\boxed{1{,}234}", "\\boxed{1\\,234}",
                 "\\boxed{1,23}", "\\boxed{12,34}") == [True, True, True, False, False]


def test_a_box_with_two_numbers_or_an_expression_is_wrong():
    assert judge("18", "\\boxed{18 or 20}", "\\boxed{9 \\times 2}", "\\boxed{18, 20}") == [
        False, False, False]


def test_gold_with_separators_from_the_data():
    assert judge("1,600", "\\boxed{1600}", "so 1,600.") == [True, True]


def test_sprayed_boxes_are_wrong_repeated_ones_are_not():
    assert judge("3", "\\boxed{1} \\boxed{2} \\boxed{3}", "\\boxed{1} or \\boxed{3}",
                 "\\boxed{3} so \\boxed{3.0}", "\\boxed{1}" * 21 + "\\boxed{3}") == [
        False, False, True, False]


def test_repeated_boxes_of_zero_agree():
    # 0 and 0.0 are one value (a falsy Fraction(0) must not fall back to the text)
    assert judge("0", "\\boxed{0} so \\boxed{0.0}", "\\boxed{0} \\boxed{1}") == [True, False]


# Found by a differential fuzzer; each was judged wrongly before.
@pytest.mark.parametrize(("gold", "reply", "correct"), [
    ("7", "\\boxed{2 1/3}", False),  # a mixed number, not 21/3
    ("1.5", "\\boxed{1 1/2}", True),
    ("1.5", "\\boxed{1\\frac{1}{2}}", True),
    ("3", "\\boxed{3 thousand}", False),  # scale words scale
    ("3000", "\\boxed{3 thousand}", True),
    ("48", "\\boxed{4 dozen}", True),
    ("2", "\\boxed{2 squared}", False),  # other value words make it no plain number
    ("3", "\\boxed{3 and a half}", False),
    ("5", "The answer is \u22125.", False),  # the sign is kept outside a box too
    ("-5", "The answer is \u22125.", True),
    ("5", "So the answer is -$5.", False),
    ("-5", "So the answer is -$5.", True),
    ("34", "The answer is 3,4", False),  # a comma between other than groups of three
    ("-5", "It takes 3-5 days.", False),  # a range's hyphen is no sign
    ("2", "The answer is 2.5e2", False),  # the exponent is part of the number
])
def test_cases_a_fuzzer_found(gold, reply, correct):
    assert judge(gold, reply) == [correct]


def test_a_runaway_number_is_wrong_not_an_error():
    g = verify_groups("gsm8k", [make_group(texts=["1" * 5000, "\\boxed{" + "0" * 5000 + "}"],
                                           answer="0", task="gsm8k")])[0]
    assert list(g.correct) == [False, False] and set(g.status) == {"ok"}
