"""Issue 16 item 5: the head-on-completions path runs only for verified model families, and a
start-up self-check switches the fast paths off when they disagree with `model(...).logits`."""

from __future__ import annotations

import logging

import pytest
import torch
import transformers

from rewardkit.train import policy
from rewardkit.train.policy import (
    VERIFIED_HEAD_MODEL_TYPES,
    Row,
    check_fast_paths,
    collate,
    completion_logits,
    token_logprobs,
)

SMALL = dict(vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
             num_attention_heads=2, num_key_value_heads=1, pad_token_id=0,
             max_position_embeddings=64)
CONFIGS = {
    "llama": "LlamaConfig", "qwen2": "Qwen2Config", "qwen3": "Qwen3Config",
    "mistral": "MistralConfig", "gemma": "GemmaConfig", "phi3": "Phi3Config",
    "olmo2": "Olmo2Config",
}
ROWS = [Row([5, 6, 7], [8, 9]), Row([5], [10, 11, 12, 1])]


def tiny(config_name: str, **extra):
    torch.manual_seed(0)
    config = getattr(transformers, config_name)(**SMALL, **extra)
    return transformers.AutoModelForCausalLM.from_config(config).eval()


def own_logprobs(model, batch):
    """log-softmax of the model's own logits at the completion positions, gathered."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    picked = logits.gather(1, batch.positions[..., None].expand(-1, -1, logits.shape[-1]))
    logp = picked.float().log_softmax(-1).gather(-1, batch.targets[..., None])[..., 0]
    return logp * batch.real


def test_every_verified_family_is_tested():
    assert set(CONFIGS) == VERIFIED_HEAD_MODEL_TYPES


@pytest.mark.parametrize("model_type", sorted(CONFIGS))
def test_verified_family_head_path_equals_its_forward(model_type):
    model = tiny(CONFIGS[model_type])
    assert policy._decoder_and_head(model) is not None
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    with torch.no_grad():
        logp, _ = token_logprobs(model, batch, temperature=1.0)
        torch.testing.assert_close(logp, own_logprobs(model, batch), rtol=1e-5, atol=1e-5)
        assert check_fast_paths(model, device=torch.device("cpu"))


def granite():
    return tiny("GraniteConfig", logits_scaling=4.0, embedding_multiplier=1.0)


def test_granite_logprobs_include_its_logits_scaling():
    # Granite divides its logits by `logits_scaling` after the head; before issue 16 the
    # deny-list let it through and the head path returned 4x too sharp logits.
    model = granite()
    assert policy._decoder_and_head(model) is None  # not on the allow-list
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    with torch.no_grad():
        logp, _ = token_logprobs(model, batch, temperature=1.0)
        torch.testing.assert_close(logp, own_logprobs(model, batch), rtol=1e-5, atol=1e-5)


def test_self_check_turns_a_wrong_fast_path_off(monkeypatch, caplog):
    # Pretend Granite was verified: the start-up check sees the 4x logits and falls back.
    monkeypatch.setattr(policy, "VERIFIED_HEAD_MODEL_TYPES", VERIFIED_HEAD_MODEL_TYPES | {"granite"})
    model = granite()
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    with torch.no_grad():
        wrong = completion_logits(model, batch)
        with caplog.at_level(logging.WARNING, logger="rewardkit.train"):
            assert not check_fast_paths(model, device=torch.device("cpu"))
        assert "disagrees with the model's own logits" in caplog.text
        right = completion_logits(model, batch)
        torch.testing.assert_close(right, wrong / 4.0, rtol=1e-5, atol=1e-5)  # x / scaling
        logp, _ = token_logprobs(model, batch, temperature=1.0)
        torch.testing.assert_close(logp, own_logprobs(model, batch), rtol=1e-5, atol=1e-5)
