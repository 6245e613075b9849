"""closed_form: numeric readings of closed-form answers, and the wrong replies they settle in
the caller's process. Each reading is checked by hand; the seeded comparison at the end checks
them against math-verify itself (its parse, and its verdict on every pair judged far apart)."""

import cmath
import math
import random

import pytest

from rewardkit.tasks.base import Defer
from rewardkit.tasks.closed_form import FAR, far_apart, readings
from rewardkit.tasks.math import MathTask

X = 1 + (ord("x") * 0.6180339887498949) % 1  # the fixed value of the letter x
I_SYMBOL = 1 + (ord("i") * 0.6180339887498949) % 1  # i read as a real symbol


def values(answer: str) -> list[complex]:
    read = readings(answer)
    assert read is not None, answer
    return [r.value for r in read]


@pytest.mark.parametrize(("answer", "expected"), [
    ("42", [42]),
    ("-2.5", [-2.5]),
    (".5", [0.5]),
    ("\\frac{3}{4}", [0.75]),
    ("\\dfrac34", [0.75]),  # brace-less one-digit arguments, as LaTeX reads them
    ("\\sqrt{16}", [4]),
    ("\\sqrt9", [3]),
    ("\\sqrt[3]{27}", [3]),
    ("\\sqrt{-4}", [2j]),  # the principal root, as sympy's
    ("11 \\sqrt{5} + 11", [11 * math.sqrt(5) + 11]),
    ("\\frac{\\sqrt{3}}{3}", [math.sqrt(3) / 3]),
    ("3\\pi", [3 * math.pi]),
    ("2^{10}", [1024]),
    ("-2^2", [-4]),  # the power binds first
    ("2 \\cdot 3 \\times 4 \\div 8", [3]),
    ("\\left(x+2\\right)(x+4)", [(X + 2) * (X + 4)]),
    ("6x^2-4x-24", [6 * X**2 - 4 * X - 24]),
    ("1+2i", [1 + 2j, 1 + 2 * I_SYMBOL]),  # the imaginary unit, or a real symbol
    ("30^\\circ", [30, math.pi / 6]),  # degrees dropped, or converted to radians
    ("30^{\\circ}", [30, math.pi / 6]),
    ("50\\%", [50, 0.5]),  # the percent sign dropped, or divided by 100
    ("2\\frac{1}{2}", [2.5, 1.0]),  # a mixed number, or a product
    ("-137 \\frac{1}{2}", [-137.5, -68.5]),
    ("(2)\\frac{1}{2}", [2.5, 1.0]),  # latex2sympy's mixed numbers: an integer, then a fraction
    ("2 \\cdot 3\\frac{1}{2}", [7, 3]),  # side by side binds tighter than \\cdot
    ("1/2x", [1 / (2 * X)]),  # and than /: 1/(2x), as latex2sympy reads it
    ("2\\frac{1}{2}x", [X]),  # 2 times x/2: the rest is no number
    ("2\\sqrt{3}", [2 * math.sqrt(3)]),  # an integer before a surely irrational root
    ("X + x", [2 * X]),  # latex2sympy lower-cases symbols
    ("1\\,000", None),  # digits side by side are not read (latex2sympy may add them)
    ("1 + 50 \\%", [51, 1.5]),  # one space before \\% is still the percent token
    ("\\left(1+2\\right)", [3]),
])
def test_readings_by_hand(answer, expected):
    if expected is None:
        assert readings(answer) is None
        return
    got = values(answer)
    assert len(got) == len(expected)
    for g, e in zip(sorted(got, key=abs), sorted(expected, key=abs)):
        assert cmath.isclose(g, e, rel_tol=1e-12), (answer, got)


