r"""Numeric values of closed-form LaTeX answers, to rule a reply out without sympy.

`readings(r"\frac{\sqrt{3}}{3}")` evaluates an answer to complex floats, one for each way
math-verify may read it; `far_apart(gold, reply)` is True when every reading of the reply is far
from every reading of the gold. `MathTask.triage` then judges the reply wrong in the caller's
process instead of sending it to a worker. Nothing here judges a reply correct: values that
agree still go to math-verify.

Why a mismatch found here is one math-verify finds too (math-verify 0.9.0 with
latex2sympy2_extended 1.11, as pinned):

- A letter is a real symbol there. Here it takes a fixed positive value of its own, and two
  expressions equal as functions of real symbols are equal at that point; so values that differ
  there prove the expressions differ. `e` and `E` (Euler's number, or a symbol math-verify
  equates with it) and `I` are not read.
- The readings cover the notations whose value latex2sympy may take either way: `i` (a real
  symbol, as it reads `2i`, or the imaginary unit), `^\circ` (dropped, or times pi/180), `\%`
  (dropped, or divided by 100), an integer before `\frac` (a mixed number, as it reads
  `137 \frac{1}{2}`, or a product). Each reading applies to the whole answer.
- Far apart means by more than `FAR` of the larger magnitude (at least `FAR`), well beyond
  math-verify's tolerance (floats rounded to 6 decimals), plus a bound on this module's own
  rounding error (`ROUNDING` of the largest intermediate value).
- Only a small grammar is read: numbers, `+ - \cdot \times \div * /`, products of adjacent
  factors, `\frac{}{}`, `\sqrt{}`, `\sqrt[n]{}`, `^{}`, `\pi`, single letters, round brackets.
  Everything else gives None and goes to math-verify: commas, sets, intervals, `=`, functions,
  `\text`, runs of letters (words and units). So do the forms latex2sympy reads otherwise than
  LaTeX, found by comparing the two on generated answers (`tests/verify/test_closed_form.py`):
  `\frac123` (1/23 there), `2^34` (2^34), `\frac 1 x` (1) and `\frac{x}y` (unparsed); a digit
  after a closing brace; a bracket beside a number (`2(3)` and `(-5)6` are sums there); a letter
  before a bracket or a number (`f(x)` is a function); `1/2x` (1/(2x)); `14^\circ 3` (17); a
  brace group (`{y}` is a set); a unit letter at the end (`18t` is 18: the letters of
  `_UNIT_LETTERS`); stacked powers; more than one mixed number.

>>> [r.value for r in readings("11 \\sqrt{5} + 11")]
[(35.59674775249769+0j)]
>>> far_apart(readings("30^\\circ"), readings("30")), far_apart(readings("1+2i"), readings("3"))
(False, True)
>>> readings("\\{1, 2\\}") is None
True
"""

from __future__ import annotations

import cmath
import itertools
import math
import re
from typing import Any, NamedTuple

FAR = 1e-5  # relative (and absolute, below magnitude 1) distance that settles "different"
ROUNDING = 1e-9  # bound on float rounding relative to the largest intermediate magnitude
MAX_CHARS = 300  # longer answers are left to math-verify
MAX_DEPTH = 30
MAX_MAGNITUDE = 1e60
MAX_EXPONENT = 200

_SPACING = re.compile(r"\\[!,;: ]|~|\\(?:left|right)(?![A-Za-z])")
_SPACED_DIGITS = re.compile(r"[\d.]\s+[\d.]", re.ASCII)
_DIGIT_AFTER_BRACE = re.compile(r"\}\s*\d", re.ASCII)
_SPACED_FRAC = re.compile(r"\\[dt]?frac\s*[A-Za-z0-9]\s", re.ASCII)  # \frac 1 x is 1 there
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|\\([dt]?frac|sqrt|pi|cdot|times|div|circ|%)"
                    r"(?![A-Za-z])|([A-Za-z])|([-+*/^(){}\[\]]))", re.ASCII)
