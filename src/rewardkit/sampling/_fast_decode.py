"""The one-token decode step of Llama/Qwen2-style models written with plain tensor ops, for the
sampler.

Why: at a few million parameters the per-token cost of `model(...)` is dominated by module
dispatch, mask building and output dataclasses rather than arithmetic. The step reads the same
weights and computes the same function (RMSNorm, fused QKV and gate/up projections, RoPE from
the model's own rotary module, SiLU MLP) with about half the Python work. Prefill still runs
through the model's own forward. (The trainer's forward is the model's own too, with its
attention kernel chosen by `train/attention.py`; a hand-written causal pass here measured no
faster than that and was removed, see BENCHMARKS.md.)

`FastDecoder.build(model)` returns None for any model it does not know to be of this shape
(other architectures, sliding windows, non-SiLU MLPs, LoRA-wrapped models, ...); callers then
use the model's own forward. The fused weights are concatenated from the live parameters on
each build, so a sampler rebuilds once per `sample` call and always decodes with the current
weights. With a `compute_dtype` (bf16 over fp32 weights) they are cast once per build, and the
step follows torch.autocast's rules: matrix products in bf16; the residual stream, norms and
RoPE in the weights' dtype. RoPE upcasts q and k first, as autocast's type promotion would, but
as an explicit cast: torch's CPU kernel for a bf16 x fp32 elementwise product is slower than the
cast and an fp32 product together (334 vs 139 us at (16, 110, 8, 64)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

_SUPPORTED = {"qwen2", "llama"}


@dataclass
class _Layer:
    ln_in: torch.Tensor
    ln_post: torch.Tensor
    qkv_w: torch.Tensor  # (nh*hd + 2*nkv*hd, H)
    qkv_b: torch.Tensor | None
    o_w: torch.Tensor
    o_b: torch.Tensor | None
    gate_up_w: torch.Tensor  # (2*I, H)
    down_w: torch.Tensor


class FastDecoder:
    def __init__(self, model: Any, layers: list[_Layer], compute_dtype: torch.dtype) -> None:
        cfg = model.config
        self.model = model
        self.layers = layers
        self.cd = compute_dtype
        self.eps = cfg.rms_norm_eps
        self.nh = cfg.num_attention_heads
        self.nkv = cfg.num_key_value_heads
        self.hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.nh
        self.embed = model.get_input_embeddings().weight
        self.final_ln = model.model.norm.weight
        self.lm_head = model.get_output_embeddings().weight.to(compute_dtype)
        self.rotary = model.model.rotary_emb

    @classmethod
    def build(cls, model: Any, compute_dtype: torch.dtype | None = None) -> FastDecoder | None:
        """The fast step for `model`, or None when its shape is not one this step computes."""
        cfg = model.config
        if getattr(cfg, "model_type", None) not in _SUPPORTED or hasattr(model, "peft_config"):
            return None  # (LoRA adapters live in wrapped modules these fused weights skip)
        if getattr(cfg, "hidden_act", None) != "silu" or getattr(cfg, "mlp_bias", False):
            return None
        if getattr(cfg, "pretraining_tp", 1) != 1 or getattr(cfg, "use_sliding_window", False):
            return None
        if any(t != "full_attention" for t in getattr(cfg, "layer_types", None) or []):
            return None
        if getattr(model.get_output_embeddings(), "bias", None) is not None:
            return None
        cd = compute_dtype or model.get_input_embeddings().weight.dtype

        def cast(w: torch.Tensor | None) -> torch.Tensor | None:
            return None if w is None else w.to(cd)

        layers = []
        for block in model.model.layers:
            a, m = block.self_attn, block.mlp
            biases = [a.q_proj.bias, a.k_proj.bias, a.v_proj.bias]
            if any(b is None for b in biases) and not all(b is None for b in biases):
                return None
            layers.append(
                _Layer(
                    ln_in=block.input_layernorm.weight,
                    ln_post=block.post_attention_layernorm.weight,
                    qkv_w=torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]).to(cd),
                    qkv_b=None if biases[0] is None else torch.cat(biases).to(cd),
                    o_w=cast(a.o_proj.weight),
                    o_b=cast(a.o_proj.bias),
                    gate_up_w=torch.cat([m.gate_proj.weight, m.up_proj.weight]).to(cd),
                    down_w=cast(m.down_proj.weight),
                )
            )
        return cls(model, layers, cd)

    def _norm(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # as the models' RMSNorm: statistics in fp32, scale applied in the input dtype
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return w * xf.to(x.dtype)

    def _attention_inputs(self, h: torch.Tensor, layer: _Layer, cos: torch.Tensor,
                          sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q (B, nh, S, hd), k and v (B, nkv, S, hd) from normed hidden states h (B, S, H).

        cos, sin: (B or 1, S, 1, hd). q and k come out rotated, in cos's dtype; v in the compute
        dtype. The query and key heads are rotated together: one RoPE instead of two.
        """
        B, S, _ = h.shape
        nh, nkv, hd = self.nh, self.nkv, self.hd
        qkv = F.linear(h.to(self.cd), layer.qkv_w, layer.qkv_b)  # (B, S, (nh + 2 nkv) hd)
        qk = _rope(qkv[..., : (nh + nkv) * hd].view(B, S, nh + nkv, hd), cos, sin, hd // 2)
        qk = qk.transpose(1, 2)  # (B, nh + nkv, S, hd)
        v = qkv[..., (nh + nkv) * hd :].view(B, S, nkv, hd).transpose(1, 2)
        return qk[:, :nh], qk[:, nh:], v

    def _mlp(self, x: torch.Tensor, layer: _Layer) -> torch.Tensor:
        """x plus the layer's SiLU MLP of its post-attention norm (any leading shape)."""
        h = self._norm(x, layer.ln_post).to(self.cd)
        gate, up = F.linear(h, layer.gate_up_w).chunk(2, dim=-1)
        return x + F.linear(F.silu(gate) * up, layer.down_w)

    def step(
        self, tok: torch.Tensor, pos: torch.Tensor, cache: Any, keep: torch.Tensor
    ) -> torch.Tensor:
        """Logits (b, V) in fp32 for one new token per row.

        tok, pos: (b,); cache: the sampler's pre-allocated cache (its layers get this step's
        keys/values); keep: (b, kv_len) bool, True where a row may attend.
        """
        cd = self.cd
        x = F.embedding(tok, self.embed)  # (b, H)
        cos, sin = self.rotary(x, pos[:, None])  # (b, 1, hd) each
        cos, sin = cos[:, :, None], sin[:, :, None]  # (b, 1, 1, hd) to broadcast over heads
        mask = keep[:, None, None, :]  # (b, 1, 1, kv) broadcast over kv heads and their groups
        for layer, cl in zip(self.layers, cache.layers):
            q, k, v = self._attention_inputs(self._norm(x, layer.ln_in)[:, None], layer, cos, sin)
            keys, values = cl.update(k, v)  # (b, nkv, kv, hd), in the cache's dtype
            att = _attend(q.to(keys.dtype), keys, values, mask)  # (b, nh * hd)
            x = x + F.linear(att.to(cd), layer.o_w, layer.o_b)
            x = self._mlp(x, layer)
        x = self._norm(x, self.final_ln)
        return F.linear(x.to(cd), self.lm_head).float()


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, half: int) -> torch.Tensor:
    """Rotary embedding in cos/sin's dtype: x * cos + rotate_half(x) * sin."""
    x = x.to(cos.dtype)  # same-dtype products (see the module docstring)
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), -1) * sin


def _attend(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
            mask: torch.Tensor) -> torch.Tensor:
    """One query per row over its cache: softmax(q k^T / sqrt(hd), masked) v, as (b, nh * hd).

    Two batched matmuls rather than SDPA: for a single query position, CPU SDPA's flash kernel
    costs ~0.5 ms a call at these sizes (a third of a decode step), the matmuls a few µs.
    Grouped-query heads are folded into the query axis, so keys/values are never repeated.
    """
    b, nh, _, hd = q.shape
    nkv = keys.shape[1]
    q = q.view(b, nkv, nh // nkv, hd)  # (b, nkv, group, hd): the heads sharing each kv head
    scores = torch.matmul(q, keys.transpose(-1, -2)) * hd**-0.5  # (b, nkv, group, kv)
    scores = scores.masked_fill(~mask, float("-inf"))
    probs = scores.softmax(-1).to(values.dtype)  # (under bf16 autocast the prefill stores
    return torch.matmul(probs, values).reshape(b, nh * hd)  # fp32 keys but bf16 values)