@pytest.mark.parametrize("answer", [
    "\\{1, 2\\}", "(15,-29)", "(3,4]", "1,600", "x = 5", "\\text{Evelyn}", "15\\mbox{ cm}^2",
    "\\sin x", "ab",  # a word, or a product of letters
    "e", "2E", "I",  # Euler's number or a symbol; sympy's imaginary unit
    "18t", "5 m", "3 \\cdot 4s",  # units latex2sympy drops at the end
    "2(3)", "-23 (30)", "(-5)56262",  # latex2sympy sums these
    "f(x)", "x2",  # a function; a name
    "\\frac123", "2^34", "\\frac{1}{2}3",  # brace-less arguments latex2sympy reads otherwise
    "\\frac 1 x", "\\frac{x}y",  # 1 there, and unparsed
    "{y}",  # a set there
    "14^\\circ 3",  # 14 + 3 there
    "2^{3}^{2}", "a^b^c", "\\frac{1}{2}^2", "\\sqrt{2}^2",  # which part is raised is a guess
    "x\\%", "(-8)^{1/3}", "2^{-1}0", "1 2", "3.",
    "1 \\frac{1}{2} + 2 \\frac{1}{2}",  # two chains ending in a fraction
    "(2)(3)", "3\\sqrt{4}", "2\\,3\\,4", "\\frac{2}{2}(3)",  # sums there, not products
    "1\\!2", "3~ 2", "\\frac{1}{2} .5", "2+ 30 ^ \\circ", "\\sqrt[4]3",  # normalised otherwise
    "\\left5 + 3", "d\\pi", "d \\tfrac16", "\\pi(x)", "t^{-1}(x)", "--2", "(x + a )",
    "2^{T}", "x^T + 1",  # the transpose there: 2^{T} is 2
    "1 + 50\\,\\%", "1 + 30^{\\,\\circ}", "30^{\\circ }",  # no percent or degree token there
    "\\sqrt\\,{4} + 6", "\\frac7\\,{2} + 8", "- 5\\ ",  # its rewrites take the \\ as an argument
    "1/0", "\\frac{1}{0}", "0^{-1}", "10^{300}", "2^{1000}",
    "(" * 40 + "1" + ")" * 40, "1+" * 200 + "1",
])
def test_outside_the_grammar_is_not_read(answer):
    assert readings(answer) is None


def test_far_apart_leaves_math_verify_its_tolerance():
    third = readings("\\frac{\\sqrt{3}}{3}")
    assert not far_apart(third, readings("0.577350"))  # math-verify rounds to 6 decimals
    assert far_apart(third, readings("0.5773"))
    assert far_apart(readings("\\sqrt{2}"), readings("1.41"))
    big = readings("10^{20}")
    assert not far_apart(big, readings(f"{10**20 * (1 + FAR / 2):.0f}"))
    assert far_apart(big, readings(f"{10**20 * (1 + FAR * 2):.0f}"))
    assert not far_apart(None, big) and not far_apart(big, None)


def test_every_reading_must_be_far():
    assert not far_apart(readings("30^\\circ"), readings("30"))
    assert not far_apart(readings("30^\\circ"), readings("\\frac{\\pi}{6}"))
    assert far_apart(readings("30^\\circ"), readings("31"))
    assert not far_apart(readings("50\\%"), readings("0.5"))
    assert not far_apart(readings("1+2i"), readings(f"1+{2 * I_SYMBOL!r}"))
    assert far_apart(readings("1+274i"), readings("804"))


def test_rounding_error_is_allowed_for():
    # 10^20 + 1 - 10^20 is 1; in floats it is 0, off by all of it
    cancel = readings("10^{20} + 1 - 10^{20}")
    assert cancel[0].value == 0
    assert not far_apart(cancel, readings("1"))


def test_math_task_settles_far_values_in_the_caller_and_defers_close_ones():
    task = MathTask()
    gold = task.parse_gold("\\frac{\\sqrt{3}}{3}")
    assert task.triage(gold, "\\boxed{367}") == ("367", (False, "ok"))
    assert task.triage(gold, "\\boxed{\\frac{\\sqrt{3}}{3} + 1}")[1] == (False, "ok")
    assert isinstance(task.triage(gold, "\\boxed{\\frac{1}{\\sqrt{3}}}")[1], Defer)  # equal
    degrees = task.parse_gold("145^\\circ")
    assert task.triage(degrees, "\\boxed{183}")[1] == (False, "ok")
    assert isinstance(task.triage(degrees, "\\boxed{145}")[1], Defer)
    assert isinstance(task.triage(degrees, "\\boxed{\\frac{29\\pi}{36}}")[1], Defer)
    sets = task.parse_gold("(15,-29)")  # outside the grammar: math-verify decides
    assert isinstance(task.triage(sets, "\\boxed{600}")[1], Defer)


# --- against math-verify itself ---------------------------------------------------------------

LETTERS = "abnrxykiAXY"
SEPARATORS = ["", "", "", " ", "\\,", "\\;", "\\ ", "\\!", "~", "\\cdot ", "\\times ", "*", "/",
              "\\div "]


