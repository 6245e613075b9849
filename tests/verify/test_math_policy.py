"""The math extraction policy, one finding per test (see tasks/math.py's docstring)."""

from fractions import Fraction

import pytest

from rewardkit.tasks.base import Defer
from rewardkit.tasks.math import MathTask, arithmetic_value, boxed_answers, simple_number
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
    # LaTeX's brace-less one-digit arguments
    assert simple_number("\\frac9{19}") == Fraction(9, 19) == simple_number("\\dfrac{9}{19}")
    assert simple_number("\\frac{9}1") == 9 and simple_number("\\frac123") is None
    # spaces between digits: a thousands separator only in groups of three
    assert simple_number("12 345") == 12345 and simple_number("1 2/3") is None


@pytest.mark.parametrize(("answer", "value"), [
    ("18 + 1", 19),                              # a sum
    ("2 + 3 \\times 4", 14),                     # x before +
    ("10 - 4 - 3", 3),                           # left to right
    ("2/3/4", Fraction(1, 6)),                   # / left to right
    ("-2 \\cdot -3", 6),                         # a leading minus on each operand
    ("7 \\div \\frac{1}{2} - 0.5", Fraction(27, 2)),  # \\div, \\frac and a decimal
    ("1 - 1", 0),
])
def test_arithmetic_of_simple_numbers_is_exact(answer, value):
    assert arithmetic_value(answer) == value


@pytest.mark.parametrize("answer", [
    "(1)", "2(3)", "2^3", "1 2", "1 +", "* 2", "--1", "1/0", "3/(1-1)", "\\frac{1}{0} + 1",
    "1,000 + 1", "x + 1", "\\sqrt{2} + 1", "",
])
def test_anything_else_is_no_arithmetic(answer):
    # brackets, powers, adjacent numbers, dangling or doubled operators, zero divisors
    assert arithmetic_value(answer) is None


def test_boxes_of_one_value_are_one_answer():
    # a box and its worked-out value agree (true only if they count as one answer); boxes of
    # different values are a spray even when the last one is right
    assert judge("12", "\\boxed{3 \\times 4} = \\boxed{12}",
                 "\\boxed{13} = \\boxed{3 \\times 4}") == [True, False]
    assert judge("0.5", "\\boxed{\\frac12} = \\boxed{0.5}") == [True]


def test_arithmetic_replies_are_judged_without_a_worker():
    task = MathTask()
    gold = task.parse_gold("18")
    assert task.triage(gold, "\\boxed{18 + 1}") == ("18 + 1", (False, "ok"))
    assert task.triage(gold, "\\boxed{3 \\times 6}") == ("3 \\times 6", (True, "ok"))
    # exact where math-verify 0.9.0's float product says no (2.42 x -7 is -16.94 = -847/50)
    assert task.triage(task.parse_gold("\\frac{-847}{50}"), "\\boxed{2.42 \\times -7}")[1] == (
        True, "ok")
    assert isinstance(task.triage(gold, "\\boxed{2(9)}")[1], Defer)  # left to math-verify
    assert judge("18", "\\boxed{18 + 1}", "\\boxed{20 - 2}") == [False, True]


def test_unparseable_gold_is_counted_not_wrong():
    task = MathTask()
    assert task.parse_gold("  ") is None
    g = verify_groups(task, [make_group(texts=["\\boxed{1}"], answer="\\frac{", task="math")])[0]
    assert g.correct == (None,) and g.status == ("unparseable_gold",)


def test_check_of_one_reply_uses_the_worker_and_its_deadline():
    # Task.check is what single-reply callers use (maj@k clustering, SFT's accuracy).
    task = MathTask()
    gold = task.parse_gold("(1,2)")
    assert task.check(gold, "\\boxed{(1, 2)}") == (True, "ok")  # deferred: math-verify
    assert task.check(gold, "\\boxed{1<x<2}") == (False, "ok")


# Found by a differential fuzzer (the caller's fast paths against exact evaluation and
# math-verify): each case was judged wrongly by a fast path before.
@pytest.mark.parametrize(("gold", "reply", "correct"), [
    # LaTeX spacing commands are spacing, not list separators
    ("9", "\\boxed{9\\,\\text{cm}}", True),
    ("3\\sqrt{13}", "\\boxed{3\\,\\sqrt{13}}", True),
    ("\\frac{14}{3}", "\\boxed{\\frac{14}{3}\\,}", True),
    ("-5", "\\boxed{-\\,5}", True),
    # digits grouped by three are one number also next to a unit
    ("1000", "\\boxed{1,000 \\text{ cm}}", True),
    # a comma and a space make a list, not a thousands separator, on either side
    ("1234", "\\boxed{1, 234}", False),
    ("1234", "\\boxed{1 ,234}", False),
    ("2, 300", "\\boxed{2300}", False),
    # digits apart are not one number written another way
    ("12/5", "\\boxed{1 2/5}", False),
    ("12/5", "\\boxed{1\\ 2/5}", False),
    ("1.5", "\\boxed{1. 5}", False),
    # \left and \right are dropped, \leftarrow and \rightarrow are not
    ("A \\rightarrow B", "\\boxed{A \\leftarrow B}", False),
    ("\\sqrt{2}", "\\boxed{\\sqr t{2}}", False),
])
def test_fast_path_cases_a_fuzzer_found(gold, reply, correct):
    assert judge(gold, reply) == [correct]


def test_a_gold_too_long_for_an_exact_value_goes_to_math_verify():
    gold = MathTask().parse_gold("7" * 5_000)  # int() refuses strings of over 4,300 digits
    assert gold.number is None and gold.single_valued
