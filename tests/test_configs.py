"""Every configs/**/*.yaml loads with the trainer's validation, and its names resolve."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import rewardkit.advantages  # noqa: F401  (registers the estimators)
import rewardkit.losses as losses
import rewardkit.rewards  # noqa: F401  (registers the rewards)
import rewardkit.tasks  # noqa: F401  (registers the tasks)
from rewardkit.config import load_config
from rewardkit.registry import ADVANTAGES, LOSSES, TASKS
from rewardkit.rewards import RewardScorer, RewardSpec

ALL = sorted((Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml"))
CONFIGS = [p for p in ALL if not p.name.startswith("sft_")]  # training (RL) configs
SFT_CONFIGS = [p for p in ALL if p.name.startswith("sft_")]
PENDING_TASKS = {"toolcall"}  # planned task, not registered yet (configs/papers/toolrl.yaml)
PRESETS = {"grpo", "dr_grpo", "dapo", "dler", "rloo"}


def test_every_preset_exists():
    assert {p.stem for p in CONFIGS if p.parent.name == "configs"} >= PRESETS


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p.relative_to(p.parents[1])) for p in CONFIGS])
def test_config_loads_and_names_resolve(path):
    cfg = load_config(path)  # validates ranges, choices, names and parameters
    assert cfg.task in TASKS
    assert "https://" in path.read_text(), "quote the paper (with its link) in a comment"
    RewardScorer([RewardSpec(r.name, r.weight, r.params) for r in cfg.rewards])  # binds params
    advantage = ADVANTAGES.get(cfg.advantage.name)
    inspect.signature(advantage).bind_partial(None, **cfg.advantage.params)
    loss = LOSSES.get(cfg.loss.name)
    inspect.signature(loss).bind_partial(None, None, None, None, **cfg.loss.params)
    assert cfg.loss.aggregation in losses.AGGREGATIONS
    losses.kl_estimator(cfg.loss.kl_estimator)
    assert cfg.task in TASKS or cfg.task in PENDING_TASKS


@pytest.mark.parametrize("path", SFT_CONFIGS, ids=[p.name for p in SFT_CONFIGS])
def test_sft_configs_load(path):
    from rewardkit.train.sft import SFTConfig

    cfg = load_config(path, ["out=/tmp/unused"], cls=SFTConfig)
    assert cfg.steps > 0 and cfg.out == "/tmp/unused"
