"""Two CPU processes under `accelerate launch`: whole groups per rank, gradients summed.

On a machine without GPUs, `accelerate launch --cpu --num_processes 2` starts ONE process (its
multi-CPU path needs mpirun and a hostfile); `--multi_gpu --num_processes 2` starts two through
torchrun, and `Accelerator(cpu=True)` (config `device: cpu`) joins them over gloo.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rewardkit.train.checkpoint import latest_checkpoint, read_jsonl

SRC = Path(__file__).resolve().parents[2] / "src"
HERE = Path(__file__).resolve().parent
ACCELERATE = Path(sys.executable).parent / "accelerate"


@pytest.mark.skipif(not ACCELERATE.exists() and not shutil.which("accelerate"),
                    reason="accelerate CLI not installed")
def test_two_processes_train_whole_groups(make_config, tiny_model, tmp_path):
    config = make_config(steps=2, prompts_per_step=3,  # 2 prompts on rank 0, 1 on rank 1
                         advantage={"name": "reinforce_pp_baseline"},  # whitened over all ranks
                         rewards=[{"name": "tinyrun.digits"},  # batch-level, logged only:
                                  {"name": "tinyrun.batch_size", "weight": 0.0}])
    out = tmp_path / "run"
    env = os.environ | {"PYTHONPATH": f"{SRC}{os.pathsep}{HERE}", "OMP_NUM_THREADS": "1"}
    launcher = str(ACCELERATE) if ACCELERATE.exists() else "accelerate"
    proc = subprocess.run(
        [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "rewardkit", "train", str(config), "--out", str(out), "--quiet"],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    rows = read_jsonl(out / "metrics.jsonl")  # written once, by rank 0
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert r["sampled_groups"] == r["kept_groups"] == 3  # gathered from both ranks
        assert r["loss"] is not None and r["grad_norm"] > 0
        assert r["reward/tinyrun.batch_size/mean"] == 3  # the step's batch, not a rank's share
    step, ckpt = latest_checkpoint(out)
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert step == 2 and state["world_size"] == 2
    assert state["data_consumed"] == 6  # one shared cursor: 2 steps x 3 prompts, none repeated
    assert (ckpt / "rng-rank0.pt").exists() and (ckpt / "rng-rank1.pt").exists()
    before, after = load_file(tiny_model / "model.safetensors"), load_file(ckpt / "model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # (Run.save also checks that both ranks hold identical weights before rank 0 writes them.)
