"""The trainer's precision decision (B1): fp32 weights by default on every device, bf16 matrix
products through autocast where native, and a refusal/warning for 16-bit weights in full
fine-tuning. No GPU here: CUDA is faked by monkeypatching torch's queries."""

from __future__ import annotations

import logging

import pytest
import torch

from rewardkit import precision
from rewardkit.config import load_config
from rewardkit.errors import UserError

CUDA, CPU, F32, BF16 = torch.device("cuda"), torch.device("cpu"), torch.float32, torch.bfloat16


@pytest.fixture
def fake_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


def test_cuda_default_trains_fp32_weights_with_bf16_autocast(fake_cuda):
    # Before the fix: bf16 weights (resolve_dtype("auto") on CUDA) and no autocast, so AdamW
    # updated bf16 weights directly.
    assert precision.training_precision("auto", "auto", CUDA) == (F32, BF16)
    assert precision.training_precision("auto", "none", CUDA) == (F32, None)
    assert precision.training_precision("float32", "auto", CUDA) == (F32, BF16)


def test_cpu_default_follows_native_bf16(monkeypatch):
    monkeypatch.setattr(precision, "has_native_bf16", lambda device: True)
    assert precision.training_precision("auto", "auto", CPU) == (F32, BF16)
    monkeypatch.setattr(precision, "has_native_bf16", lambda device: False)
    assert precision.training_precision("auto", "auto", CPU) == (F32, None)


def test_inference_may_still_load_bf16_on_cuda(fake_cuda):
    assert precision.resolve_dtype("auto", CUDA) is BF16  # nothing updates these weights
    assert precision.resolve_dtype("auto", CPU) is F32


def test_bf16_weights_for_full_fine_tuning_warn(fake_cuda, caplog):
    with caplog.at_level(logging.WARNING, logger="rewardkit.precision"):
        assert precision.training_precision("bfloat16", "auto", CUDA) == (BF16, None)
    assert any("most updates are lost" in r.getMessage() for r in caplog.records)


def test_fp16_weights_for_full_fine_tuning_are_refused(tmp_path):
    with pytest.raises(UserError, match="float16 weights cannot be trained"):
        precision.training_dtype("float16")
    assert precision.training_dtype("float16", lora_rank=8) is torch.float16  # (warned)
    path = tmp_path / "c.yaml"
    path.write_text("model: m\ndtype: float16\n")
    with pytest.raises(UserError, match=r"c\.yaml:2: dtype: float16 weights cannot be trained"):
        load_config(path)


def test_resolve_autocast(monkeypatch):
    assert precision.resolve_autocast("none", CPU, F32) is None
    assert precision.resolve_autocast("bf16", CPU, F32) is BF16
    assert precision.resolve_autocast("bf16", CPU, BF16) is None  # already 16-bit weights
    monkeypatch.setattr(precision, "has_native_bf16", lambda device: True)
    assert precision.resolve_autocast("auto", CPU, F32) is BF16
    monkeypatch.setattr(precision, "has_native_bf16", lambda device: False)
    assert precision.resolve_autocast("auto", CPU, F32) is None
    with pytest.raises(ValueError, match="autocast"):
        precision.resolve_autocast("fp16", CPU, F32)
    monkeypatch.undo()
    assert isinstance(precision.has_native_bf16(CPU), bool)
    assert precision.has_native_bf16(torch.device("meta")) is False
