"""Several optimizer steps per batch make clipping act (issue 11.1, B3), and the logged loss
statistics are what their names say (D7): a true min and max, NaN left out of means."""

from __future__ import annotations

import math

import pytest

from rewardkit.config import load_config
from rewardkit.train import loop

REAL_MINIBATCH_LOSS = loop.minibatch_loss


def train_recording(make_config, tmp_path, monkeypatch, **optim):
    """One step; returns (its metrics row, every minibatch's (stats, tokens on the mask))."""
    seen = []

    def recording(policy, loss_spec, cfg, mb, norms):
        loss, stats = REAL_MINIBATCH_LOSS(policy, loss_spec, cfg, mb, norms)
        seen.append((stats, float(mb.mask.sum())))
        return loss, stats

    monkeypatch.setattr(loop, "minibatch_loss", recording)
    cfg = load_config(make_config(steps=1, loss={"name": "clip", "clip_high": 0.28},
                                  optim={"lr": 0.05, "minibatch_size": 2} | optim))
    (row,) = loop.train(cfg, tmp_path / "run", progress=False)
    return row, seen


def test_one_update_per_batch_leaves_every_ratio_at_one(make_config, tmp_path, monkeypatch):
    row, _ = train_recording(make_config, tmp_path, monkeypatch)
    assert row["loss/ratio_min"] == row["loss/ratio_max"] == 1.0  # old_logp = logp.detach()
    assert row["loss/clip_frac_high"] == row["loss/clip_frac_low"] == 0.0


def test_several_updates_per_batch_move_the_ratio_and_clip(make_config, tmp_path, monkeypatch):
    row, seen = train_recording(make_config, tmp_path, monkeypatch, updates_per_epoch=4)
    assert len(seen) == 4  # 8 rows, 4 parts of 2 rows, one minibatch each
    # The first part is on-policy (ratio 1); the later ones see a policy 1-3 steps further.
    assert row["loss/ratio_max"] > 1.0 or row["loss/ratio_min"] < 1.0
    assert row["loss/clip_frac_high"] + row["loss/clip_frac_low"] > 0
    # D7: the logged min/max are the extremes over the step, not averages of extremes.
    assert row["loss/ratio_max"] == max(s["loss/ratio_max"] for s, _ in seen
                                        if math.isfinite(s["loss/ratio_max"]))
    assert row["loss/ratio_min"] == min(s["loss/ratio_min"] for s, _ in seen
                                        if math.isfinite(s["loss/ratio_min"]))
    # Means weight each minibatch by its tokens on the mask and skip NaN.
    finite = [(s["loss/clip_frac_high"], w) for s, w in seen
              if math.isfinite(s["loss/clip_frac_high"]) and w > 0]
    expected = sum(v * w for v, w in finite) / sum(w for _, w in finite)
    assert row["loss/clip_frac_high"] == pytest.approx(expected, rel=1e-12)


def test_step_stats_by_hand():
    stats = loop.StepStats()
    stats.add({"r_min": 0.9, "r_max": 1.1, "frac": 0.5}, weight=2)
    stats.add({"r_min": 0.8, "r_max": 1.05, "frac": math.nan}, weight=6)  # nothing on the mask
    stats.add({"r_min": math.nan, "r_max": math.nan, "frac": 0.0}, weight=2)

    class OneProcess:
        def gather(self, objects):
            return objects

        def sum(self, value):
            return value

    out = stats.reduce(OneProcess())
    # min(0.9, 0.8) = 0.8; max(1.1, 1.05) = 1.1; frac = (0.5·2 + 0.0·2) / (2 + 2) = 0.25
    assert out == {"r_min": 0.8, "r_max": 1.1, "frac": 0.25}


def test_step_stats_over_two_ranks_in_one_exchange():
    rank0, rank1 = loop.StepStats(), loop.StepStats()
    rank0.add({"r_min": 0.9, "r_max": 1.1, "frac": 0.5}, weight=2)
    rank1.add({"r_min": 0.7, "r_max": 1.0, "frac": 0.2}, weight=3)
    rank1.add({"only_on_1": 4.0}, weight=1)

    class Recorder:  # what rank 1 sends
        def gather(self, objects):
            self.sent = objects
            return objects

    one = Recorder()
    rank1.reduce(one)

    class TwoRanks:  # rank 0's view of the exchange
        calls = 0

        def gather(self, objects):
            self.calls += 1
            return objects + one.sent

    dist = TwoRanks()
    out = rank0.reduce(dist)
    assert dist.calls == 1  # one collective per step, not one per key
    assert out == pytest.approx({"r_min": 0.7, "r_max": 1.1, "frac": (0.5 * 2 + 0.2 * 3) / 5,
                                 "only_on_1": 4.0}, rel=1e-12)
