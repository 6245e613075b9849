"""`gsm8k`: grade-school word problems; the gold is the number after '####'.

The reply's answer is the last \\boxed{} after </think>, else the number after a '####', else
the last number in the answer region. Several boxes with different numbers (or more than
`math.MAX_BOXES` boxes) make the reply wrong, as for `math`. The answer is compared exactly (as
a fraction) with the gold after removing what word problems put around a number: currency (`$`,
`\\$`), a percent sign, thousands separators (`1,234`, `1{,}234`, `1\\,234`; only groups of
three digits), a trailing period and unit words (`18 dollars`, `5 \\text{ cm}`). Words that
scale the number do: `3 thousand` is 3000 (hundred, thousand, million, billion, trillion,
dozen); words that change it otherwise (`2 squared`, `3 and a half`, `2 pi`, `4 x`) make the
answer not a number. A mixed number (`1 1/2`, `1\\frac{1}{2}`) is its value, 3/2. A box holding
anything else (two numbers, an expression) is wrong, and so is a number of over
`MAX_DIGITS` digits.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from rewardkit.registry import TASKS
from rewardkit.tasks.base import Task, Verdict, answer_region, last_number
from rewardkit.tasks.math import boxed_answers

_WRAPPERS = re.compile(r"\\(?:text|mbox|mathrm|textbf)\s*\{([^{}]*)\}")
_NOISE = re.compile(r"\\[$%!]|[$%]|\\[,;: ]|\{,\}|\\left|\\right|^\s*\(|\)\s*$")
_AMOUNT = re.compile(
    r"(?P<sign>-?)\s*(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"\s*(?P<unit>[A-Za-z][A-Za-z ./]*)?\.?", re.ASCII)
_THIN_SEPARATOR = re.compile(r"(?<=\d)\\,(?=\d{3})")
# \frac{3}{4} or 3/4, optionally after a whole number: the mixed number 1 1/2 is 3/2
_FRACTION = re.compile(r"(-?)\s*(?:(\d+)(?:\s+|(?=\\)))?"
                       r"(?:\\[dt]?frac\{(\d+)\}\{(\d+)\}|(\d+)\s*/\s*(\d+))", re.ASCII)
MAX_DIGITS = 1_000  # int() refuses over 4,300; no word problem's answer is near either
_SCALE = {"hundred": 100, "thousand": 1_000, "million": 10**6, "billion": 10**9,
          "trillion": 10**12, "dozen": 12}
# Words after a number that make it another number: not units.
VALUE_WORDS = re.compile(r"\b(?:halves|half|thirds?|quarters?|fourths?|fifths?|squared|cubed|"
                            r"times|plus|minus|over|pi|[xyzn])\b", re.IGNORECASE)


def to_number(text: str) -> Fraction | None:
    """The number a short answer states, or None if it states something else.

    >>> to_number("$1,234."), to_number("\\\\frac{3}{4}"), to_number("18 \\\\text{ dollars}")
    (Fraction(1234, 1), Fraction(3, 4), Fraction(18, 1))
    >>> to_number("25\\\\%"), to_number("x+1"), to_number("1,23"), to_number("3 or 4")
    (Fraction(25, 1), None, None, None)
    >>> to_number("3 thousand"), to_number("2 squared"), to_number("1 1/2"), to_number("21/3")
    (Fraction(3000, 1), None, Fraction(3, 2), Fraction(7, 1))
    """
    s = _WRAPPERS.sub(r" \1 ", text.replace("\u2212", "-"))
    s = _NOISE.sub(" ", _THIN_SEPARATOR.sub(",", s.replace("{,}", ","))).strip()
    if sum(c.isdigit() for c in s) > MAX_DIGITS:
        return None
    if (m := _AMOUNT.fullmatch(s)) is not None:
        unit = (m["unit"] or "").lower().split()
        if VALUE_WORDS.search(m["unit"] or ""):
            return None
        value = Fraction(m["num"].replace(",", "")) * _SCALE.get(unit[0] if unit else "", 1)
        return -value if m["sign"] else value
    if (m := _FRACTION.fullmatch(s.rstrip(".").strip())) is not None:
        sign, whole = m[1], int(m[2] or 0)
        num, den = (m[3], m[4]) if m[3] is not None else (m[5], m[6])
        if int(den) == 0:
            return None
        value = whole + Fraction(int(num), int(den))
        return -value if sign else value
    return None


class GSM8KTask(Task):
    name = "gsm8k"
    prompt_key = "question"
    answer_key = "answer"

    def gold_from_field(self, answer: str) -> str:
        return answer.rpartition("####")[2].strip() if "####" in answer else answer.strip()

    def extract_answer(self, text: str) -> str | None:
        return self._read(text)[0]

    def parse_gold(self, answer: str | None) -> Any:
        return None if answer is None else to_number(answer)

    def triage(self, gold: Any, text: str) -> tuple[str | None, Verdict]:
        answer, disagree = self._read(text)
        return answer, _judge(gold, answer, disagree)

    def check(self, gold: Any, text: str) -> Verdict:
        return _judge(gold, *self._read(text))

    @staticmethod
    def _read(text: str) -> tuple[str | None, bool]:
        """(the reply's answer, whether its boxes disagree), scanning the reply once."""
        region = answer_region(text)
        boxes = boxed_answers(region)
        if boxes is None:  # a spray of boxes
            return None, True
        if boxes:
            values = {v if (v := to_number(b)) is not None else b for b in boxes}
            return boxes[-1], len(values) > 1
        if "####" in region:
            return last_number(region.rpartition("####")[2]), False
        return last_number(region), False


def _judge(gold: Any, answer: str | None, disagree: bool) -> Verdict:
    if disagree:
        return False, "ok"  # several different boxed answers: a spray, not an answer
    value = to_number(answer) if answer is not None else None
    return value is not None and value == gold, "ok"

TASKS.register("gsm8k")(GSM8KTask)
