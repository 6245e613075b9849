"""Supervised warm start: masking, schedule, and a short run that writes a loadable model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rewardkit.cli.main import main  # noqa: E402
from rewardkit.config import load_config  # noqa: E402
from rewardkit.errors import UserError  # noqa: E402
from rewardkit.models.tiny import build_tokenizer  # noqa: E402
from rewardkit.train.sft import SFTConfig, build_examples, collate, lr_at, sft  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_loss_mask_covers_completion_and_eos_only():
    tok = build_tokenizer()
    ex = build_examples(tok, [("1+2=?\n", "<think>1+2=3</think>\\boxed{3}"), ("9+9=?\n", "x")])
    ids, n_prompt = ex[0]
    assert n_prompt == 6  # "1+2=?\n": six characters, six tokens
    assert ids[-1] == tok.eos_token_id
    input_ids, labels, mask = collate(ex, tok.pad_token_id)
    assert input_ids.shape == labels.shape == mask.shape == (2, len(ids))
    assert (labels[0, :6] == -100).all() and (labels[0, 6:] == input_ids[0, 6:]).all()
    # Row 2: "9+9=?\n" (6) + "x" + EOS = 8 real tokens, then padding masked everywhere.
    assert mask[1].sum() == 8 and (labels[1, 8:] == -100).all()
    assert labels[1, 6:8].tolist() == [tok.convert_tokens_to_ids("x"), tok.eos_token_id]


def test_schedule_warmup_then_cosine():
    cfg = SFTConfig(steps=11, lr=1.0, warmup_steps=2, min_lr_ratio=0.1)
    # Warm-up: (step + 1) / 2 -> 0.5, 1.0. Then cosine over steps 2..10 from 1.0 to 0.1.
    assert [lr_at(s, cfg) for s in (0, 1)] == [0.5, 1.0]
    assert lr_at(2, cfg) == pytest.approx(1.0)
    assert lr_at(6, cfg) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway: cos(pi/2) = 0
    assert lr_at(10, cfg) == pytest.approx(0.1)


def test_config_errors():
    with pytest.raises(UserError, match="out: required"):
        sft(SFTConfig())
    with pytest.raises(UserError, match="unknown key"):
        load_config(None, ["bogus=1"], cls=SFTConfig)


def test_short_run_rebuilds_a_loadable_model(tmp_path, capsys):
    """The shipped config's command on a shortened schedule: trains, writes, loads, generates."""
    out = tmp_path / "start"
    args = ["sft", str(ROOT / "configs" / "sft_arith.yaml"), "--set", f"out={out}",
            "--set", "steps=3", "--set", "num_problems=64", "--set", "batch_size=8",
            "--set", "eval_problems=2", "--set", "max_new_tokens=8", "--set", "log_every=1"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "step 3/3" in printed and "greedy accuracy" in printed
    model = transformers.AutoModelForCausalLM.from_pretrained(out)
    tok = transformers.AutoTokenizer.from_pretrained(out)
    record = json.loads((out / "sft.json").read_text())
    assert record["config"]["steps"] == 3
    assert model.config.hidden_size == record["config"]["hidden"]
    assert not list(tmp_path.glob(".start.*"))  # the staging folder is gone
    enc = tok("12+7=?\n", return_tensors="pt")
    assert model.generate(**enc, max_new_tokens=3, do_sample=False).shape[1] == 10
    # A second run replaces the first in place.
    before = (out / "model.safetensors").read_bytes()
    assert main(args[:-2] + ["--set", "seed=1"]) == 0
    assert (out / "model.safetensors").read_bytes() != before
