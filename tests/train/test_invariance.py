"""Gradient accumulation and ranks equal one big batch (issue 11.3, B9/T3): the trainer's central
numerical promise. Minibatch sizes 1, 3 and the whole batch, and one process vs two, must give
the same gradients and the same update, for every aggregation mode, on rows of unequal lengths
with overlong-masked (weight 0) rows. fp32, a tiny model, a scripted sampler (identical samples).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from scripted import ScriptedSampler

from rewardkit.config import load_config
from rewardkit.train import loop
from rewardkit.train.checkpoint import latest_checkpoint, read_jsonl
from rewardkit.train.optimizer import Optimization

SRC = Path(__file__).resolve().parents[2] / "src"
HERE = Path(__file__).resolve().parent
ACCELERATE = Path(sys.executable).parent / "accelerate"

# 2 prompts x 4 completions = 8 rows; budget 6, so some replies are truncated and masked.
SETTINGS = dict(steps=2, prompts_per_step=2, autocast="none", sampling={"group_size": 4, "max_new_tokens": 6},
                rewards=[{"name": "accuracy"}], filters={"overlong_mask": True},
                checkpoint={"every": 0, "keep": 1})
REAL_OPTIMIZER_STEP = Optimization.step
MODES = [("clip", "token_mean"), ("clip", "seq_mean"), ("clip", "constant"), ("clip", "sum"),
         ("drpo", "sum")]


def run_and_record(make_config, tiny_model, tmp_path, monkeypatch, name, loss, aggregation,
                   minibatch):
    """Train 2 steps; return (gradients before each optimizer step, final weights, metrics)."""
    grads = []

    def recording_step(optim, finite):
        grads.append([p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                      for p in optim.params])
        return REAL_OPTIMIZER_STEP(optim, finite)

    monkeypatch.setattr(Optimization, "step", recording_step)
    cfg = load_config(make_config(name, **SETTINGS, loss={"name": loss, "aggregation": aggregation},
                                  optim={"lr": 0.01, "minibatch_size": minibatch}))
    out = tmp_path / name
    rows = loop.train(cfg, out, sampler=ScriptedSampler(str(tiny_model)), progress=False)
    return grads, load_file(latest_checkpoint(out)[1] / "model.safetensors"), rows


@pytest.mark.parametrize(("loss", "aggregation"), MODES, ids=[f"{a}-{b}" for a, b in MODES])
def test_minibatch_size_does_not_change_the_update(make_config, tiny_model, tmp_path,
                                                   monkeypatch, loss, aggregation):
    sizes = (4, 8) if loss == "drpo" else (1, 3, 8)  # DRPO needs whole groups (G = 4)
    runs = {m: run_and_record(make_config, tiny_model, tmp_path, monkeypatch, f"mb{m}", loss,
                              aggregation, m) for m in sizes}
    grads, weights, rows = runs[8]  # the whole batch in one minibatch
    assert rows[0]["length/truncated_frac"] > 0  # masked rows are part of the test
    assert any(float(g.abs().sum()) > 0 for g in grads[0])
    for m in sizes[:-1]:
        other_grads, other_weights, other_rows = runs[m]
        for step_a, step_b in zip(grads, other_grads, strict=True):
            for a, b in zip(step_a, step_b, strict=True):
                torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
        # AdamW divides by |g|, so rounding in near-zero gradient entries moves their update by
        # a visible fraction of lr (0.01): 1e-4 allows 1% of one step, far below any real error.
        for k in weights:
            torch.testing.assert_close(other_weights[k], weights[k], rtol=1e-4, atol=1e-4)
        for r_a, r_b in zip(rows, other_rows, strict=True):
            assert r_b["loss"] == pytest.approx(r_a["loss"], rel=1e-4, abs=1e-7)
            assert r_b["grad_norm"] == pytest.approx(r_a["grad_norm"], rel=1e-4)


WORKER = """
import sys
from rewardkit.config import load_config
from rewardkit.train.loop import train
from scripted import ScriptedSampler
cfg = load_config(sys.argv[1])
train(cfg, sys.argv[2], sampler=ScriptedSampler(cfg.model), progress=False)
"""


@pytest.mark.skipif(not ACCELERATE.exists() and not shutil.which("accelerate"),
                    reason="accelerate CLI not installed")
def test_two_processes_give_the_one_process_update(make_config, tiny_model, tmp_path):
    # 4 prompts: 2 groups per rank. seq_mean with masked rows is the mode the review caught.
    config = make_config("dist", **(SETTINGS | {"prompts_per_step": 4}),
                         loss={"name": "clip", "aggregation": "seq_mean"},
                         optim={"lr": 0.01, "minibatch_size": 3})
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    env = os.environ | {"PYTHONPATH": f"{SRC}{os.pathsep}{HERE}", "OMP_NUM_THREADS": "1"}
    launcher = str(ACCELERATE) if ACCELERATE.exists() else "accelerate"
    proc = subprocess.run(
        [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", str(worker), str(config),
         str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = loop.train(load_config(config), tmp_path / "one",
                     sampler=ScriptedSampler(str(tiny_model)), progress=False)

    two = read_jsonl(tmp_path / "two" / "metrics.jsonl")
    for a, b in zip(one, two, strict=True):
        assert b["sampled_groups"] == a["sampled_groups"] == 4
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-7)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)
    w_one = load_file(latest_checkpoint(tmp_path / "one")[1] / "model.safetensors")
    w_two = load_file(latest_checkpoint(tmp_path / "two")[1] / "model.safetensors")
    for k in w_one:  # (tolerance: see test_minibatch_size_does_not_change_the_update)
        torch.testing.assert_close(w_two[k], w_one[k], rtol=1e-4, atol=1e-4)
