"""Issue 16 item 4: the training graph holds no (B, T, V) tensor; chunks and gradient
checkpointing change memory, not results."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

import rewardkit.train.logprobs as lp_module
from rewardkit.train.policy import (
    Row,
    checkpointed_layers,
    collate,
    enable_gradient_checkpointing,
    token_logprobs,
)

ROWS = [Row([5, 6, 7], [8, 9, 10, 11, 12, 13]), Row([5], [10, 11, 12, 1]), Row([4, 4], [9])]
# 6 + 4 + 1 = 11 real completion tokens; B = 3, T = 6


@pytest.fixture
def model(tiny_model):
    return AutoModelForCausalLM.from_pretrained(tiny_model).eval()


def saved_sizes(fn):
    """Run fn() and return the shape of every tensor autograd saved for the backward pass."""
    sizes = []

    def pack(t):
        sizes.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sizes


def logprobs_and_grads(model, entropy="grad"):
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    model.zero_grad()
    logp, ent = token_logprobs(model, batch, temperature=0.7, entropy=entropy)
    ((logp * batch.mask).sum() + (ent * batch.mask).sum()).backward()
    return logp.detach(), ent.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def test_chunks_give_the_same_logprobs_entropy_and_gradients(model, monkeypatch):
    whole = logprobs_and_grads(model)
    V = model.config.vocab_size
    monkeypatch.setattr(lp_module, "LOGITS_PER_CHUNK", 2 * V)  # 2 tokens a chunk: 6 chunks
    chunked = logprobs_and_grads(model)
    torch.testing.assert_close(chunked[0], whole[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(chunked[1], whole[1], rtol=1e-5, atol=1e-6)
    for name, g in whole[2].items():
        torch.testing.assert_close(chunked[2][name], g, rtol=1e-4, atol=1e-6)


def test_the_graph_keeps_no_full_vocabulary_tensor(model, monkeypatch):
    # Before issue 16, log_softmax over (B, T, V) was saved for backward: 3 * 6 * V numbers.
    V = model.config.vocab_size
    monkeypatch.setattr(lp_module, "LOGITS_PER_CHUNK", 2 * V)  # chunks of 2 tokens
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    (logp, ent), sizes = saved_sizes(
        lambda: token_logprobs(model, batch, temperature=1.0, entropy=True))
    assert logp.requires_grad and not ent.requires_grad  # logged entropy has no graph
    logits_like = [s for s in sizes if s and s[-1] == V]  # (..., V): logits or log-probs
    assert all(torch.Size(s).numel() <= 2 * V for s in logits_like)  # (before: 18 V)
    logp.sum().backward()  # and the backward pass (recomputing chunks) still runs


def test_entropy_gets_a_gradient_only_for_a_bonus(model):
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    _, logged = token_logprobs(model, batch, temperature=1.0, entropy=True)
    _, bonus = token_logprobs(model, batch, temperature=1.0, entropy="grad")
    assert not logged.requires_grad and bonus.requires_grad
    torch.testing.assert_close(logged, bonus.detach())


def test_padding_positions_hold_zero(model):
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    logp, ent = token_logprobs(model, batch, temperature=1.0, entropy=True)
    assert batch.real.sum() == 11
    assert (logp[~batch.real] == 0).all() and (ent[~batch.real] == 0).all()
    assert (logp[batch.real] < 0).all()


@pytest.mark.parametrize("autocast", [None, torch.bfloat16], ids=["fp32", "bf16"])
def test_gradient_checkpointing_keeps_gradients_and_saves_less(model, tiny_model, autocast):
    # transformers' own layer checkpointing, with the trainer's attention (matmuls under bf16)
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))

    def run(m):
        m.zero_grad()
        (logp, _), sizes = saved_sizes(
            lambda: token_logprobs(m, batch, temperature=1.0, autocast=autocast))
        (logp * batch.mask).sum().backward()
        return sum(torch.Size(s).numel() for s in sizes), {n: p.grad.clone() for n, p in m.named_parameters()}

    plain_saved, plain = run(model)
    other = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    enable_gradient_checkpointing(other)
    assert not any(m.training for m in other.modules() if isinstance(m, torch.nn.Dropout))
    ckpt_saved, ckpt = run(other)
    assert other.config._attn_implementation == "rewardkit"
    assert ckpt_saved < plain_saved
    for name, g in plain.items():
        torch.testing.assert_close(ckpt[name], g, rtol=1e-4, atol=1e-6)


def test_run_options_reach_the_model_and_the_sampler(make_config, tmp_path, monkeypatch):
    from rewardkit.config import load_config
    from rewardkit.sampling.hf import HFSampler
    from rewardkit.train.loop import train

    made = []
    original = HFSampler.__init__

    def spy(self, *args, **kwargs):
        made.append(kwargs.get("max_batch_size"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(HFSampler, "__init__", spy)
    plain = train(load_config(make_config(steps=1)), tmp_path / "a", progress=False)
    cfg = load_config(make_config(steps=1), ["optim.gradient_checkpointing=true",
                                             "sampling.max_batch_size=3"])
    checkpointed = train(cfg, tmp_path / "b", progress=False)
    assert made == [None, 3]
    # 2 prompts x 4 completions in blocks of 3 draw differently, so compare the shape of the
    # result only; the first step's loss is finite and the update happened
    assert checkpointed[0]["grad_norm"] > 0 and plain[0]["grad_norm"] > 0


def test_gradient_checkpointing_leaves_the_run_unchanged(make_config, tmp_path):
    from rewardkit.config import load_config
    from rewardkit.train.loop import train

    plain = train(load_config(make_config(steps=2)), tmp_path / "a", progress=False)
    cfg = load_config(make_config(steps=2), ["optim.gradient_checkpointing=true"])
    checkpointed = train(cfg, tmp_path / "b", progress=False)
    for a, b in zip(plain, checkpointed):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5, abs=1e-7)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-5)


@pytest.mark.parametrize("value", ["0", "-2"])
def test_bad_max_batch_size_is_a_user_error(make_config, value):
    from rewardkit.config import load_config
    from rewardkit.errors import UserError

    with pytest.raises(UserError, match="sampling.max_batch_size: must be >= 1"):
        load_config(make_config(), [f"sampling.max_batch_size={value}"])


def test_checkpointed_layers_train_only_inside_a_forward_with_grad(tiny_model):
    # Left in training mode, transformers before 5.24 dropped the KV cache in those layers under
    # no_grad too, so the sampler's prefill cached nothing (seen with 5.17, the GPU image's).
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    enable_gradient_checkpointing(model)
    layers = checkpointed_layers(model)
    assert layers and not any(layer.training for layer in layers)  # what the sampler sees
    seen = []
    layers[0].register_forward_pre_hook(lambda module, args: seen.append(module.training))
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    token_logprobs(model, batch, temperature=1.0)
    with torch.no_grad():
        token_logprobs(model, batch, temperature=1.0)
    assert seen == [True, False] and not any(layer.training for layer in layers)
