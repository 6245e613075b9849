"""What runs inside a verification worker process (imported once by the forkserver)."""

from __future__ import annotations

from typing import Any

try:  # preload: every worker forked from the forkserver then starts with math-verify imported
    import math_verify  # noqa: F401
except ImportError:  # pragma: no cover - math-verify is a core dependency
    pass


def decide(task: Any, gold_answer: str, key: str) -> tuple[bool | None, str]:
    """`task.decide(gold_answer, key)`: the part of a check that may be slow or hang."""
    return task.decide(gold_answer, key)
