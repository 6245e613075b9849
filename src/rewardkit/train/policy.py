"""The policy side of the loop: load the model (optionally with LoRA), the reference for KL, and
turn sampled groups into padded token tensors with per-token log-probabilities.

Layout of one training row: prompt tokens then completion tokens, right-padded to S. The log-prob
of completion token j sits at logits position (prompt_len + j - 1); `positions` gathers those into
a (B, T) grid with T = the longest completion, so every loss works on completion tokens only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rewardkit.errors import UserError
from rewardkit.sampling.base import encode_prompt_ids
from rewardkit.train.attention import use_rewardkit_attention
from rewardkit.train.logprobs import chunk_tokens_for, selective_logprobs

log = logging.getLogger("rewardkit.train")


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
    real: torch.Tensor | None = None  # (B, T) bool: a completion token (whatever its weight)


def collate(rows: list[Row], *, pad_id: int, device: torch.device) -> TokenBatch:
    seqs = [r.prompt_ids + r.completion_ids for r in rows]
    S = max(len(s) for s in seqs)
    T = max(max(len(r.completion_ids) for r in rows), 1)
    input_ids = torch.full((len(rows), S), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), S), dtype=torch.long)
    positions = torch.zeros((len(rows), T), dtype=torch.long)
    targets = torch.zeros((len(rows), T), dtype=torch.long)
    mask = torch.zeros((len(rows), T))
    real = torch.zeros((len(rows), T), dtype=torch.bool)
    for i, (r, s) in enumerate(zip(rows, seqs)):
        n, p = len(r.completion_ids), len(r.prompt_ids)
        input_ids[i, : len(s)] = torch.tensor(s)
        attention[i, : len(s)] = 1
        positions[i, :n] = torch.arange(p - 1, p - 1 + n)
        targets[i, :n] = torch.tensor(r.completion_ids, dtype=torch.long)
        mask[i, :n] = r.weight
        real[i, :n] = True

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
        stack("old_logp"), stack("ref_logp"), real.to(device),
    )


VERIFIED_HEAD_MODEL_TYPES = frozenset({"llama", "qwen2", "qwen3", "mistral", "gemma", "phi3",
                                       "olmo2"})
"""model types whose logits are exactly lm_head(model.model(x)): checked by
tests/train/test_model_families.py on tiny configs. Not here on purpose: Granite (divides logits
by `logits_scaling`), Gemma 2/3 (soft-capping), Cohere (`logit_scale`); they run the model's own
forward."""


def _decoder_and_head(model: Any) -> tuple[Any, Any] | None:
    """(decoder, lm_head) when the model type is verified to compute head(decoder(x)), else None
    (an allow-list: an unknown family may scale or cap its logits after the head)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft
    if getattr(getattr(base, "config", None), "model_type", None) not in VERIFIED_HEAD_MODEL_TYPES:
        return None
    decoder = getattr(base, "model", None)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    return (decoder, head) if decoder is not None and head is not None else None


FAST_PATHS_OFF = "rewardkit_fast_paths_off"
"""attribute `check_fast_paths` sets on a model whose fast paths disagree with its forward"""


