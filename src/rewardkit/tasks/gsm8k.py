"""`gsm8k`: grade-school word problems; the gold is the number after '####'.

The reply's answer is the last \\boxed{} after </think>, else the number after a '####', else
the last number in the answer region. Several boxes with different numbers (or more than
`math.MAX_BOXES` boxes) make the reply wrong, as for `math`. The answer is compared exactly (as
a fraction) with the gold after removing what word problems put around a number: currency (`$`,
`\\$`), a percent sign, thousands separators (`1,234`, `1{,}234`, `1\\,234`; only groups of
three digits), a trailing period and unit words (`18 dollars`, `5 \\text{ cm}`). A box holding
anything else (two numbers, an expression) is wrong.
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
    r"\s*(?:[A-Za-z][A-Za-z ./]*)?\.?", re.ASCII)
_THIN_SEPARATOR = re.compile(r"(?<=\d)\\,(?=\d{3})")
_FRACTION = re.compile(r"(-?)\\d?frac\{(\d+)\}\{(\d+)\}|(-?\d+)/(\d+)", re.ASCII)


def to_number(text: str) -> Fraction | None:
    """The number a short answer states, or None if it states something else.

    >>> to_number("$1,234."), to_number("\\\\frac{3}{4}"), to_number("18 \\\\text{ dollars}")
    (Fraction(1234, 1), Fraction(3, 4), Fraction(18, 1))
    >>> to_number("25\\\\%"), to_number("x+1"), to_number("1,23"), to_number("3 or 4")
    (Fraction(25, 1), None, None, None)
    """
    s = _WRAPPERS.sub(r" \1 ", text.replace("\u2212", "-"))
    s = _NOISE.sub(" ", _THIN_SEPARATOR.sub(",", s.replace("{,}", ","))).strip()
    if (m := _AMOUNT.fullmatch(s)) is not None:
        value = Fraction(m["num"].replace(",", ""))
        return -value if m["sign"] else value
    if (m := _FRACTION.fullmatch(s.replace(" ", ""))) is not None:
        sign, num, den = (m[1], m[2], m[3]) if m[2] is not None else ("", m[4], m[5])
        if int(den) == 0:
            return None
        value = Fraction(int(num), int(den))
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
