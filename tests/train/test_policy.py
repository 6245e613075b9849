"""Token log-probs of completions: the grid layout and the head-on-completions fast path."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from rewardkit.train.policy import Row, collate, completion_logits, token_logprobs


@pytest.fixture(scope="module")
def model(tiny_model):
    return AutoModelForCausalLM.from_pretrained(tiny_model).eval()


ROWS = [Row([5, 6, 7], [8, 9]), Row([5], [10, 11, 12, 1]), Row([4, 4], [])]


def reference_logprobs(model, rows):
    """One unpadded forward per row; log-prob of completion token j from position p + j - 1."""
    out = []
    for r in rows:
        ids = torch.tensor([r.prompt_ids + r.completion_ids])
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
        p = len(r.prompt_ids)
        out.append([float(logp[p + j - 1, t]) for j, t in enumerate(r.completion_ids)])
    return out


def test_logprobs_match_unpadded_forward_per_row(model):
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    with torch.no_grad():
        logp, ent = token_logprobs(model, batch, temperature=1.0, entropy=True)
    assert logp.shape == ent.shape == (3, 4)  # T = longest completion
    assert batch.mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]]
    for i, expected in enumerate(reference_logprobs(model, ROWS)):
        torch.testing.assert_close(logp[i, : len(expected)], torch.tensor(expected),
                                   rtol=1e-5, atol=1e-5)
    assert (ent[batch.mask > 0] > 0).all()


def _full_logits(model, batch):
    full = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    return full.gather(1, batch.positions[..., None].expand(-1, -1, full.shape[-1]))


def test_head_on_completions_equals_full_logits(model):
    from rewardkit.train.policy import _decoder_and_head

    assert _decoder_and_head(model) is not None  # the decoder + head path, not the fallback
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    with torch.no_grad():
        fast = completion_logits(model, batch)
        torch.testing.assert_close(fast, _full_logits(model, batch), rtol=1e-5, atol=1e-5)


def test_training_forward_gives_the_models_gradients(model):
    # Every parameter, the tied embedding/head included, gets the gradient the model's own
    # forward gives it; the pad id inside a completion (a random policy samples it) gets none
    # from its input embedding (nn.Embedding's padding_idx), which the hand-written pass that
    # this forward replaced did not honour.
    rows = ROWS[:2] + [Row([5, 0, 6], [0, 7, 8])]
    assert model.config.pad_token_id == 0
    batch = collate(rows, pad_id=0, device=torch.device("cpu"))
    grads = []
    for forward in (completion_logits, _full_logits):
        model.zero_grad()
        (forward(model, batch).float().log_softmax(-1)[..., 3] * batch.mask).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    model.zero_grad()
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6)


def test_training_forward_with_gqa_and_bf16():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    llama = LlamaForCausalLM(LlamaConfig(
        vocab_size=32, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, pad_token_id=0, bos_token_id=None,
        eos_token_id=1)).eval()
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    with torch.no_grad():
        full = _full_logits(llama, batch)  # SDPA, fp32 (before the trainer switches it)
        assert llama.config._attn_implementation == "sdpa"
        with torch.autocast("cpu", torch.bfloat16):
            ref = _full_logits(llama, batch).float()  # SDPA under autocast
        torch.testing.assert_close(completion_logits(llama, batch), full, rtol=1e-5, atol=1e-5)
        half = completion_logits(llama, batch, autocast=torch.bfloat16)  # matmul attention
        assert half.dtype == torch.bfloat16
        # within bf16 rounding of each other (products in bf16, norms and RoPE in fp32)
        torch.testing.assert_close(half.float(), ref, rtol=0.05, atol=0.05)
        assert not torch.equal(half.float(), full)


def test_temperature_divides_logits(model):
    batch = collate(ROWS[:1], pad_id=0, device=torch.device("cpu"))
    with torch.no_grad():
        logits = completion_logits(model, batch).float()
        logp, _ = token_logprobs(model, batch, temperature=0.5)
    expected = torch.log_softmax(logits / 0.5, -1).gather(-1, batch.targets[..., None])[..., 0]
    torch.testing.assert_close(logp, expected)


def test_old_and_new_logprobs_are_identical_in_cpu_bf16(model):
    # B18 / issue 11.8: the old log-probs (no grad) and the new ones (grad) of the same weights
    # must come from the same kernels, or an off-policy update starts with ratios != 1.
    batch = collate(ROWS[:2], pad_id=0, device=torch.device("cpu"))
    with torch.no_grad():
        old, _ = token_logprobs(model, batch, temperature=1.0, autocast=torch.bfloat16)
    new, _ = token_logprobs(model, batch, temperature=1.0, autocast=torch.bfloat16)
    assert new.requires_grad
    assert torch.equal(old, new.detach())  # exactly: ratio exp(new - old) == 1 on every token
