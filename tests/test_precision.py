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


@pytest.mark.parametrize("launcher", ["fp16", "fp8"])
def test_accelerate_fp16_and_fp8_are_refused(launcher):
    with pytest.raises(UserError, match=f"--mixed_precision {launcher} is not supported"):
        precision.launcher_autocast(launcher, None, F32)


def test_accelerate_bf16_means_autocast_over_fp32_weights():
    assert precision.launcher_autocast("bf16", None, F32) == BF16
    assert precision.launcher_autocast("no", None, F32) is None  # the config's choice stays
    assert precision.launcher_autocast("no", BF16, F32) == BF16
    assert precision.launcher_autocast("bf16", None, BF16) is None  # 16-bit weights: no autocast


def weights_moved_fraction(device: torch.device, tiny_model_path) -> float:
    """Share of weight entries changed by 3 AdamW steps at lr 1e-6 under the trainer's default
    precision on `device` (issue 16 item 1: bf16 weights would keep ~98% unchanged)."""
    from transformers import AutoModelForCausalLM

    from rewardkit.train.policy import Row, collate, token_logprobs

    weights, autocast = precision.training_precision("auto", "auto", device)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=weights).to(device)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
    batch = collate([Row([5, 6, 7], [8, 9, 10], advantage=1.0)], pad_id=0, device=device)
    for _ in range(3):
        logp, _ = token_logprobs(model, batch, temperature=1.0, autocast=autocast)
        (-(logp * batch.mask).sum()).backward()
        opt.step()
        opt.zero_grad()
    moved = sum(int((p.detach() != before[n]).sum()) for n, p in model.named_parameters())
    return moved / sum(p.numel() for p in before.values())


@pytest.fixture
def tiny_model_path(tmp_path):
    from rewardkit.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path / "m", layers=2, hidden=32, heads=2, max_position=64)


def test_default_precision_moves_the_weights_on_this_machine(tiny_model_path):
    # AdamW's first steps move every weight with a nonzero gradient by about lr; in fp32 those
    # moves survive. Entries with zero gradient (unused embedding rows) stay; measured 1.0 here.
    assert weights_moved_fraction(CPU, tiny_model_path) > 0.9  # bf16 weights: 0.026


@pytest.mark.gpu
def test_default_precision_moves_the_weights_on_cuda(tiny_model_path):
    assert weights_moved_fraction(CUDA, tiny_model_path) > 0.9
