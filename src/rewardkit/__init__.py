"""rewardkit: reinforcement learning of language models where the reward is the product."""

from rewardkit.registry import ADVANTAGES, LOSSES, REWARDS, TASKS, Registry
from rewardkit.types import Completion, Group, Problem

__version__ = "0.1.0"
__all__ = ["ADVANTAGES", "LOSSES", "REWARDS", "TASKS", "Completion", "Group", "Problem", "Registry",
           "verify_groups"]


def __getattr__(name: str):  # lazy: `import rewardkit` stays light (no tasks, no pool)
    if name == "verify_groups":
        from rewardkit.verify import verify_groups

        return verify_groups
    raise AttributeError(f"module 'rewardkit' has no attribute {name!r}")
