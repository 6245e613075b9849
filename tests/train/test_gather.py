"""Issue 16 item 3: after a step, ranks exchange what metrics and stateful rewards need (text,
lengths, verdicts, scores), not the per-token arrays of every completion."""

from __future__ import annotations

import tinyrun

from rewardkit.config import load_config
from rewardkit.train.loop import train


def test_stateful_rewards_see_groups_without_per_token_arrays(make_config, tmp_path,
                                                              monkeypatch):
    seen = []

    def record(state, batch, *, step):
        # the training batch only, not the synthetic group rewards are probed with at start-up
        seen.extend(c for g in batch if g.problem.task == "count" for c in g.completions)
        return state

    cfg = load_config(make_config(steps=1, rewards=[{"name": "tinyrun.digits"},
                                                    {"name": "tinyrun.novelty", "weight": 0.0}]))
    monkeypatch.setattr(tinyrun.novelty, "update_state", record)
    train(cfg, tmp_path / "run", progress=False)
    assert len(seen) == 8  # 2 prompts x 4 completions
    assert all(c.token_ids is None and c.logprobs is None and c.entropies is None for c in seen)
    assert all(isinstance(c.text, str) and c.num_tokens > 0 for c in seen)  # what they read
