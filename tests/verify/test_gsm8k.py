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
