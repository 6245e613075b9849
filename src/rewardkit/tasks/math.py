"""`math`: competition math (MATH-500 and the like), checked by math-verify.

Extraction prefers the last \\boxed{} after </think>; without one, math-verify's own extraction
over the answer region takes the last LaTeX or plain expression. The gold is parsed once per group.
math-verify's timeout uses SIGALRM, which only works in the main thread: there it is on
(`timeout_seconds`); in other threads it is off and a later hardened verifier runs checks in
worker processes instead (RELIABILITY.md §3).
"""

from __future__ import annotations

import threading
from typing import Any

from rewardkit.registry import TASKS
from rewardkit.tasks.base import Task, Verdict, answer_region, last_boxed

TIMEOUT_S = 5


def _timeout() -> int | None:
    return TIMEOUT_S if threading.current_thread() is threading.main_thread() else None


class MathTask(Task):
    name = "math"
    prompt_key = "problem"
    answer_key = "answer"

    def parse_gold(self, answer: str | None) -> Any:
        from math_verify import parse

        if answer is None or not answer.strip():
            return None
        gold = parse(f"\\boxed{{{answer}}}", parsing_timeout=_timeout())
        return gold or None

    def check(self, gold: Any, text: str) -> Verdict:
        from math_verify import parse, verify
        from math_verify.errors import TimeoutException

        boxed = last_boxed(answer_region(text))
        source = f"\\boxed{{{boxed}}}" if boxed is not None else answer_region(text)[-300:]
        try:
            predicted = parse(source, parsing_timeout=_timeout())
            if not predicted:
                return False, "ok"
            # Order matters: verify(gold, prediction) (RELIABILITY.md §3, asymmetry).
            return bool(verify(gold, predicted, timeout_seconds=_timeout())), "ok"
        except TimeoutException:
            return None, "timeout"


TASKS.register("math")(MathTask)
