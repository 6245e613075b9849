"""Issue 16 item 3: with several processes the model is wrapped by accelerate (DDP) and its
optimizer prepared by it; a rank with no rows in an optimizer step still joins the gradient
reduction instead of deadlocking the others."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rewardkit.train.checkpoint import read_jsonl

SRC = Path(__file__).resolve().parents[2] / "src"
HERE = Path(__file__).resolve().parent
ACCELERATE = Path(sys.executable).parent / "accelerate"

WORKER = """
import json, sys
from rewardkit.config import load_config
import torch
from rewardkit.train import loop
from rewardkit.train.optimizer import Optimization
from scripted import ScriptedSampler
seen, wrapper = [], []
real_update, real_step = loop.policy_update, Optimization.step
def update_spy(policy, *args):
    wrapper[:] = [type(policy.ddp).__name__]
    return real_update(policy, *args)
def step_spy(optim, finite):
    seen.append([wrapper[0], type(optim.optimizer).__name__, torch.distributed.get_rank(),
                 sum(p.grad is not None for p in optim.params)])
    return real_step(optim, finite)
loop.policy_update, Optimization.step = update_spy, step_spy
cfg = load_config(sys.argv[1])
loop.train(cfg, sys.argv[2], sampler=ScriptedSampler(cfg.model), progress=False)
with open(sys.argv[2] + f"-rank{seen[0][2]}.json", "w") as f:
    json.dump(seen, f)
"""


@pytest.mark.skipif(not ACCELERATE.exists() and not shutil.which("accelerate"),
                    reason="accelerate CLI not installed")
def test_ddp_with_an_empty_optimizer_step_on_one_rank(make_config, tmp_path):
    # 3 prompts: rank 0 trains 2 groups, rank 1 one; 2 optimizer steps per batch, so rank 1's
    # second optimizer step has no rows (and no minibatch) at all.
    config = make_config("ddp", steps=2, prompts_per_step=3, autocast="none",
                         optim={"lr": 0.01, "minibatch_size": 4, "updates_per_epoch": 2},
                         rewards=[{"name": "accuracy"}], checkpoint={"every": 0, "keep": 1})
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    env = os.environ | {"PYTHONPATH": f"{SRC}{os.pathsep}{HERE}", "OMP_NUM_THREADS": "1"}
    launcher = str(ACCELERATE) if ACCELERATE.exists() else "accelerate"
    out = tmp_path / "run"
    proc = subprocess.run(
        [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", str(worker), str(config),
         str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2]
    for rank in (0, 1):
        seen = json.loads(Path(f"{out}-rank{rank}.json").read_text())
        assert len(seen) == 4  # 2 steps x 2 optimizer steps, on every rank
        assert {(s[0], s[1]) for s in seen} == {("DistributedDataParallel",
                                                 "AcceleratedOptimizer")}
        assert all(s[3] > 0 for s in seen)  # every step ends with reduced gradients
    # (the final save compares the ranks' weights and fails if they diverged)
