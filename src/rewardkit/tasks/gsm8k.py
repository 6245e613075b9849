"""`gsm8k`: grade-school word problems; the gold is the integer after '####'.

The reply's answer is the last \\boxed{} after </think>, else the number after a '####', else
the last number in the answer region; compared numerically (commas, '$' and trailing '.' removed).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from rewardkit.registry import TASKS
from rewardkit.tasks.base import Task, Verdict, answer_region, last_boxed, last_number


def to_number(text: str) -> Fraction | None:
    """'1,234' -> 1234, '$5.50' -> 11/2, '\\frac{3}{4}' and '3/4' -> 3/4; None if not a number.

    >>> to_number("$1,234.") , to_number("\\\\frac{3}{4}"), to_number("x+1")
    (Fraction(1234, 1), Fraction(3, 4), None)
    """
    s = text.strip().replace(",", "").replace("$", "").replace("\\!", "").rstrip(".").strip()
    s = s.removeprefix("\\text{").removesuffix("}") if s.startswith("\\text{") else s
    if s.startswith(("\\frac{", "\\dfrac{")) and s.endswith("}"):
        num, _, den = s.split("{", 1)[1][:-1].partition("}{")
        s = f"{num}/{den}"
    try:
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None


class GSM8KTask(Task):
    name = "gsm8k"
    prompt_key = "question"
    answer_key = "answer"

    def gold_from_field(self, answer: str) -> str:
        return answer.rpartition("####")[2].strip() if "####" in answer else answer.strip()

    def extract_answer(self, text: str) -> str | None:
        region = answer_region(text)
        boxed = last_boxed(region)
        if boxed is not None:
            return boxed
        if "####" in region:
            return last_number(region.rpartition("####")[2])
        return last_number(region)

    def parse_gold(self, answer: str | None) -> Any:
        return None if answer is None else to_number(answer)

    def check(self, gold: Any, text: str) -> Verdict:
        predicted = self.extract_answer(text)
        value = to_number(predicted) if predicted is not None else None
        return value is not None and value == gold, "ok"


TASKS.register("gsm8k")(GSM8KTask)
