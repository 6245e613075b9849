"""The trainer's attention kernel, registered with transformers as attn_implementation "rewardkit".

The training forward of a verified decoder + head family (`policy.VERIFIED_HEAD_MODEL_TYPES`)
is the model's own decoder; this module only chooses the attention kernel inside it, per call,
by dtype, device and length:

- bf16 on a CPU with at most `MATMUL_ATTENTION_MAX_LEN` key positions: two plain matmuls and an
  fp32 softmax over the materialised (B, nh, q, kv) scores, as the models' eager attention.
  torch's CPU flash-attention backward costs more there (16 rows x 4 heads x 64 dims, padded
  rows, under bf16 autocast, forward + backward: 3.7 vs 8.4 ms at S = 96, 8.1 vs 15.3 at 160,
  10.9 vs 12.1 at 192, 18.1 vs 19.1 at 256, but 176 vs 54 at 512);
- everything else: transformers' own `sdpa_attention_forward`, unchanged.

The choice never depends on grad mode: the old log-probs (no grad) and the new ones (grad) of
one batch must be computed by the same arithmetic, or an off-policy update would start with
ratios != 1.

Masks: transformers builds no mask at all for an attention name it has no mask function for
(`masking_utils._preprocess_mask_arguments`), which would silently drop the padding mask, so
the name is registered with `AttentionMaskInterface` too (`mask`): SDPA's mask where SDPA will
run, so the SDPA branch receives exactly what the "sdpa" implementation would, and eager
attention's fp32 additive mask where the matmuls will run, built once per forward.

Who runs it: `use_rewardkit_attention` switches a model from "sdpa"; `policy.completion_states`
calls it for the verified families, and the trainer's start-up check (`check_fast_paths`) is
the first such call. The sampler shares the policy model, so its prefill (the model's own
forward; its decode step is `sampling/_fast_decode.py`) runs this kernel choice too: forward
only, where matmuls buy less (a bf16 forward over 4 left-padded prompts of 57 tokens took 1.04x
SDPA's time), but `HFSampler.sample` of 4 prompts x 16 completions on the 3 x 256 tiny model
took 0.997x (medians of 8 interleaved rounds), so the sampler is not switched back.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, eager_mask, sdpa_mask

NAME = "rewardkit"

MATMUL_ATTENTION_MAX_LEN = 160
"""longest key sequence for which CPU bf16 attention takes plain matmuls (see above). Set with an
earlier matmul kernel (fp32 scaling and masking per layer) whose crossover with SDPA was near 192;
this one's lies between 256 and 512 in the measurement above, not yet measured end to end."""


def compute_dtype(device_type: str, dtype: torch.dtype) -> torch.dtype:
    """The dtype attention runs in: autocast's where it is on (the models' RoPE hands over fp32
    queries and keys under bf16 autocast, since it multiplies by fp32 cos/sin), else `dtype`."""
    if dtype.is_floating_point and torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return dtype


def matmuls_for(device_type: str, dtype: torch.dtype, kv_len: int) -> bool:
    """Whether attention over `kv_len` key positions takes plain matmuls (see above)."""
    return (device_type == "cpu" and compute_dtype(device_type, dtype) == torch.bfloat16
            and kv_len <= MATMUL_ATTENTION_MAX_LEN)


def mask(**kwargs: Any) -> torch.Tensor | None:
    """The `AttentionMaskInterface` function: what each kernel wants, built once per forward.

    SDPA's mask where SDPA will run. Where plain matmuls will run, eager attention's additive
    fp32 mask (0 where a position may attend, the most negative fp32 where not), so that each
    layer adds it rather than converting a boolean mask again. The most negative fp32 rather than
    -inf: a row with every key masked (a left-padding position in the sampler's prefill) then
    gets finite weights instead of NaN, which would reach the other rows through 0 * NaN in the
    value product; elsewhere its exp() is 0.
    """
    device = torch.device(kwargs.get("device", "cpu"))
    if matmuls_for(device.type, kwargs.get("dtype", torch.float32), kwargs["kv_length"]):
        return eager_mask(**(kwargs | {"dtype": torch.float32}))
    return sdpa_mask(**kwargs)


def attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
              value: torch.Tensor, attention_mask: torch.Tensor | None, dropout: float = 0.0,
              scaling: float | None = None, is_causal: bool | None = None,
              **kwargs: Any) -> tuple[torch.Tensor, None]:
    """The `AttentionInterface` function: query (B, nh, q, hd), key and value (B, nkv, kv, hd),
    output (B, q, nh, hd) as SDPA's. Plain matmuls where `matmuls_for`, else SDPA.

    The matmul branch is what the models' eager attention computes: scores q k^T * scale in the
    compute dtype, plus the additive mask in fp32, softmax in fp32. Features it does not compute
    (attention dropout, position biases, soft-capping, attention weights as output) and a causal
    call with no mask over a longer key sequence (SDPA crops it) go to SDPA whatever the dtype.
    """
    q_len, kv_len = query.shape[2], key.shape[2]
    unusual = (dropout > 0 or kwargs.get("position_bias") is not None
               or kwargs.get("softcap") is not None or kwargs.get("output_attentions", False))
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    needs_crop = attention_mask is None and causal and 1 < q_len < kv_len
    if unusual or needs_crop or not matmuls_for(query.device.type, query.dtype, kv_len):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    # Here the compute dtype is bf16: autocast casts fp32 operands of the matmuls, or they are
    # bf16 already; no explicit casts (measured slower than autocast's on this CPU).
    groups = query.shape[1] // key.shape[1]
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    scores = torch.matmul(query, key.transpose(-1, -2)) * scale  # (B, nh, q, kv)
    if attention_mask is not None and attention_mask.dtype != torch.bool:
        scores = scores + attention_mask  # `mask`'s fp32 mask: the scores become fp32
    else:  # a boolean mask, or none (a mask from elsewhere than `mask`)
        allowed = attention_mask
        if allowed is None and causal and q_len > 1:  # q_len == kv_len here (needs_crop)
            allowed = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril()
        if allowed is not None:
            scores = scores.float().masked_fill(~allowed, torch.finfo(torch.float32).min)
    probs = scores.softmax(-1, dtype=torch.float32).to(value.dtype)
    out = torch.matmul(probs, value)  # (B, nh, q, hd)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, attention)
AttentionMaskInterface.register(NAME, mask)


def use_rewardkit_attention(model: Any) -> None:
    """Switch a model that runs transformers' SDPA attention to this module's kernel choice.

    Only from "sdpa" (transformers' default where a model supports it): an explicit choice
    (eager, flash-attention, flex) is left alone, and a model with no SDPA support never gets
    here. Idempotent and cheap, so callers may call it before every forward.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft
    config = getattr(base, "config", None)
    if getattr(config, "_attn_implementation", None) == "sdpa":
        base.set_attn_implementation(NAME)
