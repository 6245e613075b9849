"""The policy side of the loop: load the model (optionally with LoRA), the reference for KL, and
turn sampled groups into padded token tensors with per-token log-probabilities.

Layout of one training row: prompt tokens then completion tokens, right-padded to S. The log-prob
of completion token j sits at logits position (prompt_len + j - 1); `positions` gathers those into
a (B, T) grid with T = the longest completion, so every loss works on completion tokens only.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rewardkit.errors import UserError
from rewardkit.sampling._fast_decode import FastDecoder


def load_policy(path: str, *, device: torch.device, dtype: torch.dtype, lora_rank: int = 0,
                weights_from: Path | None = None) -> tuple[Any, Any]:
    """(model, tokenizer). `weights_from` is a checkpoint directory to resume from.

    LoRA (lora_rank > 0) wraps every linear layer through peft with alpha = 2 * rank and no
    dropout; checkpoints then hold only the adapter, and the base comes from `path` again.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = weights_from if weights_from is not None and lora_rank == 0 else path
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise UserError(f"model: cannot load {str(source)!r}: {e}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if lora_rank > 0:
        from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
        from safetensors.torch import load_file

        config = LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, lora_dropout=0.0,
                            target_modules="all-linear", task_type="CAUSAL_LM")
        model = get_peft_model(model, config)
        if weights_from is not None:
            adapter = load_file(Path(weights_from) / "adapter_model.safetensors")
            set_peft_model_state_dict(model, adapter)
    # Dropout off: with it, the on-policy ratio would not be 1 and resume would not be exact.
    return model.to(device).eval(), tokenizer


def load_reference(path: str, policy: Any, *, device: torch.device, dtype: torch.dtype) -> Any:
    """The frozen reference for KL. With LoRA, the policy with its adapter disabled (no copy)."""
    if hasattr(policy, "disable_adapter"):
        return None
    from transformers import AutoModelForCausalLM

    ref = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
    ref.requires_grad_(False)
    return ref


def reference_context(policy: Any, ref: Any):
    """(model to run, context): the reference model, or the LoRA policy with adapters off."""
    if ref is None:
        return policy, policy.disable_adapter()
    return ref, contextlib.nullcontext()


@dataclass
class Row:
    """One completion ready for the update: token ids, its advantage, and its loss weight."""

    prompt_ids: list[int]
    completion_ids: list[int]
    advantage: float = 0.0
    weight: float = 1.0
    """0 removes the row from the loss (overlong filtering)"""
    reward: float = 0.0  # the total reward (DRPO reads it)
    group: int = 0  # index of its group in the step's batch
    old_logp: torch.Tensor | None = None  # (T_i,)
    ref_logp: torch.Tensor | None = None  # (T_i,)


@dataclass
class TokenBatch:
    input_ids: torch.Tensor  # (B, S)
    attention_mask: torch.Tensor  # (B, S)
    positions: torch.Tensor  # (B, T) logits position that predicts completion token j
    targets: torch.Tensor  # (B, T) completion token ids (0 where padded)
    mask: torch.Tensor  # (B, T) 1 on real completion tokens, times the row weight
    advantages: torch.Tensor  # (B,)
    rewards: torch.Tensor  # (B,)
    group_ids: torch.Tensor  # (B,)
    old_logp: torch.Tensor | None  # (B, T)
    ref_logp: torch.Tensor | None  # (B, T)


def collate(rows: list[Row], *, pad_id: int, device: torch.device) -> TokenBatch:
    seqs = [r.prompt_ids + r.completion_ids for r in rows]
    S = max(len(s) for s in seqs)
    T = max(max(len(r.completion_ids) for r in rows), 1)
    input_ids = torch.full((len(rows), S), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), S), dtype=torch.long)
    positions = torch.zeros((len(rows), T), dtype=torch.long)
    targets = torch.zeros((len(rows), T), dtype=torch.long)
    mask = torch.zeros((len(rows), T))
    for i, (r, s) in enumerate(zip(rows, seqs)):
        n, p = len(r.completion_ids), len(r.prompt_ids)
        input_ids[i, : len(s)] = torch.tensor(s)
        attention[i, : len(s)] = 1
        positions[i, :n] = torch.arange(p - 1, p - 1 + n)
        targets[i, :n] = torch.tensor(r.completion_ids, dtype=torch.long)
        mask[i, :n] = r.weight

    def stack(name: str) -> torch.Tensor | None:
        if getattr(rows[0], name) is None:
            return None
        out = torch.zeros((len(rows), T))
        for i, r in enumerate(rows):
            out[i, : len(r.completion_ids)] = getattr(r, name)
        return out.to(device)

    return TokenBatch(
        input_ids.to(device), attention.to(device), positions.to(device), targets.to(device),
        mask.to(device), torch.tensor([r.advantage for r in rows], device=device),
        torch.tensor([r.reward for r in rows], device=device),
        torch.tensor([r.group for r in rows], device=device),
        stack("old_logp"), stack("ref_logp"),
    )


