"""`math`: competition math (MATH-500 and the like), checked by math-verify in worker processes.

Extraction policy (what counts as the reply's answer):

- The answer region is the text after the last `</think>` (the whole reply if there is none).
- The last `\\boxed{}` (or `\\fbox{}`) in the answer region is the answer. If the region has
  several boxed answers that differ (after removing spacing, `\\left`/`\\right`, a trailing
  period, `\\dfrac`->`\\frac`: see `_normal`; and unless all are numbers of one value, like
  `\\frac12` and `0.5`, or `3 \\times 4` and `12`), the reply is wrong: spraying candidates is
  not answering.
  More than `MAX_BOXES` boxes, or a box longer than `MAX_ANSWER_CHARS`, is also wrong.
- When the gold is single-valued (no top-level comma or semicolon, no " or ", no `\\pm`), an
  answer that lists alternatives is wrong: " or ", "\\text{or}", `\\pm`/`\\mp`, a top-level
  comma or semicolon ("1, 2, 3", "1, 234"); "1,000" with three-digit groups is a number, not
  a list (also beside a unit: "1,000 \\text{ cm}"), and `\\,` or `\\;` is spacing.
- An answer written with look-alike digits or letters (digits of other scripts, fullwidth
  forms, mathematical alphanumerics such as `𝟑` or `𝑥`) is wrong: normalising them would let
  visually deceptive answers through, and a model is asked for plain LaTeX.
- Without any box, math-verify's own extraction reads the last 300 characters of the region.

Verdicts: plain integers, decimals and simple fractions (`3`, `-0.25`, `1,000`, `\\frac{3}{4}`,
`-3/4`), and sums, differences, products and quotients of them without brackets (`18 + 1`,
`3 \\times 4 - 2`), on both sides compare exactly in the caller's process, without sympy; an
answer written exactly as the gold (up to spacing, `\\left`/`\\right`, `\\dfrac`; a space
between two letters, digits or periods counts: "1 2/5" is not "12/5") is correct there too.
A reply whose numeric value is far from the gold's is wrong there too, when both are closed
forms such as `\\frac{\\sqrt{3}}{3}`, `1+274i` or `6r^2-4r-24` (see `closed_form`: letters
take fixed values, and a notation math-verify may read two ways is read both ways); values
that agree are never judged correct that way. Everything else is deferred to a worker, which
calls math-verify as `verify(gold, prediction)` (the order matters: an interval gold must not
accept an echoed inequality) with math-verify's own SIGALRM timeouts off; the pool's deadline
stops it instead. Before parsing, `\\mathrm{e}`, `\\mathrm{i}`, `\\mathrm{d}` become plain
letters, and a side whose LaTeX parse fell back to a partial string counts as unparsed (a
wrong reply, or an unparseable gold): math-verify 0.9.0 then matches the numbers it saw, so
`verify(parse("$1-\\frac{1}{\\mathrm{e}}$"), parse("$1+\\frac{1}{\\mathrm{e}}$"))` is True.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import Any, NamedTuple

from rewardkit.registry import TASKS
from rewardkit.tasks.base import Defer, Task, Verdict, answer_region
from rewardkit.tasks.closed_form import Reading, far_apart, readings

MAX_BOXES = 20
MAX_ANSWER_CHARS = 2_000
FALLBACK_CHARS = 300

_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE = re.compile(r"[{}]")
_SPACING = re.compile(r"\\[!,;: ]|~")  # LaTeX's spacing commands
_LEFT_RIGHT = re.compile(r"\\(?:left|right)(?![A-Za-z])")  # not \\leftarrow
# A space that separates no two word characters or periods: "1 2/5" is not "12/5", "1. 5" is
# not "1.5", "\\sqr t" is not "\\sqrt", but "( 3, x )" is "(3,x)".
_LOOSE_SPACE = re.compile(r"(?<![\w.]) | (?![\w.])")
_ALTERNATIVES = re.compile(r"\bor\b|\\pm|\\mp|±|∓")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", re.ASCII)
_THOUSANDS_INSIDE = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])", re.ASCII)
_DECIMAL = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
# \frac{3}{4}, and LaTeX's brace-less one-digit arguments: \frac34, \frac9{19}, \frac{9}1
_FRAC = re.compile(r"(-?)\\[dt]?frac(?:\{(-?\d+)\}|(\d))(?:\{(\d+)\}|(\d))", re.ASCII)
_SLASH = re.compile(r"(-?\d+)/(\d+)", re.ASCII)
_SPACED_DIGITS = re.compile(r"[\d.,]\s+[\d.,]", re.ASCII)  # "1 2", "1, 234", "1. 5"
_SPACE_THOUSANDS = re.compile(r"-?\d{1,3}(?: \d{3})+(?:\.\d+)?", re.ASCII)  # "12 345"
# An operand or an operator of `arithmetic_value`'s expressions.
_ARITH_TOKEN = re.compile(r"\s*(?:(\\[dt]?frac(?:\{\d+\}|\d)(?:\{\d+\}|\d)|\d+(?:\.\d*)?|\.\d+)"
                          r"|(\\times|\\cdot|\\div|[-+*/]))\s*", re.ASCII)
_OPERATOR = {"\\times": "*", "\\cdot": "*", "\\div": "/"}
# Digits of other scripts, fullwidth forms, mathematical alphanumerics.
_LOOKALIKE = re.compile(r"[^\x00-\x7f](?<=\d)|[\uff00-\uffef\U0001d400-\U0001d7ff]")
_UPRIGHT_CONSTANT = re.compile(r"\\(?:mathrm|text|operatorname)\{\s*([eid])\s*\}")


def boxed_answers(text: str) -> list[str] | None:
    """Contents of the top-level \\boxed{} / \\fbox{} in `text`, in order; None if there are more
    than MAX_BOXES (a spray). An unbalanced last box (a cut-off reply) is left out. Linear time.

    >>> boxed_answers(r"\\boxed{\\frac{1}{2}} then \\fbox{3} and \\boxed{x")
    ['\\\\frac{1}{2}', '3']
    """
    out: list[str] = []
    pos = 0
    while (m := _BOX_OPEN.search(text, pos)) is not None:
        if len(out) >= MAX_BOXES:
            return None
        depth, end = 1, None
        for brace in _BRACE.finditer(text, m.end()):
            depth += 1 if brace.group() == "{" else -1
            if depth == 0:
                end = brace.start()
                break
        if end is None:
            break
        out.append(text[m.end():end].strip())
        pos = end + 1
    return out


def _normal(answer: str) -> str:
    """`answer` as compared with the gold as written: without spacing (but a space between two
    word characters stays one space), `\\left`/`\\right`, a trailing period, `\\dfrac`."""
    s = " ".join(_LEFT_RIGHT.sub("", _SPACING.sub(" ", answer)).split())  # one space per run
    s = _LOOSE_SPACE.sub("", s).removesuffix(".").rstrip()
    return s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")


def _differ(boxes: list[str]) -> bool:
    """True if the boxed answers are not all the same (as written, or as exact values)."""
    if len({_normal(b) for b in boxes}) == 1:
        return False
    values = {exact_value(b) for b in boxes}
    return len(values) != 1 or None in values


def _top_level_separators(answer: str) -> bool:
    """True if `answer` has a comma or semicolon outside all brackets: not a thousands comma
    (digits grouped by three, "1,000 \\text{ cm}"), not the spacing commands `\\,` and `\\;`."""
    if simple_number(answer) is not None:  # "1,000", "1{,}000", "1\\,000": one number
        return False
    depth = 0
    for ch in _THOUSANDS_INSIDE.sub("0", _SPACING.sub(" ", answer)):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch in ",;" and depth == 0:
            return True
    return False


def simple_number(answer: str) -> Fraction | None:
    """An integer, decimal or simple fraction (a `$` sign allowed) as an exact Fraction; None
    for anything else.

    >>> simple_number("1,000"), simple_number("-\\\\frac{3}{4}"), simple_number("0.50")
    (Fraction(1000, 1), Fraction(-3, 4), Fraction(1, 2))
    >>> simple_number("\\\\sqrt{2}") is None, simple_number("1/0") is None
    (True, True)
    """
    if len(answer) > MAX_ANSWER_CHARS:  # longer numbers are no plain answers (and int() refuses
        return None                      # strings of over 4,300 digits)
    s = answer.replace("\\$", "").replace("$", "").replace("\\!", "").strip()
    if _SPACED_DIGITS.search(s) and not _SPACE_THOUSANDS.fullmatch(s):
        return None  # "1 2/3" (a mixed number, or 12/3?), "1 2", "1, 234": left to math-verify
    s = s.replace(" ", "")
    s = s.replace("{,}", ",").replace("\\,", ",")  # LaTeX thousands separators
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    if _DECIMAL.fullmatch(s):
        return Fraction(s)
    if (m := _FRAC.fullmatch(s)) is not None:
        sign, num, den = m[1], m[2] or m[3], m[4] or m[5]
    elif (m := _SLASH.fullmatch(s)) is not None:
        sign, num, den = "", m[1], m[2]
    else:
        return None
    if int(den) == 0:
        return None
    value = Fraction(int(num), int(den))
    return -value if sign else value


def arithmetic_value(answer: str) -> Fraction | None:
    """The exact value of + - × ÷ arithmetic over non-negative integers, decimals and
    `\\frac{a}{b}` (also LaTeX's brace-less `\\frac34`, `\\frac9{19}`; a leading minus allowed on
    each operand; no brackets, powers or thousands separators), as sympy would evaluate it with
    the usual precedence; None for anything else or a division by zero. Tokenising is linear
    in the length of `answer`; the exact arithmetic took 3 ms on a hostile 2,000-character sum
    of fractions (`MAX_ANSWER_CHARS` bounds a box).

    >>> arithmetic_value("18 + 1"), arithmetic_value("3 \\\\times 4 - \\\\frac{1}{2}")
    (Fraction(19, 1), Fraction(23, 2))
    >>> arithmetic_value("2/3/4"), arithmetic_value("-2 \\\\cdot -3")
    (Fraction(1, 6), Fraction(6, 1))
    >>> arithmetic_value("(1)") is None, arithmetic_value("1/0") is None
    (True, True)
    """
    tokens: list[tuple[str, str]] = []  # ("n", operand) or ("op", operator)
    pos = 0
    while pos < len(answer):
        m = _ARITH_TOKEN.match(answer, pos)
        if m is None:
            return None
        tokens.append(("n", m[1]) if m[1] else ("op", _OPERATOR.get(m[2], m[2])))
        pos = m.end()
    total, term, op, sign, expect_operand = Fraction(0), None, "+", 1, True
    for kind, text in tokens:
        if expect_operand:
            if kind == "op":
                if text != "-" or sign == -1:  # one unary minus per operand
                    return None
                sign = -1
                continue
            value = simple_number(text)
            if value is None:  # \\frac{1}{0}
                return None
            value *= sign
            if op in "+-":  # a new term; the finished one joins the total
                total += term if term is not None else 0
                term = value if op == "+" else -value
            elif op == "*":
                term *= value
            elif value == 0:
                return None
            else:
                term /= value
            sign, expect_operand = 1, False
        else:
            if kind != "op":
                return None
            op, expect_operand = text, True
    if expect_operand or term is None:  # empty, or ends with an operator
        return None
    return total + term


def exact_value(answer: str) -> Fraction | None:
    """`simple_number(answer)`, else `arithmetic_value(answer)`: the values compared exactly."""
    if len(answer) > MAX_ANSWER_CHARS:  # a gold can be longer than a box may be
        return None
    number = simple_number(answer)
    return number if number is not None else arithmetic_value(answer)


class MathGold(NamedTuple):
    answer: str  # the gold as written
    number: Fraction | None  # exact value when it is a simple number or arithmetic of them
    single_valued: bool  # no top-level list separator
    normal: str  # as written, minus spacing and \left/\right (see _normal)
    readings: tuple[Reading, ...] | None  # numeric values of a closed form (see closed_form)


class MathTask(Task):
    name = "math"
    prompt_key = "problem"
    answer_key = "answer"

    def parse_gold(self, answer: str | None) -> Any:
        if answer is None or not answer.strip():
            return None
        answer = answer.strip()
        single = not _top_level_separators(answer) and not _ALTERNATIVES.search(answer)
        return MathGold(answer, exact_value(answer), single, _normal(answer), readings(answer))

    def extract_answer(self, text: str) -> str | None:
        boxes = boxed_answers(answer_region(text))
        return boxes[-1] if boxes else None

    def triage(self, gold: MathGold, text: str) -> tuple[str | None, Verdict | Defer]:
        """The extraction policy above; exact comparison of simple numbers; else a Defer.

        >>> t = MathTask(); g = t.parse_gold("3")
        >>> t.triage(g, "<think>\\\\boxed{2}</think> so \\\\boxed{3}")
        ('3', (True, 'ok'))
        >>> t.triage(g, "\\\\boxed{1} or \\\\boxed{3}"), t.triage(g, "\\\\boxed{\\\\pm 3}")
        (('3', (False, 'ok')), ('\\\\pm 3', (False, 'ok')))
        """
        region = answer_region(text)
        boxes = boxed_answers(region)
        if boxes is None or any(len(b) > MAX_ANSWER_CHARS for b in boxes):
            return None, (False, "ok")
        if not boxes:
            return None, Defer(region[-FALLBACK_CHARS:])
        answer = boxes[-1]
        if _differ(boxes) or _LOOKALIKE.search(answer):
            return answer, (False, "ok")
        if gold.single_valued and (_ALTERNATIVES.search(answer) or _top_level_separators(answer)):
            return answer, (False, "ok")
        number = exact_value(answer)
        if gold.number is not None and number is not None:
            return answer, (number == gold.number, "ok")
        if _normal(answer) == gold.normal:  # the gold as written: correct without parsing
            return answer, (True, "ok")
        if gold.readings and far_apart(gold.readings, readings(answer)):  # read no reply in vain
            return answer, (False, "ok")
        return answer, Defer(f"\\boxed{{{answer}}}")

    def check(self, gold: MathGold, text: str) -> Verdict:
        """One reply, judged as `verify_groups` judges it: a deferred check runs in a worker,
        under the deadline, through the verdict cache.

        >>> t = MathTask(); t.check(t.parse_gold("\\\\frac{1}{2}"), "\\\\boxed{0.5}")
        (True, 'ok')
        """
        from rewardkit.verify.service import decide_deferred

        _, verdict = self.triage(gold, text)
        if isinstance(verdict, Defer):
            return decide_deferred(self, gold.answer, verdict.key)
        return verdict

    def decide(self, gold_answer: str, key: str) -> Verdict:
        """math-verify's `verify(gold, prediction)`, in a worker (no timeouts of its own)."""
        from math_verify import verify

        gold = _parse_gold_once(gold_answer.strip())
        if gold is None:
            return None, "unparseable_gold"
        predicted = _parse(key)
        if predicted is None:
            return False, "ok"
        return bool(verify(gold, predicted, timeout_seconds=None)), "ok"


def _parse(source: str) -> list | None:
    """math-verify's parse with upright constants made plain; None if nothing parsed or the
    LaTeX parse fell back to a fragment (its expression string has unbalanced braces)."""
    from math_verify import parse

    parsed = parse(_UPRIGHT_CONSTANT.sub(r"\1", source), parsing_timeout=None)
    if not parsed:
        return None
    text = parsed[-1] if isinstance(parsed[-1], str) else ""
    return None if text.count("{") != text.count("}") else parsed


@lru_cache(maxsize=4096)
def _parse_gold_once(answer: str) -> list | None:
    """Each worker parses a gold once, then reuses it for every reply to that problem."""
    return _parse(f"\\boxed{{{answer}}}")


TASKS.register("math")(MathTask)
