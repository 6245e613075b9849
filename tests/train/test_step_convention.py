"""One step convention for rewards (rewards/base.py): training and `score` agree on step indices."""

from __future__ import annotations

import json

from rewardkit.config import load_config
from rewardkit.rewards import RewardScorer, RewardSpec
from rewardkit.testing import make_group
from rewardkit.train.checkpoint import latest_checkpoint
from rewardkit.train.loop import train

LASER_D = {"name": "laser_d", "params": {"update_every": 2, "grid_start": 2, "grid_step": 2}}


def _reward_state(make_config, tmp_path, steps: int) -> dict:
    cfg = load_config(make_config(f"s{steps}", steps=steps, rewards=[LASER_D],
                                  checkpoint={"every": 0, "keep": 1}))
    train(cfg, tmp_path / f"run{steps}")
    _, ckpt = latest_checkpoint(tmp_path / f"run{steps}")
    return json.loads((ckpt / "trainer_state.json").read_text())["reward_state"]["laser_d"]


def _score_state(steps: int) -> dict:
    """What `rewardkit score` does with a file whose lines carry steps 0 .. steps-1."""
    scorer = RewardScorer([RewardSpec("laser_d", params=LASER_D["params"])])
    for step in range(steps):
        groups = [make_group(lengths=[3, 5], correct=[True, False], max_new_tokens=6)]
        scorer.score(groups, step=step)
        scorer.end_step(groups, step=step)
    return scorer.state["laser_d"]


def test_laser_d_first_reestimates_after_update_every_steps_in_training_and_score(
    make_config, tmp_path
):
    # update_every = 2: after one step only the buffer exists; after two, targets.
    # B16: training passed step 1 for its first step, so (1 + 1) % 2 == 0 re-estimated after
    # one step while `score` (step 0) waited for two.
    assert "targets" not in _score_state(1) and "targets" in _score_state(2)
    assert "targets" not in _reward_state(make_config, tmp_path, steps=1)
    assert "targets" in _reward_state(make_config, tmp_path, steps=2)
