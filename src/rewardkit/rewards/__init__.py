"""Rewards: pure functions over one group. Importing this package registers every built-in one."""

from rewardkit.rewards import (  # noqa: F401  (registration)
    budget,
    code,
    correctness,
    format,
    hapo,
    laser,
    length,
    logprob,
    repetition,
    sql,
    task_score,
    text_f1,
    toolrl,
)
from rewardkit.rewards.base import RewardContext, stateful
from rewardkit.rewards.combine import RewardScorer, RewardSpec, parse_spec, total_reward

__all__ = ["RewardContext", "RewardScorer", "RewardSpec", "parse_spec", "stateful", "total_reward"]
