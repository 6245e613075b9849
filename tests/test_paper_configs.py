"""Every configs/papers/*.yaml loads, and names only registered rewards, estimators and losses."""

from __future__ import annotations

from pathlib import Path

import pytest

import rewardkit.advantages  # noqa: F401  (registers the estimators)
import rewardkit.losses  # noqa: F401  (registers the losses)
import rewardkit.rewards  # noqa: F401  (registers the rewards)
import rewardkit.tasks  # noqa: F401  (registers the tasks)
from rewardkit.config import load_config
from rewardkit.registry import ADVANTAGES, LOSSES, REWARDS, TASKS
from rewardkit.rewards import RewardScorer, RewardSpec

PAPERS = Path(__file__).resolve().parents[1] / "configs" / "papers"
CONFIGS = sorted(PAPERS.glob("*.yaml"))
PENDING_TASKS = {"toolcall"}  # planned task, not registered yet (toolrl.yaml says so)
NOT_FROM_A_PAPER = {"accuracy", "format", "task_score"}  # task_score: the task checker's own score


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_paper_config_is_valid(path):
    cfg = load_config(path)
    assert "https://" in path.read_text(), "quote the paper (with its link) in a comment"
    RewardScorer([RewardSpec(r.name, r.weight, r.params) for r in cfg.rewards])  # binds params
    assert cfg.advantage.name in ADVANTAGES
    assert cfg.loss.name in LOSSES
    assert cfg.task in TASKS or cfg.task in PENDING_TASKS


def test_every_paper_reward_has_a_config():
    named = {r.name for path in CONFIGS for r in load_config(path).rewards}
    missing = set(REWARDS.names()) - NOT_FROM_A_PAPER - named
    assert not missing, f"no configs/papers/*.yaml uses: {sorted(missing)}"
