"""Issue 16 item 6: the trainer's attention kernel as a registered transformers attention function
(`train/attention.py`): SDPA's results, SDPA's masks, and plain matmuls only for CPU bf16 short
sequences."""

from __future__ import annotations

import pytest
import torch
import transformers
from transformers.integrations.sdpa_attention import sdpa_attention_forward

import rewardkit.train.attention as attention_module
from rewardkit.train.attention import NAME, attention
from rewardkit.train.policy import Row, collate, token_logprobs


class Attn(torch.nn.Module):
    """What `attention` reads from the calling module (as a model's attention layer has it)."""

    def __init__(self, nh: int, nkv: int) -> None:
        super().__init__()
        self.num_key_value_groups = nh // nkv
        self.is_causal = True


def padding_mask(lengths: list[int], S: int, *, left: bool) -> torch.Tensor:
    """SDPA's boolean (B, 1, S, S) mask (True = attend) of causal attention over padded rows."""
    pos = torch.arange(S)
    real = torch.stack([(pos >= S - n) if left else (pos < n) for n in lengths])  # (B, S)
    return torch.ones(S, S, dtype=torch.bool).tril()[None, None] & real[:, None, None, :]


def reference(q, k, v, mask):
    """softmax(q k^T / sqrt(hd) + mask) v in fp64, causal where mask is None; (B, S, nh, hd)."""
    q, k, v = (t.double() for t in (q, k, v))
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    S = q.shape[2]
    allowed = mask if mask is not None else torch.ones(S, S, dtype=torch.bool).tril()
    scores = scores.masked_fill(~allowed, float("-inf"))
    return (scores.softmax(-1) @ v).transpose(1, 2)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("heads", [(4, 4), (4, 2)], ids=["mha", "gqa"])
@pytest.mark.parametrize("masking", ["causal", "padding"])
def test_attention_matches_sdpa_and_the_exact_attention(dtype, heads, masking):
    # Outputs and gradients of q, k, v: the registered function against transformers' SDPA on
    # the same inputs and against fp64 attention; bf16 takes the matmul branch (7 positions).
    nh, nkv = heads
    torch.manual_seed(0)
    B, S, hd = 3, 7, 8
    inputs = [torch.randn(B, n, S, hd).to(dtype) for n in (nh, nkv, nkv)]
    mask = padding_mask([7, 4, 2], S, left=False) if masking == "padding" else None
    module = Attn(nh, nkv)
    runs = []
    for fn in (attention, sdpa_attention_forward):
        q, k, v = (t.clone().requires_grad_() for t in inputs)
        given = mask  # the form the mask function hands each kernel (None: causal)
        if mask is not None and fn is attention and dtype == torch.bfloat16:
            given = additive(mask)
        out, _ = fn(module, q, k, v, given, scaling=hd**-0.5)  # (B, S, nh, hd)
        torch.manual_seed(1)
        out.float().mul(torch.randn(out.shape)).sum().backward()
        runs.append((out, q.grad, k.grad, v.grad))
    tol = dict(rtol=0.03, atol=0.03) if dtype == torch.bfloat16 else dict(rtol=1e-5, atol=1e-6)
    for mine, sdpa in zip(*runs):
        assert mine.dtype == sdpa.dtype == dtype
        torch.testing.assert_close(mine.float(), sdpa.float(), **tol)
    exact = reference(*inputs, mask)
    torch.testing.assert_close(runs[0][0].double(), exact, **tol)
    # position 0 attends only to itself: its output is its own value row (per kv head)
    torch.testing.assert_close(runs[0][0][:, 0].float(),
                               inputs[2][:, :, 0].float().repeat_interleave(nh // nkv, 1),
                               rtol=0.01, atol=0.01)


def additive(allowed: torch.Tensor) -> torch.Tensor:
    """The fp32 additive form of a boolean mask, as `attention_module.mask` builds it."""
    return torch.zeros(allowed.shape).masked_fill(~allowed, torch.finfo(torch.float32).min)


@pytest.mark.parametrize("form", ["boolean", "additive"])
def test_a_row_with_every_key_masked_stays_finite(form):
    # The sampler's left-padded prefill has pad positions that may attend to nothing; with -inf
    # scores their NaN would reach real rows through 0 * NaN in the value product.
    q, k, v = (torch.randn(2, 2, 5, 8).bfloat16() for _ in range(3))
    mask = padding_mask([5, 2], 5, left=True)
    assert not mask[1, 0, 0].any()  # row 1's first query sees no key
    out, _ = attention(Attn(2, 2), q, k, v, mask if form == "boolean" else additive(mask))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[1, 3:].double(), reference(q, k, v, mask)[1, 3:],
                               rtol=0.03, atol=0.03)


