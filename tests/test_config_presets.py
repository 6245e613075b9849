"""Shipped presets for instruct and distilled models use the chat template (U9, U7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rewardkit.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRESETS = [p for p in sorted(CONFIGS.glob("*.yaml")) + sorted((CONFIGS / "papers").glob("*.yaml"))
           if not p.stem.startswith("sft_")]  # training presets only
# Models trained with a chat format: instruct, R1-distilled (DeepScaleR is one), Qwen3.
CHAT_MODELS = ("Instruct", "Distill", "DeepScaleR", "Qwen3")


@pytest.mark.parametrize("path", PRESETS, ids=[p.stem for p in PRESETS])
def test_chat_models_use_the_chat_template(path):
    cfg = load_config(path)
    chat = any(tag in cfg.model for tag in CHAT_MODELS)
    assert cfg.sampling.chat_template == chat, cfg.model
    # R1-Distill's template ends the prompt with "<think>\n": `format` must not ask for it again
    for r in cfg.rewards:
        if r.name == "format" and "R1-Distill" in cfg.model:
            assert r.params.get("think_open_in_prompt") is True, path.name