def _pick(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x (B, S, X) at positions (B, T) -> (B, T, X)."""
    return x.gather(1, positions[..., None].expand(-1, -1, x.shape[-1]))


def completion_states(model: Any, batch: TokenBatch, autocast: torch.dtype | None = None
                      ) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """(states (B, T, X), head) with head(states) = the logits at the positions that predict
    completion tokens. No (B, S, V) tensor where the model is decoder + head: X is the hidden
    size and the head runs later, in chunks (`logprobs.selective_logprobs`).

    Verified decoder + head families (VERIFIED_HEAD_MODEL_TYPES) run their own decoder, with the
    attention kernel chosen per call by `train.attention` (switched on here, from "sdpa"); any
    other model runs its own forward, and then the states are its logits and the head is the
    identity.
    """
    device = batch.input_ids.device.type

    def autocasting():
        return torch.autocast(device, autocast or torch.float32, enabled=autocast is not None)

    parts = _decoder_and_head(model) if not getattr(model, FAST_PATHS_OFF, False) else None
    if parts is not None:
        use_rewardkit_attention(model)
    with autocasting():
        if parts is None:
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                           use_cache=False).logits  # (B, S, V)
            return _pick(logits, batch.positions), lambda z: z
        decoder, head_module = parts
        hidden = decoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                         use_cache=False).last_hidden_state  # (B, S, H); no KV cache to build

    def head(h: torch.Tensor) -> torch.Tensor:
        with autocasting():
            return head_module(h)

    return _pick(hidden, batch.positions), head


def completion_logits(model: Any, batch: TokenBatch,
                      autocast: torch.dtype | None = None) -> torch.Tensor:
    """Logits at the positions that predict completion tokens, (B, T, V): the whole tensor, for
    checks and small models; training goes through `token_logprobs`, which never builds it."""
    states, head = completion_states(model, batch, autocast)
    return head(states)


class CompletionForward(torch.nn.Module):
    """`completion_states` of the policy as a module's forward, so that the training forward can
    run through a DDP wrapper (accelerate's `prepare_model`), whose forward arms the gradient
    synchronisation of the following backward pass."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: TokenBatch, autocast: torch.dtype | None = None):
        return completion_states(self.model, batch, autocast)


def token_logprobs(model: Any, batch: TokenBatch, *, temperature: float,
                   entropy: bool | str = False, autocast: torch.dtype | None = None,
                   forward: Callable | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log pi(token) on the completion grid (B, T), and the policy entropy there if asked
    (`entropy="grad"` when it enters the loss; any other true value computes it without a graph).
    Positions past a row's completion hold 0.

    Logits are divided by the sampling temperature, so the ratio compares the distribution the
    completions were actually drawn from (as TRL and verl do). Only the real completion tokens
    go through the head, in chunks of about `logprobs.LOGITS_PER_CHUNK` logits
    (`selective_logprobs`), so memory for the head does not grow with the sequence length.
    `autocast` (bf16) runs the model's matrix products in that dtype (mixed precision); the
    log-softmax is always taken in fp32. `forward` (a DDP-wrapped `CompletionForward` of
    `model`) replaces the direct call in distributed training.
    """
    with _checkpointing(model):
        if forward is not None:
            states, head = forward(batch, autocast)  # (B, T, X)
        else:
            states, head = completion_states(model, batch, autocast)
    real = batch.real if batch.real is not None else torch.ones_like(batch.targets, dtype=bool)
    vocab = model.config.get_text_config().vocab_size
    logp, ent = selective_logprobs(states[real], batch.targets[real], head,
                                   temperature=temperature, entropy=entropy,
                                   chunk_tokens=chunk_tokens_for(vocab))  # (N,) each

    def grid(values: torch.Tensor) -> torch.Tensor:  # (N,) -> (B, T), zeros off the tokens
        return torch.zeros(real.shape, dtype=values.dtype, device=values.device
                           ).masked_scatter(real, values)

    return grid(logp), (grid(ent) if ent is not None else None)


@torch.no_grad()
def check_fast_paths(model: Any, *, device: torch.device, tokens: int = 12) -> bool:
    """Compare the fast log-prob path with `model(...).logits` on one short batch at start-up;
    on a mismatch (a family that changes its logits after the head) warn and switch the fast
    paths off for this model, so log-probs come from its own forward. True when they agree.
    """
    vocab = model.config.get_text_config().vocab_size
    ids = [(7 * i + 3) % vocab for i in range(tokens)]  # any tokens: only agreement matters
    batch = collate([Row(ids[:4], ids[4:]), Row(ids[:2], ids[2:7])], pad_id=0, device=device)
    fast = completion_logits(model, batch).float()
    full = _pick(model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                       use_cache=False).logits.float(), batch.positions)
    on = batch.real[..., None].expand_as(full)
    scale = float(full[on].abs().max()) + 1e-6
    if torch.allclose(fast[on], full[on], rtol=1e-3, atol=1e-3 * scale):
        return True
    log.warning("model %s: the fast log-prob path disagrees with the model's own logits "
                "(max difference %.3g); using the model's forward for this run",
                getattr(model.config, "model_type", "?"), float((fast - full)[on].abs().max()))
    setattr(model, FAST_PATHS_OFF, True)
    return False


def enable_gradient_checkpointing(model: Any) -> None:
    """Recompute each decoder layer in the backward pass instead of keeping its activations.

    transformers checkpoints a layer only when the layer is in training mode; the policy stays in
    eval mode (no dropout), so `token_logprobs` flags only the layer objects themselves as
    training, not their submodules (dropout stays off), and only around a forward that builds a
    graph (`_checkpointing`). The training forward is the model's own decoder, so this
    checkpointing covers it (with the trainer's attention kernel, `train/attention.py`, inside).
    """
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers 5.24+ (the old name warns)
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def checkpointed_layers(model: Any) -> list[torch.nn.Module]:
    """The layers `enable_gradient_checkpointing` switched on (none if it was not called)."""
    return [m for m in model.modules() if getattr(m, "gradient_checkpointing", False) is True]


@contextlib.contextmanager
def _checkpointing(model: Any):
    """The checkpointed layers in training mode for a forward with grad, else untouched. Left in
    training mode, a layer of transformers 5.17 (the version tried; 5.24 checks grad mode itself)
    also dropped the KV cache under no_grad, so the sampler's prefill through the model's own
    forward cached nothing."""
    layers = checkpointed_layers(model) if torch.is_grad_enabled() else []
    for layer in layers:
        layer.training = True  # this module only: Module.train() would recurse
    try:
        yield
    finally:
        for layer in layers:
            layer.training = False


def encode_prompt(tokenizer: Any, text: str) -> list[int]:
    """Prompt token ids as `HFSampler.encode` makes them without a chat template:
    `tokenizer(text)`, so with the tokenizer's own special tokens (a Llama tokenizer's BOS; Qwen
    adds none). The trainer uses it only for a sampler that has no `encode` of its own; with
    one, the trainer takes the sampler's ids, so trainer and sampler ids are the same."""
    return encode_prompt_ids(tokenizer, text, chat_template=False)


def completion_ids(tokenizer: Any, completion: Any) -> list[int]:
    """The sampled token ids, else the re-tokenised text (plus EOS when it stopped)."""
    if completion.token_ids is not None:
        return list(completion.token_ids)
    ids = list(tokenizer(completion.text, add_special_tokens=False).input_ids)
    return ids + [tokenizer.eos_token_id] if completion.finish_reason == "stop" else ids
