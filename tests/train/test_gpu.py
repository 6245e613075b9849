"""Issue 16: a short training run on CUDA at the default precision (fp32 weights, bf16
autocast), with the memory options on. Skipped without CUDA (tests/conftest.py)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from rewardkit.config import load_config
from rewardkit.train.checkpoint import latest_checkpoint
from rewardkit.train.loop import train


@pytest.mark.gpu
def test_short_cuda_run_moves_fp32_weights(make_config, tiny_model, tmp_path):
    cfg = load_config(make_config(steps=2, device="cuda"),
                      ["optim.gradient_checkpointing=true", "sampling.max_batch_size=4"])
    rows = train(cfg, tmp_path / "run", progress=False)
    assert all(math.isfinite(r["loss"]) and r["grad_norm"] > 0 for r in rows)
    _, ckpt = latest_checkpoint(tmp_path / "run")
    assert json.loads((ckpt / "config.json").read_text())["dtype"] == "float32"
    before, after = load_file(tiny_model / "model.safetensors"), load_file(
        ckpt / "model.safetensors")
    moved = sum(int((before[k] != after[k]).sum()) for k in before)
    assert moved / sum(t.numel() for t in before.values()) > 0.5
    assert torch.cuda.max_memory_allocated() > 0
    assert 0 < rows[-1]["memory/cuda_peak_gib"] <= torch.cuda.max_memory_allocated() / 2**30