def _answer(rng: random.Random, depth: int = 0) -> str:
    """A random answer over the grammar's pieces, with what latex2sympy reads in its own way:
    integers side by side with brackets and fractions, spacing commands, brace-less arguments,
    upper-case letters, units, degrees, signs."""
    def number():
        return rng.choice([str(rng.randint(0, 12)), str(rng.randint(13, 999)), ".5", "0.50",
                           f"{rng.randint(0, 99)}.{rng.randint(1, 99)}"])

    def sub():
        return _answer(rng, depth + 1)

    def atom():
        c = rng.random()
        if depth > 1 or c < 0.35:
            return number()
        if c < 0.48:
            return rng.choice(LETTERS + "tsmd")
        if c < 0.52:
            return "\\pi"
        if c < 0.64:
            return rng.choice(["\\frac", "\\dfrac"]) + rng.choice([
                f"{{{sub()}}}{{{sub()}}}", f"{rng.randint(1, 9)}{rng.randint(1, 9)}",
                f"{{{sub()}}}{rng.randint(1, 9)}", f"{{{rng.randint(1, 12)}}}{{{rng.randint(1, 6)}}}",
                f" {rng.randint(1, 9)} {rng.choice(LETTERS)}"])
        if c < 0.72:
            return rng.choice(["\\sqrt", "\\sqrt\\,"]) + rng.choice([f"{{{sub()}}}", str(rng.randint(1, 9)),
                                          f"[{rng.randint(2, 3)}]{{{sub()}}}",
                                          f"[{rng.randint(2, 3)}]{rng.randint(1, 9)}"])
        if c < 0.84:
            return rng.choice(["({})", "\\left({}\\right)", "( {} )"]).format(sub())
        if c < 0.92:
            return f"({rng.randint(-2, 5)})"  # an integer in brackets
        return "{" + sub() + "}"

    def factor():
        a = atom()
        c = rng.random()
        if c < 0.15:
            a += "^" + rng.choice([f"{{{sub()}}}", str(rng.randint(0, 9)), rng.choice(LETTERS),
                                   f"{{{rng.randint(-2, 3)}}}", "T", "{T}"])
        elif c < 0.2:
            a += rng.choice(["^\\circ", "^{\\circ}", " ^ \\circ", "^{\\,\\circ}", "^{\\circ }"])
        elif c < 0.23:
            a += rng.choice(["\\%", " \\%", "\\,\\%"])
        return rng.choice(["", "", "", "", "-", "--", "+"]) + a

    out = factor()
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        out += rng.choice(SEPARATORS) + factor()
    for _ in range(rng.choice([0, 0, 1, 2])):
        out += rng.choice(["+", "-", " + "]) + factor()
    return out + rng.choice(["", "", "", "", " .5", "\\!0", " a )"])


def _math_verify_value(answer: str) -> complex | None:
    """The value of math-verify's parse of a boxed answer, letters at closed_form's values."""
    import sympy

    from rewardkit.tasks.math import _parse_gold_once

    parsed = _parse_gold_once(answer)
    if parsed is None or not isinstance(parsed[0], sympy.Expr):
        return None
    expr = parsed[0].replace(lambda e: isinstance(e, sympy.UnevaluatedExpr), lambda e: e.args[0])
    at = {s: 1 + (ord(s.name) * 0.6180339887498949) % 1 for s in expr.free_symbols}
    return complex(sympy.N(expr.subs(at), 30))


def test_readings_agree_with_math_verify_on_generated_answers():
    """Every answer read here is read to the value math-verify's parse has (under one of the
    readings). Generated answers cover the forms latex2sympy reads its own way; taking out the
    grammar's refusals one at a time (2(3), 1\\!2, X, a ), ...) makes this fail."""
    rng = random.Random(7)
    read = 0
    for _ in range(4000):
        answer = _answer(rng)
        ours = readings(answer)
        if ours is None:
            continue
        read += 1
        theirs = _math_verify_value(answer)
        assert theirs is not None, answer  # math-verify parses what is read here
        assert any(abs(theirs - r.value) <= 1e-7 * max(1, abs(theirs)) + r.error for r in ours), (
            answer, theirs, [r.value for r in ours])
    assert read > 250


def test_pairs_judged_far_apart_are_wrong_in_math_verify():
    rng = random.Random(11)
    task, checked = MathTask(), 0
    forms = ["{a}\\sqrt{{{b}}}", "\\frac{{{a}\\sqrt{{{b}}}}}{{{c}}}", "{a}+{b}i", "{a}^\\circ",
             "{a}\\%", "{a} \\frac{{{b}}}{{{c}}}", "{a}\\pi", "x^2 + {a}x - {b}", "\\sqrt{{{a}}}",
             "\\frac{{\\pi}}{{{a}}}", "{a}\\left(y+{b}\\right)", "\\frac{{1}}{{\\sqrt{{{a}}}}}"]
    while checked < 60:
        gold, reply = (rng.choice(forms).format(a=rng.randint(1, 12), b=rng.randint(2, 30),
                                                c=rng.randint(2, 9)) for _ in range(2))
        if rng.random() < 0.3:
            reply = gold + " + 1"
        if not far_apart(readings(gold), readings(reply)):
            continue
        checked += 1
        assert task.decide(gold, f"\\boxed{{{reply}}}") == (False, "ok"), (gold, reply)
