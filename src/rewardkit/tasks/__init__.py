"""Tasks: data rows -> problems -> prompts, and "is this reply correct?". Registered by name."""

from rewardkit.registry import TASKS
from rewardkit.tasks import code, gsm8k, math, sql, synthetic  # noqa: F401  (registration)
from rewardkit.tasks.base import Task


def get_task(name: str) -> Task:
    """An instance of the registered task `name` (or a dotted path to a Task subclass)."""
    return TASKS.get(name)()


__all__ = ["Task", "get_task"]
