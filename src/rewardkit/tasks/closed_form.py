r"""Numeric values of closed-form LaTeX answers, to rule a reply out without sympy.

`readings(r"\frac{\sqrt{3}}{3}")` evaluates an answer to complex floats, one for each way
math-verify may read it; `far_apart(gold, reply)` is True when every reading of the reply is far
from every reading of the gold. `MathTask.triage` then judges the reply wrong in the caller's
process instead of sending it to a worker. Nothing here judges a reply correct: values that
agree still go to math-verify.

Why a mismatch found here is one math-verify finds too (math-verify 0.9.0 with
latex2sympy2_extended 1.11, as pinned):

- A letter is a real symbol there (lower-cased: `X` is `x`). Here it takes fixed positive
  values of its own, at two points; two expressions equal as functions of real symbols are
  equal at a point, so values that differ there prove the expressions differ. The second
  point only tells what depends on a letter from what is constant. `e` and `E` (Euler's
  number, or a symbol math-verify equates with it) and `I` are not read.
- The parse follows latex2sympy's precedence: factors side by side (`2\sqrt{3}x`) bind tighter
  than `\cdot` and `/` (`1/2x` is 1/(2x) there). Within such a chain it adds instead of
  multiplying where a factor that is an integer meets a rest that is a positive rational (its
  mixed numbers: `2\frac{1}{2}` is 5/2, but so are `(2)\frac{1}{2}` and `\frac{4}{2}\frac12`,
  and `2(3)` is 5). A chain ending in a fraction is read both ways; any other chain where
  that may happen (an integer before a constant that is not surely irrational) is not read.
- The readings cover the notations whose value latex2sympy may take either way: `i` (a real
  symbol, as it reads `2i`, or the imaginary unit), `^\circ` (dropped, or times pi/180), `\%`
  (dropped, or divided by 100), and the mixed numbers above. Each reading applies to the whole
  answer.
- Far apart means by more than `FAR` of the larger magnitude (at least `FAR`), well beyond
  math-verify's tolerance (floats rounded to 6 decimals), plus a bound on this module's own
  rounding error (`ROUNDING` of the largest intermediate value).
- Only a small grammar is read: numbers, `+ - \cdot \times \div * /`, factors side by side,
  `\frac{}{}`, `\sqrt{}`, `\sqrt[n]{}`, `^{}`, `\pi`, single letters, round brackets
  (`\left(`, `\right)`), the spacing `\,` `\;` `\:` `\ `. Everything else gives None and goes
  to math-verify: commas, sets, intervals, `=`, functions, `\text`, runs of letters (words and
  units). So do the forms latex2sympy's normalisation or grammar reads otherwise than LaTeX,
  found by comparing the two on generated answers (`tests/verify/test_closed_form.py` keeps a
  seeded version): `\!` (deleted: `1\!2` is 12), `~`, ` .5` (` 0.5`, then a factor 0 after a
  brace), `\frac123` (1/23), `2^34` (2^34), `\frac 1 x` (1), `\frac{x}y` and `\sqrt[4]3`
  (unparsed), a digit after a closing brace, whitespace after `^`, `d\pi` (one symbol), a
  bracket after a letter, pi or a power (`f(x)`, `\pi(x)`, `f^{-1}(x)` are functions), a number
  after a letter, a bracket or a number, `--2`, `14^\circ 3` (17), a brace group (`{y}` is a
  set), a unit at the end (`18t` is 18; its unit pattern's unescaped dots also drop `a )`),
  stacked powers, more than one chain ending in a fraction, `^T` (the transpose: `2^{T}` is 2),
  `\%` and `\circ` other than as its tokens write them (`50\%`, `50 \%`, `^\circ`, `^{\circ}`),
  spacing right after `\sqrt` or `\frac`. Where latex2sympy cannot parse an answer, math-verify
  falls back to a number picked from its text, so a form it cannot parse is no safe form here.

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
_TOLERANCE = 1e-9  # how near a value must be to count as possibly an integer, real, constant

# Forms latex2sympy2_extended's normalisation or grammar reads otherwise than LaTeX and the
# tokens below would let through: ` .5` becomes ` 0.5` and then a factor 0 after a brace,
# whitespace after `^` does not parse, `d\pi` is one symbol (a differential), a brace-less
# `\frac` argument before a space takes the space (`\frac 1 x` is 1). (`\!`, deleted there so
# that 1\!2 is 12, and `~` are no tokens here.)
_REFUSED = re.compile(
    r"\s\.|\^\s|\^\{\s|d\s*\\|\\[dt]?frac\s*[A-Za-z0-9]\s"
    # Spacing right after \sqrt or \frac, or between brace-less arguments: its rewrites take the
    # next raw character as the argument (\sqrt\,{4} becomes \sqrt{\},4, which does not parse)
    r"|\\(?:[dt]?frac|sqrt)(?:\s*\w)?\s*\\[,;: ]"
    r"|\^\{?T"  # ^T and ^{T} are the transpose: 2^{T} is 2
    r"|\\\s*$",  # a trailing backslash-space
    re.ASCII)
# The percent and degree signs are lexer tokens there only as written: a number, at most one
# whitespace character, \%; ^\circ or ^{\circ}. Anything else fails to parse, and math-verify
# then falls back to a number picked from the text.
_PERCENT = re.compile(r"\\%")
_PERCENT_TOKEN = re.compile(r"\d\s?\\%", re.ASCII)
_DEGREE = re.compile(r"\\circ")
_DEGREE_TOKEN = re.compile(r"\^\\circ|\^\{\\circ\}")
_SPACING = re.compile(r"\\[,;: ]")
_ROUND_LEFT_RIGHT = re.compile(r"\\left\(|\\right\)")
_SPACED_DIGITS = re.compile(r"[\d.]\s+[\d.]", re.ASCII)
_DIGIT_AFTER_BRACE = re.compile(r"\}\s*\d", re.ASCII)  # its `\frac{a}{b}c` rewrite
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|\\([dt]?frac|sqrt|pi|cdot|times|div|circ|%)"
                    r"(?![A-Za-z])|([A-Za-z])|([-+*/^(){}\[\]]))", re.ASCII)
_UNREAD_LETTERS = frozenset("eEI")  # Euler's number (or a symbol equated with it); sympy's I
# Letters the normalisation drops as units at the end of an answer after a digit, a brace or a
# space ("18t" is 18 there): an answer ending in one is not read. Its unit pattern also has
# units such as "a ." whose unescaped dot matches any character: "(x + a )" loses "a )".
_UNIT_LETTERS = frozenset("cdghlmost")
_UNIT_END = re.compile(r"(?:^|[\d}\s])[A-Za-z]\s+\S{1,3}\s*$")
_OPERATOR = {"cdot": "*", "times": "*", "div": "/"}

Node = tuple  # ("num", v) | ("var", letter) | ("pi",) | ("chain", items) | (op, *children)


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
    """Recursive descent in latex2sympy's precedence: sums of explicit products and quotients
    of signed chains, a chain being factors written side by side (`2\\sqrt{3}x`, which binds
    tighter than `/`: `1/2x` is 1/(2x)); records which notations need readings."""

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
        node = self.signed()
        while self.at("op", "*", "/"):
            op = self.take("op")
            node = (op, node, self.signed())
        return node

    def signed(self) -> Node:
        if self.at("op", "-", "+"):
            sign = self.take("op")
            node = self.chain()  # one sign per factor: --2 is not read
            return ("neg", node) if sign == "-" else node
        return self.chain()

    def chain(self) -> Node:
        items = [self.power()]
        while self._starts_factor():
            self._check_adjacent(items[-1])
            items.append(self.power())
        if len(items) == 1:
            return items[0]
        if items[-1][0] == "frac":  # a mixed number where what precedes it is an integer
            if "mixed" in self.notations:
                raise _Unread  # one reading per answer: one such chain at most
            self.notations.add("mixed")
        return ("chain", items)

    def _starts_factor(self) -> bool:
        tok = self.peek()
        return tok is not None and (tok[0] in ("num", "var", "cmd") or tok == ("op", "("))

    def _check_adjacent(self, left: Node) -> None:
        """Side by side where latex2sympy reads no product: a letter, pi or a power before a
        bracket (f(x), \\pi(x), f^{-1}(x) are functions), a letter before a number (x2 is a
        name), a number after a bracket or a number ((-5)6, 2.5.3)."""
        if self.at("op", "("):
            if left[0] not in ("num", "group", "sqrt", "frac"):
                raise _Unread  # also t^{-1}(x), an inverse function
        elif self.at("num") and left[0] in ("var", "group", "num"):
            raise _Unread

    def power(self) -> Node:
        node = self.atom()
        if self.at("op", "^"):
            self.take("op")
            if self._degree_sign():
                if self._starts_factor():
                    raise _Unread  # 14^\circ 3 is 14 + 3 in latex2sympy (degrees, minutes)
                self.notations.add("deg")
                return ("deg", node)
            if node[0] in ("frac", "sqrt"):
                raise _Unread  # \frac{1}{2}^2: which part is raised is a guess
            exponent = self.argument()
            if self.at("op", "^"):
                raise _Unread  # stacked powers
            node = ("^", node, exponent)
        if self.at("cmd", "%"):
            if node[0] != "num":
                raise _Unread  # latex2sympy leaves x\% unparsed
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
                raise _Unread  # \frac345 (3/45 in latex2sympy), 2^34, \sqrt2.5
            else:
                self.pos += 1
                if self.at("num"):
                    raise _Unread  # \frac12 3
            return ("num", float(digit))
        if tok is not None and tok[0] == "var":
            return self.atom()
        raise _Unread  # \frac123 (1/23 in latex2sympy), 2^34, 2^-1

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
                raise _Unread  # e, E, I; words and units such as "cm"
            if text == "i":  # (I was refused above)
                self.notations.add("i")
            return ("var", text.lower())  # latex2sympy lower-cases symbols: X is x
        if kind == "cmd":
            self.pos += 1
            if text == "pi":
                return ("pi",)
            if text.endswith("frac"):
                braced = self.at("op", "{")
                numerator = self.argument(pair=True)
                if braced and not self.at("op", "{"):
                    raise _Unread  # \frac{x}y: latex2sympy leaves it unparsed
                return ("frac", numerator, self.argument())
            if text == "sqrt":
                index = None
                if self.at("op", "["):
                    self.take("op")
                    index = self.expr()
                    self.take("op", "]")
                    if not self.at("op", "{"):
                        raise _Unread  # \sqrt[4]3: unparsed there
                return ("sqrt", self.argument(), index)
            raise _Unread  # \circ, \% without a base
        if tok == ("op", "("):  # a brace group is a set in latex2sympy ({y}); braces only
            self.pos += 1       # hold arguments here
            node = self.expr()
            self.take("op", ")")
            return ("group", node)
        raise _Unread


_GOLDEN, _SILVER = 0.6180339887498949, 0.4142135623730951


def _letter_values(letter: str) -> tuple[float, float]:
    """Two fixed positive values per letter (two points: what differs between them is not a
    constant), chosen so that small polynomials in them do not vanish by accident: fractional
    parts of multiples of the golden ratio and of sqrt(2) - 1, shifted."""
    return 1.0 + (ord(letter) * _GOLDEN) % 1.0, 1.0 + (ord(letter) * _SILVER) % 1.0


Pair = tuple[complex, complex]  # a value at each of the two points


class _Evaluator:
    """Values of a parsed answer under one reading, at both points."""

    def __init__(self, reading: dict[str, Any]) -> None:
        self.reading, self.largest = reading, 0.0

    def value(self, node: Node) -> Pair:
        pair = self._value(node)
        out = []
        for v in pair:
            if not cmath.isfinite(v) or abs(v) > MAX_MAGNITUDE:
                raise _Unread
            self.largest = max(self.largest, abs(v))
            out.append(complex(v.real, v.imag + 0.0))  # -0j is 0j: sqrt(-4-0j) would be -2j
        return out[0], out[1]

    def _value(self, node: Node) -> Pair:
        kind = node[0]
        if kind == "num":
            return complex(node[1]), complex(node[1])
        if kind == "var":
            if node[1] == "i" and self.reading["i"] == "unit":
                return 1j, 1j
            a, b = _letter_values(node[1])
            return complex(a), complex(b)
        if kind == "pi":
            return complex(math.pi), complex(math.pi)
        if kind == "chain":
            return self._chain(node[1])
        if kind in ("group", "neg", "deg", "pct"):
            factor = {"group": 1, "neg": -1, "deg": self.reading.get("deg"),
                      "pct": self.reading.get("pct")}[kind]
            a, b = self.value(node[1])
            return a * factor, b * factor
        if kind == "frac":
            return _pairwise(_divide, self.value(node[1]), self.value(node[2]))
        if kind == "sqrt":
            radicand = self.value(node[1])
            if node[2] is None:
                return _pairwise(_sqrt, radicand)
            return _pairwise(_power, radicand, _pairwise(_divide, (1, 1), self.value(node[2])))
        left, right = self.value(node[1]), self.value(node[2])
        op = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
              "/": _divide, "^": _power}[kind]
        return _pairwise(op, left, right)

    def _chain(self, items: list[Node]) -> Pair:
        """latex2sympy's product of side-by-side factors, from the right: where a factor that
        may be an integer meets a rest that may be a positive rational, it adds them instead
        (its mixed numbers: 2\\frac{1}{2} is 5/2, but so is (2)\\frac{1}{2}, and 2(3) is 5).
        That sum is one reading of a rest that is a fraction; any other such pair is refused."""
        values = [self.value(item) for item in items]
        rest = values[-1]
        for i in range(len(items) - 2, -1, -1):
            left = values[i]
            if _maybe_integer(left) and _maybe_positive_rational(rest, items[i + 1:]):
                if i != len(items) - 2 or items[-1][0] != "frac":
                    raise _Unread
                if self.reading["mixed"]:
                    rest = tuple(x + y if x.real >= 0 else x - y for x, y in zip(left, rest))
                    continue
            rest = _pairwise(lambda x, y: x * y, left, rest)
            self.largest = max(self.largest, *map(abs, rest))
        return rest


def _pairwise(op: Any, *pairs: Pair) -> Pair:
    return op(*(p[0] for p in pairs)), op(*(p[1] for p in pairs))


def _constant(pair: Pair) -> bool:
    return abs(pair[0] - pair[1]) <= _TOLERANCE * max(1.0, abs(pair[0]))


def _maybe_integer(pair: Pair) -> bool:
    v = pair[0]
    return (_constant(pair) and abs(v.imag) <= _TOLERANCE * max(1.0, abs(v))
            and abs(v.real - round(v.real)) <= _TOLERANCE * max(1.0, abs(v.real)))


def _maybe_positive_rational(pair: Pair, items: list[Node]) -> bool:
    """False only where sympy's value is surely no positive Rational: it depends on a letter,
    is not real, is negative, or is one factor pi (to a power) or a root of an integer that is
    no perfect power."""
    v = pair[0]
    if not _constant(pair) or abs(v.imag) > _TOLERANCE * max(1.0, abs(v)):
        return False
    if v.real < -_TOLERANCE * max(1.0, abs(v)):
        return False
    return not (len(items) == 1 and _irrational(items[0]))


def _irrational(node: Node) -> bool:
    if node == ("pi",):
        return True
    if node[0] == "^" and node[1] == ("pi",) and node[2][0] == "num":
        return node[2][1] >= 1 and node[2][1] == int(node[2][1])
    if node[0] == "sqrt" and node[1][0] == "num" and (node[2] is None or node[2][0] == "num"):
        radicand, index = node[1][1], 2 if node[2] is None else node[2][1]
        if radicand != int(radicand) or index != int(index) or not 2 <= index <= 10:
            return False
        n, k = int(radicand), int(index)
        root = round(n ** (1 / k))
        return n > 1 and all((root + d) ** k != n for d in (-1, 0, 1))
    return False


def _divide(a: complex, b: complex) -> complex:
    if abs(b) < 1e-12:
        raise _Unread  # a zero (or one only rounding tells from zero) denominator
    return a / b


def _sqrt(z: complex) -> complex:
    _off_the_branch_cut(z)
    return cmath.sqrt(z)


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


_READINGS = {"i": ("unit", "symbol"), "deg": (1.0, math.pi / 180), "pct": (1.0, 0.01),
             "mixed": (True, False)}


class Reading(NamedTuple):
    value: complex  # at the first point (letters at their first values)
    error: float  # bound on its float rounding error


def readings(answer: str) -> tuple[Reading, ...] | None:
    """The answer's value under each reading (see the module docstring), or None if it is
    outside the grammar or too large."""
    if (len(answer) > MAX_CHARS or _REFUSED.search(answer)
            or len(_PERCENT.findall(answer)) != len(_PERCENT_TOKEN.findall(answer))
            or len(_DEGREE.findall(answer)) != len(_DEGREE_TOKEN.findall(answer))):
        return None
    text = _SPACING.sub(" ", _ROUND_LEFT_RIGHT.sub(lambda m: m[0][-1], answer))
    if _SPACED_DIGITS.search(text) or _DIGIT_AFTER_BRACE.search(text) or _UNIT_END.search(text):
        return None
    try:
        tokens = _tokens(text)
        if tokens and tokens[-1][0] == "var" and tokens[-1][1].lower() in _UNIT_LETTERS:
            return None
        parser = _Parser(tokens)
        tree = parser.expr()
        if parser.peek() is not None:
            return None
        names = sorted(parser.notations)
        out = []
        for choice in itertools.product(*(_READINGS[n] for n in names)):
            evaluator = _Evaluator(dict(zip(names, choice)))
            value, _ = evaluator.value(tree)
            out.append(Reading(value, ROUNDING * evaluator.largest))
    except (_Unread, OverflowError, ZeroDivisionError, ValueError, RecursionError):
        return None
    return tuple(out)


def far_apart(gold: tuple[Reading, ...] | None, reply: tuple[Reading, ...] | None) -> bool:
    """True when both were read and every reading of one is far from every reading of the
    other."""
    if not gold or not reply:
        return False
    return all(abs(g.value - r.value) > FAR * max(1.0, abs(g.value), abs(r.value))
               + g.error + r.error for g in gold for r in reply)