def _decoder_and_head(model: Any) -> tuple[Any, Any] | None:
    """(decoder, lm_head) when logits are exactly head(decoder(x)), else None."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft
    decoder = getattr(base, "model", None)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    cfg = getattr(base, "config", None)
    plain = (getattr(cfg, "final_logit_softcapping", None) is None
             and getattr(cfg, "logit_scale", None) is None  # Gemma 2, Cohere scale logits
             and type(base).__name__.endswith("ForCausalLM"))
    return (decoder, head) if decoder is not None and head is not None and plain else None


def completion_logits(model: Any, batch: TokenBatch,
                      autocast: torch.dtype | None = None) -> torch.Tensor:
    """Logits at the positions that predict completion tokens, (B, T, V).

    Llama/Qwen2-shaped models run the hand-written causal pass (`FastDecoder.hidden`), which
    picks the faster attention kernel per call (plain matmuls for short bf16 sequences on a
    CPU, SDPA otherwise); others run the model's own forward under autocast.
    """
    fast = FastDecoder.build(model, autocast)
    if fast is not None:
        hidden = fast.hidden(batch.input_ids)  # (B, S, H)
        H = hidden.shape[-1]
        picked = hidden.gather(1, batch.positions[..., None].expand(-1, -1, H))  # (B, T, H)
        return F.linear(picked.to(fast.cd), fast.lm_head)
    with torch.autocast(batch.input_ids.device.type, autocast or torch.float32,
                        enabled=autocast is not None):
        return _model_completion_logits(model, batch)


def _model_completion_logits(model: Any, batch: TokenBatch) -> torch.Tensor:
    parts = _decoder_and_head(model)
    if parts is not None:
        decoder, head = parts
        hidden = decoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                         use_cache=False).last_hidden_state  # (B, S, H); no KV cache to build
        H = hidden.shape[-1]
        return head(hidden.gather(1, batch.positions[..., None].expand(-1, -1, H)))
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                   use_cache=False).logits
    V = logits.shape[-1]
    return logits.gather(1, batch.positions[..., None].expand(-1, -1, V))  # (B, T, V)


def token_logprobs(model: Any, batch: TokenBatch, *, temperature: float,
                   entropy: bool | str = False, autocast: torch.dtype | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log pi(token) on the completion grid (B, T), and the policy entropy there if asked
    (`entropy="grad"` when it enters the loss; any other true value computes it without a graph).

    Logits are divided by the sampling temperature, so the ratio compares the distribution the
    completions were actually drawn from (as TRL and verl do). Where the model is a plain
    decoder + output head, the head runs only on completion positions: no (B, S, V) tensor.
    `autocast` (bf16) runs the model's matrix products in that dtype (mixed precision); the
    log-softmax is always taken in fp32.
    """
    picked = completion_logits(model, batch, autocast).float()  # (B, T, V)
    if temperature > 0:
        picked = picked / temperature
    logp_all = F.log_softmax(picked, dim=-1)
    logp = logp_all.gather(-1, batch.targets[..., None]).squeeze(-1)  # (B, T)
    ent = None
    if entropy:  # (B, T); without a gradient unless it is in the loss (it is only logged then)
        with torch.set_grad_enabled(torch.is_grad_enabled() and entropy == "grad"):
            ent = -(logp_all.exp() * logp_all).sum(-1)
    return logp, ent


def encode_prompt(tokenizer: Any, text: str) -> list[int]:
    """Prompt token ids as `HFSampler.encode` makes them without a chat template:
    `tokenizer(text)`, so with the tokenizer's own special tokens (a Llama tokenizer's BOS; Qwen
    adds none). The trainer uses it only for a sampler that has no `encode` of its own; with
    one, the trainer takes the sampler's ids, so trainer and sampler ids are the same."""
    return list(tokenizer(text).input_ids)


def completion_ids(tokenizer: Any, completion: Any) -> list[int]:
    """The sampled token ids, else the re-tokenised text (plus EOS when it stopped)."""
    if completion.token_ids is not None:
        return list(completion.token_ids)
    ids = list(tokenizer(completion.text, add_special_tokens=False).input_ids)
    return ids + [tokenizer.eos_token_id] if completion.finish_reason == "stop" else ids
