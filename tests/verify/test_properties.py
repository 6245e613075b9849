"""Properties of the caller-side verdicts on generated answers (seeded, about a second).

A verdict the caller settles without math-verify must be the exact truth. Differential fuzzers
(2026-12-03: 240k `math`, 186k `gsm8k`/`number`/`choice`/`text` and 106k `toolcall` pairs against
exact evaluation and math-verify) found eleven classes of wrong verdicts in these fast paths;
the cases they found are pinned in `*_a_fuzzer_found` tests, and these properties cover the
numeric forms around them, so that a new fast path cannot quietly get a value wrong.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal
from fractions import Fraction

import pytest

from rewardkit.tasks import get_task
from rewardkit.tasks.base import Defer
from rewardkit.types import Problem

SEED, N = 0, 1_500


def _decimal(value: Fraction) -> str | None:
    """`value` as an exact decimal, or None if it has none (1/3)."""
    d = value.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d != 1:
        return None
    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _frac(value: Fraction) -> str:
    """`value` >= 0 as a decimal where it has one, else as \\frac{p}{q}."""
    return _decimal(value) or f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def _latex_forms(value: Fraction, rng: random.Random) -> list[str]:
    """Ways a model writes `value` exactly in a math box, with spacing and a period around."""
    sign, p, q = ("-" if value < 0 else ""), abs(value.numerator), value.denominator
    forms = [f"{sign}\\frac{{{p}}}{{{q}}}", f"{sign}\\dfrac{{{p}}}{{{q}}}", f"{sign}{p}/{q}",
             f"\\frac{{{sign}{p}}}{{{q}}}"]
    if (dec := _decimal(value)) is not None:
        forms += [dec, dec + "0" if "." in dec else dec + ".0"]
    if q == 1:
        forms += [f"{sign}{p:,}", f"{sign}{p}"]
    a = rng.randint(-50, 50)  # a sum or difference of the same value
    rest = value - a
    forms.append(f"{a} + {_frac(rest)}" if rest >= 0 else f"{a} - {_frac(-rest)}")
    spacing = rng.choice(["", "\\,", "\\;", "\\!", " "])
    return [rng.choice(["", spacing]) + f + rng.choice(["", spacing, "."]) for f in forms]


def _value(rng: random.Random) -> Fraction:
    return Fraction(rng.randint(-3_000, 3_000), rng.choice([1, 1, 2, 3, 4, 5, 8, 10, 25, 7]))


def test_math_settles_numbers_only_with_their_exact_value():
    rng, task, settled = random.Random(SEED), get_task("math"), 0
    for _ in range(N):
        gold_value = _value(rng)
        gold = rng.choice(_latex_forms(gold_value, rng)).strip(" .")
        same = rng.random() < 0.5
        value = gold_value if same else gold_value + rng.choice([1, -1, Fraction(1, 2), 10, 1000])
        reply = f"<think>work</think> So \\boxed{{{rng.choice(_latex_forms(value, rng))}}}."
        _, verdict = task.triage(task.parse_gold(gold), reply)
        if not isinstance(verdict, Defer):
            settled += 1
            assert verdict == (same, "ok"), (gold, reply)
    assert settled > N // 3  # the fast paths do settle many of these (682 of 1,500)


@pytest.mark.parametrize("gold", ["12", "1234", "100"])
def test_math_never_settles_digits_apart_or_a_list_as_the_joined_number(gold):
    task = get_task("math")
    g = task.parse_gold(gold)
    joined = [gold[:i] + sep + gold[i:] for i in range(1, len(gold)) for sep in (" ", ", ", "\\ ")]
    for form in joined:
        if re.fullmatch(r"\d{1,3}( \d{3})+", form):  # "1 234": digits grouped by three, a number
            continue
        _, verdict = task.triage(g, f"\\boxed{{{form}}}")
        assert isinstance(verdict, Defer) or verdict[0] is False, form


def _gsm8k_forms(value: Fraction, boxed: bool) -> list[str]:
    """Ways a word problem's answer is written for `value` (an integer or a half); outside a
    box only numbers, since there the last number of the reply is the answer."""
    sign, whole = ("-" if value < 0 else ""), abs(value)
    minus = ["-", "\u2212", "-\\$"]
    if whole.denominator == 1:
        n = whole.numerator
        body = [f"{n:,}", f"{n}", f"{n}.00"]
        if boxed:
            body += [f"\\${n:,}", f"{n} dollars", f"{n:,} \\text{{ cm}}"]
        if boxed and n % 1000 == 0 and n:
            body.append(f"{n // 1000} thousand")
    else:
        body = [_decimal(whole)]
        if boxed:
            body += [f"{whole.numerator // 2} 1/2", f"{whole.numerator}/2"]
    return [m + b for b in body for m in (minus if sign else [""])]


def test_gsm8k_reads_numbers_as_their_exact_value():
    rng, task = random.Random(SEED), get_task("gsm8k")
    for _ in range(N):
        gold_value = Fraction(rng.choice([rng.randint(-5_000, 5_000), 1000 * rng.randint(1, 9)]),
                              rng.choice([1, 1, 1, 2]))
        same = rng.random() < 0.5
        value = gold_value if same else gold_value + rng.choice([1, -1, Fraction(1, 2), 1000])
        if rng.random() < 0.5:
            reply = f"\\boxed{{{rng.choice(_gsm8k_forms(value, boxed=True))}}}"
        else:  # a range's hyphen and a comma list before the answer are no part of it
            reply = f"It takes 3-4 days, 3,4 or so. The answer is {rng.choice(_gsm8k_forms(value, boxed=False))}."
        gold = _decimal(gold_value)
        assert task.check(task.parse_gold(gold), reply) == (same, "ok"), (gold, reply)


def test_number_tolerance_is_exactly_the_documented_one():
    rng, task = random.Random(SEED), get_task("number")
    for _ in range(N):
        gold = Fraction(rng.randint(-10**6, 10**6), rng.choice([1, 10, 1000]))
        rel_tol = rng.choice(["0", "0.000001", "0.001", "0.01", "0.1"])
        k = rng.choice([0, Fraction(1, 2), 1, Fraction(3, 2), 2])
        pred = gold + rng.choice([1, -1]) * k * Fraction(rel_tol) * abs(gold)
        g = task.gold_of(Problem("p", "q", _decimal(gold), meta={"rel_tol": float(rel_tol)}))
        want = abs(pred - gold) <= Fraction(rel_tol) * abs(gold)
        assert task.check(g, f"\\boxed{{{_decimal(pred)}}}") == (want, "ok"), (gold, pred, rel_tol)
