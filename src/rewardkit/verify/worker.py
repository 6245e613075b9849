"""What runs inside a verification worker process (imported once by the forkserver)."""

from __future__ import annotations

from typing import Any

# Preloaded by the forkserver, so every worker starts with math-verify already imported.
import math_verify  # noqa: F401


def decide(task: Any, gold_answer: str, key: str) -> tuple[bool | None, str]:
    """`task.decide(gold_answer, key)`: the part of a check that may be slow or hang."""
    return task.decide(gold_answer, key)