_UNREAD_LETTERS = frozenset("eEI")  # Euler's number (or a symbol equated with it); sympy's I
# Letters latex2sympy2_extended 1.11's normalisation drops as units at the end of an answer
# after a digit, a brace or a space ("18t" is 18 there): an answer ending in one is not read.
_UNIT_LETTERS = frozenset("cdghlmost")
_OPERATOR = {"cdot": "*", "times": "*", "div": "/"}

Node = tuple  # ("num", v) | ("var", letter) | ("pi",) | (op, *children)


class _Unread(Exception):
    """The answer is outside the grammar: leave it to math-verify."""


def _tokens(answer: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(answer):
        m = _TOKEN.match(answer, pos)
        if m is None:
            if answer[pos:].strip():
                raise _Unread
            break
        number, command, letter, symbol = m.groups()
        if number:
            out.append(("num", number))
        elif command:
            out.append(("op", _OPERATOR[command]) if command in _OPERATOR else ("cmd", command))
        elif letter:
            out.append(("var", letter))
        else:
            out.append(("op", symbol))
        pos = m.end()
    return out


class _Parser:
    """Recursive descent over the grammar above; records which notations need readings."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.pos, self.depth = tokens, 0, 0
        self.notations: set[str] = set()

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str, text: str | None = None) -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind or (text is not None and tok[1] != text):
            raise _Unread
        self.pos += 1
        return tok[1]

    def at(self, kind: str, *texts: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == kind and (not texts or tok[1] in texts)

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Unread
        node = self.term()
        while self.at("op", "+", "-"):
            op = self.take("op")
            node = (op, node, self.term())
        self.depth -= 1
        return node

    def term(self) -> Node:
        node = factor = self.signed()
        last_op = None
        while True:
            if self.at("op", "*", "/"):
                last_op = self.take("op")
                factor = self.signed()
                node = (last_op, node, factor)
            elif self._starts_factor():
                if last_op == "/" or self._beside_bracket(factor):
                    raise _Unread  # 1/2x is 1/(2x) in latex2sympy; 2(3) is 5 there
                right = self.power()
                whole = factor[1] if factor[0] == "neg" else factor
                if whole[0] == "num" and right[0] == "frac":
                    if "mixed" in self.notations or node is not factor:
                        raise _Unread  # one mixed number at most, and first in its term
                    self.notations.add("mixed")  # -2\\frac{1}{2} is -5/2 in latex2sympy
                    node = ("mixed", whole, right, factor is not whole)
                else:
                    node = ("*", node, right)
                factor = right
            else:
                return node

    def _starts_factor(self) -> bool:
        tok = self.peek()
        return tok is not None and (tok[0] in ("num", "var", "cmd") or tok == ("op", "("))

    def _beside_bracket(self, left: Node) -> bool:
        """A product latex2sympy may read otherwise: a bracket after anything but a bracket,
        a root, a fraction or pi (2(3) and -23 (30) are sums there, f(x) a function), a number
        after a bracket or a letter ((-5)56262 is a sum, x2 a name)."""
        if self.at("op", "("):
            return left[0] not in ("group", "sqrt", "frac", "pi")
        return left[0] in ("group", "var") and self.at("num")

    def signed(self) -> Node:
        if self.at("op", "-", "+"):
            sign = self.take("op")
            node = self.signed()
            return ("neg", node) if sign == "-" else node
        return self.power()

    def power(self) -> Node:
        node = self.atom()
        if self.at("op", "^"):
            self.take("op")
            if self._degree_sign():
                if self._starts_factor():
                    raise _Unread  # 14^\\circ 3 is 14 + 3 in latex2sympy (degrees, minutes)
                self.notations.add("deg")
                return ("deg", node)
            if node[0] in ("frac", "sqrt", "mixed"):
                raise _Unread  # \\frac{1}{2}^2: which part is raised is a guess
            exponent = self.argument()
            if self.at("op", "^"):
                raise _Unread  # stacked powers
            node = ("^", node, exponent)
        if self.at("cmd", "%"):
            if node[0] != "num":
                raise _Unread  # latex2sympy leaves x\\% unparsed
            self.take("cmd")
            self.notations.add("pct")
            node = ("pct", node)
        return node

    def _degree_sign(self) -> bool:
        """Consumes `\\circ` or `{\\circ}` after a `^`."""
        for width, pattern in ((1, [("cmd", "circ")]),
                               (3, [("op", "{"), ("cmd", "circ"), ("op", "}")])):
            if self.tokens[self.pos:self.pos + width] == pattern:
                self.pos += width
                return True
        return False

    def argument(self, pair: bool = False) -> Node:
        """A braced group, or one digit or letter (LaTeX's brace-less argument); with `pair`
        (a fraction's numerator), the first of two digits: \\frac34."""
        if self.at("op", "{"):
            self.take("op")
            node = self.expr()
            self.take("op", "}")
            return node
        tok = self.peek()
        if tok is not None and tok[0] == "num" and tok[1][0].isdigit():
            digit, rest = tok[1][0], tok[1][1:]
            if pair and len(rest) == 1 and rest.isdigit():  # the denominator takes the 4
                self.tokens[self.pos] = ("num", rest)
            elif rest:
                raise _Unread  # \\frac345 (3/45 in latex2sympy), 2^34, \\sqrt2.5
            else:
                self.pos += 1
                if self.at("num"):
                    raise _Unread  # \\frac12 3
            return ("num", float(digit))
        if tok is not None and tok[0] == "var":
            return self.atom()
        raise _Unread  # \\frac123 (1/23 in latex2sympy), 2^34, 2^-1

    def atom(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise _Unread
        kind, text = tok
        if kind == "num":
            self.pos += 1
            return ("num", float(text))
        if kind == "var":
            self.pos += 1
            if text in _UNREAD_LETTERS or self.at("var"):
                raise _Unread  # e; the unit o; words and units such as "cm"
            if text == "i":
                self.notations.add("i")
            return ("var", text)
        if kind == "cmd":
            self.pos += 1
            if text == "pi":
                return ("pi",)
            if text.endswith("frac"):
                braced = self.at("op", "{")
                numerator = self.argument(pair=True)
                if braced and not self.at("op", "{"):
                    raise _Unread  # \\frac{x}y: latex2sympy leaves it unparsed
                return ("frac", numerator, self.argument())
            if text == "sqrt":
                index = None
                if self.at("op", "["):
                    self.take("op")
                    index = self.expr()
                    self.take("op", "]")
                return ("sqrt", self.argument(), index)
            raise _Unread  # \\circ, \\% without a base
        if tok == ("op", "("):  # a brace group is a set in latex2sympy ({y}); braces only
            self.pos += 1       # hold arguments here
            node = self.expr()
            self.take("op", ")")
            return ("group", node)
        raise _Unread


def _letter_value(letter: str) -> float:
    """A fixed positive value per letter, chosen so that small polynomials in them do not
    vanish by accident: the fractional parts of multiples of the golden ratio, shifted."""
    return 1.0 + (ord(letter) * 0.6180339887498949) % 1.0


class _Evaluator:
    def __init__(self, reading: dict[str, Any]) -> None:
        self.reading, self.largest = reading, 0.0

    def value(self, node: Node) -> complex:
        v = self._value(node)
        if not cmath.isfinite(v) or abs(v) > MAX_MAGNITUDE:
            raise _Unread
        self.largest = max(self.largest, abs(v))
        return complex(v.real, v.imag + 0.0)  # -0j is 0j: sqrt(-4-0j) would be -2j

    def _value(self, node: Node) -> complex:
        kind = node[0]
        if kind == "num":
            return complex(node[1])
        if kind == "var":
            return self.reading["i"] if node[1] == "i" else complex(_letter_value(node[1]))
        if kind == "pi":
            return complex(math.pi)
        if kind == "group":
            return self.value(node[1])
        if kind == "neg":
            return -self.value(node[1])
        if kind == "deg":
            return self.value(node[1]) * self.reading["deg"]
        if kind == "pct":
            return self.value(node[1]) * self.reading["pct"]
        if kind == "mixed":
            whole, part = self.value(node[1]), self.value(node[2])
            value = whole + part if self.reading["mixed"] else whole * part
            return -value if node[3] else value
        if kind == "frac":
            return self._divide(self.value(node[1]), self.value(node[2]))
        if kind == "sqrt":
            radicand = self.value(node[1])
            if node[2] is None:
                _off_the_branch_cut(radicand)
                return cmath.sqrt(radicand)
            return self._power(radicand, self._divide(1, self.value(node[2])))
        left, right = self.value(node[1]), self.value(node[2])
        if kind == "+":
            return left + right
        if kind == "-":
            return left - right
        if kind == "*":
            return left * right
        if kind == "/":
            return self._divide(left, right)
        return self._power(left, right)  # "^"

    @staticmethod
    def _divide(a: complex, b: complex) -> complex:
        if abs(b) < 1e-12:
            raise _Unread  # a zero (or one only rounding tells from zero) denominator
        return a / b

    @staticmethod
    def _power(base: complex, exponent: complex) -> complex:
        if abs(exponent) > MAX_EXPONENT or (base == 0 and exponent.real <= 0):
            raise _Unread
        if exponent.imag == 0 and exponent.real == int(exponent.real):
            n = int(exponent.real)
            if abs(base) > 0 and n * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE):
                raise _Unread
            return base ** n  # exact branch for integer powers: (-8)^3
        if base.imag == 0 and base.real < 0 and exponent.imag == 0:
            raise _Unread  # (-8)^{1/3}: sympy's principal root; not worth the risk
        _off_the_branch_cut(base)
        return base ** exponent


def _off_the_branch_cut(z: complex) -> None:
    """A root of a value that rounding may have put on the wrong side of the negative real
    axis would take the other branch."""
    if z.real < 0 and z.imag != 0 and abs(z.imag) < 1e-9 * abs(z):
        raise _Unread


_READINGS = {"i": (1j, complex(_letter_value("i"))), "deg": (1.0, math.pi / 180),
             "pct": (1.0, 0.01), "mixed": (True, False)}


class Reading(NamedTuple):
    value: complex
    error: float  # bound on its float rounding error


def readings(answer: str) -> tuple[Reading, ...] | None:
    """The answer's value under each reading (see the module docstring), or None if it is
    outside the grammar or too large."""
    if (len(answer) > MAX_CHARS or _SPACED_DIGITS.search(answer)
            or _DIGIT_AFTER_BRACE.search(answer) or _SPACED_FRAC.search(answer)):
        return None
    try:
        tokens = _tokens(_SPACING.sub(" ", answer))
        if tokens and tokens[-1][0] == "var" and tokens[-1][1] in _UNIT_LETTERS:
            return None
        parser = _Parser(tokens)
        tree = parser.expr()
        if parser.peek() is not None:
            return None
        names = sorted(parser.notations)
        out = []
        for choice in itertools.product(*(_READINGS[n] for n in names)):
            evaluator = _Evaluator(dict(zip(names, choice)))
            value = evaluator.value(tree)
            out.append(Reading(value, ROUNDING * evaluator.largest))
    except (_Unread, OverflowError, ZeroDivisionError, ValueError):
        return None
    return tuple(out)


def far_apart(gold: tuple[Reading, ...] | None, reply: tuple[Reading, ...] | None) -> bool:
    """True when both were read and every reading of one is far from every reading of the
    other."""
    if not gold or not reply:
        return False
    return all(abs(g.value - r.value) > FAR * max(1.0, abs(g.value), abs(r.value))
               + g.error + r.error for g in gold for r in reply)
