"""What runs inside a verification worker process (imported once by the forkserver, with
`_warm`, so every worker starts with both imported; the caller never imports math-verify)."""

from __future__ import annotations

from typing import Any


def decide(task: Any, gold_answer: str, key: str) -> tuple[bool | None, str]:
    """`task.decide(gold_answer, key)`: the part of a check that may be slow or hang."""
    return task.decide(gold_answer, key)
