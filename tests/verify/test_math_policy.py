"""The math extraction policy, one finding per test (see tasks/math.py's docstring)."""

import pytest

from rewardkit.tasks.math import MathTask, boxed_answers, simple_number
from rewardkit.testing import make_group
from rewardkit.verify import verify_groups


def judge(gold, *replies):
    g = verify_groups("math", [make_group(texts=list(replies), answer=gold, task="math")])[0]
    return list(g.correct)


def test_final_box_after_think_wins():
    assert judge("5", "<think>\\boxed{4}</think>\\boxed{5}", "<think>\\boxed{5}</think>\\boxed{4}",
                 "<think>\\boxed{5}</think> no box here") == [True, False, False]


@pytest.mark.parametrize("reply", [
    "\\boxed{1}, \\boxed{2}, \\boxed{3}", "\\boxed{1} or \\boxed{3}", "\\boxed{3} \\boxed{4}",
    "\\boxed{1,2,3}", "\\boxed{1 \\text{ or } 3}", "\\boxed{\\pm 3}", "\\boxed{3 or -3}",
    "\\boxed{\\mp 3}", "\\boxed{3; 4}",
])
def test_sprays_and_alternatives_are_wrong_against_a_single_valued_gold(reply):
    assert judge("3", reply) == [False]


def test_alternatives_allowed_when_the_gold_has_them():
    assert judge("3 \\pm 2\\sqrt{2}", "\\boxed{3 \\pm 2 \\sqrt{2}}") == [True]
    assert judge("1, 3", "\\boxed{3, 1}") == [True]


def test_math_verify_false_positive_with_upright_e_is_rejected():
    # math-verify 0.9.0 alone: verify(parse(gold), parse(reply)) is True for these (PR #82).
    assert judge("1+\\frac{1}{\\mathrm{e}}", "\\boxed{1-\\frac{1}{\\mathrm{e}}}") == [False]
    assert judge("1+\\frac{1}{e}", "\\boxed{1-\\frac{1}{\\mathrm{e}}}") == [False]
    assert judge("1+\\frac{1}{\\mathrm{e}}", "\\boxed{1+\\frac{1}{e}}") == [True]


def test_verify_keeps_gold_first_so_an_interval_rejects_an_inequality_echo():
    # Swapped, math-verify accepts: verify(parse("1<x<2"), parse("(1,2)")) is True.
    assert judge("(1,2)", "\\boxed{1<x<2}", "\\boxed{(1,2)}") == [False, True]


def test_look_alike_digits_are_wrong():
    assert judge("3", "\\boxed{３}", "\\boxed{𝟑}", "\\boxed{٣}", "\\boxed{𝑥=3}") == [False] * 4


def test_boxes_are_found_in_linear_time_and_sprays_capped():
    assert boxed_answers("\\boxed{" * 5000) == []
    assert boxed_answers("\\boxed{1}" * 21) is None
    assert boxed_answers("\\boxed{a}\\fbox{b}") == ["a", "b"]


def test_simple_numbers_are_exact():
    # 1/8 = 0.125 exactly; 1/3 is not 0.333; "1{,}000" is LaTeX for 1,000.
    assert simple_number("\\frac{1}{8}") == simple_number("0.125")
    assert simple_number("\\frac13") != simple_number("0.333")
    assert simple_number("1{,}000") == 1000 and simple_number("x") is None


def test_unparseable_gold_is_counted_not_wrong():
    task = MathTask()
    assert task.parse_gold("  ") is None
    g = verify_groups(task, [make_group(texts=["\\boxed{1}"], answer="\\frac{", task="math")])[0]
    assert g.correct == (None,) and g.status == ("unparseable_gold",)
