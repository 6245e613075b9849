"""Resume reproduces the uninterrupted run exactly on CPU (every metric but time/*), after a
clean stop and after `kill -9` at an arbitrary moment (RELIABILITY.md G12/G13)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rewardkit.config import load_config
from rewardkit.train.checkpoint import latest_checkpoint, list_checkpoints, read_jsonl
from rewardkit.train.loop import train

SRC = Path(__file__).resolve().parents[2] / "src"
HERE = Path(__file__).resolve().parent
STEPS = 4
# A stateful reward makes resume also restore reward state (its value depends on the history).
REWARDS = [{"name": "tinyrun.digits"}, {"name": "tinyrun.novelty", "weight": 0.5}]


def comparable(rows):  # without measurements of the machine (time, memory)
    return [{k: v for k, v in r.items() if not k.startswith(("time/", "memory/"))} for r in rows]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, tiny_model):
    """The uninterrupted run every resumed run must reproduce."""
    from tests.train.conftest import BASE

    out = tmp_path_factory.mktemp("reference") / "run"
    cfg = load_config(None, [f"model={tiny_model}", f"steps={STEPS}", "prompts_per_step=3"]
                      + [f"{k}={v!r}" for k, v in _flat(BASE).items() if k not in ("steps",
                                                                           "prompts_per_step")]
                      + [f"rewards={REWARDS}"])
    torch.set_num_threads(1)
    train(cfg, out)
    return cfg, out


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_stop_and_resume_in_process(reference_run, tmp_path):
    cfg, ref_out = reference_run
    out = tmp_path / "run"
    train(cfg, out, stop_after=2)  # a clean stop after the step-2 checkpoint
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2]
    train(cfg, out, resume=True)
    assert comparable(read_jsonl(out / "metrics.jsonl")) == comparable(
        read_jsonl(ref_out / "metrics.jsonl"))
    a = load_file(latest_checkpoint(out)[1] / "model.safetensors")
    b = load_file(latest_checkpoint(ref_out)[1] / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # bit-identical weights


def test_resume_truncates_rows_past_the_checkpoint(reference_run, tmp_path):
    cfg, ref_out = reference_run
    out = tmp_path / "run"
    train(cfg, out, stop_after=3)
    # Pretend the run died after logging step 3 but before its checkpoint landed.
    import shutil

    shutil.rmtree(out / "checkpoints" / "step-3")
    train(cfg, out, resume=True)
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # step 3 once, not twice
    assert comparable(rows) == comparable(read_jsonl(ref_out / "metrics.jsonl"))


def _cli(config: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": f"{SRC}{os.pathsep}{HERE}", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", "import torch, sys; torch.set_num_threads(1); "
         "from rewardkit.cli.main import main; sys.exit(main(sys.argv[1:]))",
         "train", str(config), "--out", str(out), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("kill_at", ["after_first_checkpoint", "random"])
def test_kill9_and_resume_reproduces_metrics(reference_run, tmp_path, kill_at):
    cfg, ref_out = reference_run
    from rewardkit.config import dump_config

    config = tmp_path / "config.yaml"
    config.write_text(dump_config(cfg))
    out = tmp_path / "run"
    proc = _cli(config, out)
    if kill_at == "after_first_checkpoint":
        deadline = time.time() + 120
        while not list_checkpoints(out) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.01)
    else:  # a random moment just after the row of step k is logged: often mid-checkpoint-save
        import random

        rng = random.Random()
        k = rng.randint(1, STEPS - 1)
        deadline = time.time() + 120
        while len(read_jsonl(out / "metrics.jsonl")) < k and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = [r["step"] for r in read_jsonl(out / "metrics.jsonl")]
    resumed = _cli(config, out, "--resume")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1)), (killed_at, err)
    assert comparable(rows) == comparable(read_jsonl(ref_out / "metrics.jsonl")), killed_at
    assert not list((out / "checkpoints").glob(".tmp-*"))
    assert len(list_checkpoints(out)) == cfg.checkpoint.keep


def test_lora_stop_and_resume(make_config, tmp_path):
    cfg = load_config(make_config(steps=3, lora_rank=4))
    train(cfg, tmp_path / "straight")
    train(cfg, tmp_path / "resumed", stop_after=1)
    train(cfg, tmp_path / "resumed", resume=True)
    a, b = (comparable(read_jsonl(tmp_path / d / "metrics.jsonl")) for d in ("straight", "resumed"))
    assert len(a) == 3 and a == b