@pytest.mark.parametrize("case", ["cpu-bf16-short", "fp32", "long"])
def test_mask_function_builds_what_each_kernel_takes(case):
    # Once per forward: the fp32 additive mask where matmuls will run (so no layer converts a
    # boolean mask again), SDPA's own mask (here a boolean one: there is padding) elsewhere.
    S = 6
    kwargs = dict(batch_size=2, q_length=S, kv_length=S, dtype=torch.float32, device="cpu",
                  attention_mask=torch.tensor([[1] * S, [1] * 4 + [0] * 2]).bool())
    with torch.autocast("cpu", torch.bfloat16, enabled=case != "fp32"):
        if case == "long":
            kwargs["kv_length"] = kwargs["q_length"] = S = 200
            kwargs["attention_mask"] = torch.ones(2, S, dtype=torch.bool)
            kwargs["attention_mask"][1, -1] = False
        built = attention_module.mask(**kwargs)
    allowed = padding_mask([S, S - 2 if case != "long" else S - 1], S, left=False)
    if case == "cpu-bf16-short":
        assert built.dtype == torch.float32
        torch.testing.assert_close(built, additive(allowed))
    else:
        assert built.dtype == torch.bool and torch.equal(built, allowed)


def count_sdpa(monkeypatch) -> list[int]:
    calls = [0]
    real = torch.nn.functional.scaled_dot_product_attention

    def counted(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counted)
    return calls


def tiny_llama(**extra):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=32, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, pad_token_id=0, bos_token_id=None,
        eos_token_id=1, **extra)
    return transformers.LlamaForCausalLM(config).eval()


ROWS = [Row([5, 6, 7], [8, 9]), Row([5], [10, 11, 12, 1])]


@pytest.mark.parametrize("grad", [False, True])
def test_training_forward_takes_matmuls_for_short_cpu_bf16(grad, monkeypatch):
    # With or without a gradient (old and new log-probs): no SDPA call at all.
    model = tiny_llama()
    calls = count_sdpa(monkeypatch)
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    with torch.set_grad_enabled(grad):
        token_logprobs(model, batch, temperature=1.0, autocast=torch.bfloat16)
    assert model.config._attn_implementation == NAME
    assert calls[0] == 0


@pytest.mark.parametrize("case", ["fp32", "long"])
def test_training_forward_takes_sdpa_otherwise(case, monkeypatch):
    model = tiny_llama()
    if case == "long":  # 5 positions: one more than the matmul branch takes
        monkeypatch.setattr(attention_module, "MATMUL_ATTENTION_MAX_LEN", 4)
    calls = count_sdpa(monkeypatch)
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    token_logprobs(model, batch, temperature=1.0,
                   autocast=torch.bfloat16 if case == "long" else None)
    assert model.config._attn_implementation == NAME
    assert calls[0] == model.config.num_hidden_layers  # once per layer


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_model_with_rewardkit_attention_equals_sdpa_on_left_padding(dtype):
    # The padding mask must reach the function: transformers builds none for an attention name
    # without a registered mask function, and left-padded rows would then attend to the pads.
    model = tiny_llama()
    ids = torch.tensor([[0, 0, 0, 5, 6, 7], [4, 5, 6, 7, 8, 9]])
    mask = (ids != 0).long()
    logits = {}
    for implementation in ("sdpa", NAME):
        model.set_attn_implementation(implementation)
        with torch.no_grad(), torch.autocast("cpu", torch.bfloat16,
                                             enabled=dtype == torch.bfloat16):
            logits[implementation] = model(input_ids=ids, attention_mask=mask).logits.float()
    real = mask.bool()
    tol = dict(rtol=0.05, atol=0.05) if dtype == torch.bfloat16 else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits[NAME][real], logits["sdpa"][real], **tol)
    assert torch.isfinite(logits[NAME]).all()


def test_cached_decoding_with_rewardkit_attention_equals_sdpa():
    # The sampler's prefill and (without its fast step: LoRA, other families) decode steps run
    # the model's forward with a KV cache: one query over the cached keys, the mask 2D-padded.
    from transformers import DynamicCache

    model = tiny_llama()
    ids = torch.tensor([[0, 0, 5, 6, 7], [4, 5, 6, 7, 8]])
    mask = (ids != 0).long()
    logits = {}
    for implementation in ("sdpa", NAME):
        model.set_attn_implementation(implementation)
        cache, steps = DynamicCache(config=model.config), []
        with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            out = model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache)
            steps.append(out.logits[:, -1].float())
            for t in (9, 10):
                mask = torch.cat([mask, torch.ones(2, 1, dtype=torch.long)], -1)
                pos = pos[:, -1:] + 1
                out = model(input_ids=torch.full((2, 1), t), attention_mask=mask,
                            position_ids=pos, past_key_values=cache)
                steps.append(out.logits[:, -1].float())
        mask = mask[:, :5]
        logits[implementation] = torch.stack(steps)
    torch.testing.assert_close(logits[NAME], logits["sdpa"], rtol=0.05, atol=0.05)
