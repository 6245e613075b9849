"""Tasks: data rows -> problems -> prompts, and "is this reply correct?". Registered by name."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from rewardkit.errors import UserError
from rewardkit.registry import TASKS
from rewardkit.tasks import (  # noqa: F401  (registration)
    answers,
    code,
    gsm8k,
    math,
    sql,
    synthetic,
    toolcall,
)
from rewardkit.tasks.base import Task
from rewardkit.tasks.reasoning_gym import ReasoningGymTask, is_reasoning_gym


def get_task(name: str, params: Mapping[str, Any] | None = None) -> Task:
    """An instance of the registered task `name` (or a dotted path to a Task subclass), or of
    reasoning-gym's generator(s) for `reasoning_gym:NAME[=WEIGHT,...]`, configured by `params`
    (the config's `task_params`)."""
    if is_reasoning_gym(name):
        return ReasoningGymTask(name, params)
    cls = TASKS.get(name)
    try:
        return cls(**dict(params or {}))
    except TypeError as e:
        accepted = [p for p in inspect.signature(cls).parameters if p not in ("args", "kwargs")]
        raise UserError(f"task_params: task {name!r} takes {', '.join(accepted) or 'none'} "
                        f"({e})") from None


__all__ = ["ReasoningGymTask", "Task", "get_task", "is_reasoning_gym"]
