"""`HFSampler`: batched sampling from a transformers causal LM on CPU or one GPU.

Our own decoding loop rather than `model.generate`: at the sizes rewardkit trains on CPU,
`generate` spends much of its time outside the model (logits processors, stopping criteria,
cache growth by `torch.cat`). The loop here does per step only what GRPO sampling needs:

- the prompt is prefilled once per *distinct* prompt, then its KV cache is repeated for the
  `n` completions of the group (`n` times less prefill work);
- the KV cache is pre-allocated to `prompt + max_new_tokens` and written in place; attention
  reads only the filled part, so it costs what a growing cache costs, without the copies;
- finished rows are dropped from the batch once a quarter of it has finished, so short
  completions stop costing compute (compaction copies the cache, hence not at every row);
- the loop ends as soon as every row has finished;
- for Llama/Qwen2-shaped models each decode step runs a hand-written forward over the same
  weights (`_fast_decode.py`, about half the Python work of `model(...)`); other models, or
  `fast_decode=False`, step through `model(...)`;
- `autocast=torch.bfloat16` runs the matrix products in bf16 over fp32 weights, as the trainer's
  `autocast` setting does (about 3-4x the fp32 matmul throughput on CPUs with AVX512-BF16/AMX).

Conventions (the trainer relies on these):

- `token_ids` are the generated tokens, up to and including the EOS token when one was sampled;
  padding is never included. `num_tokens == len(token_ids)`.
- `finish_reason` is "stop" when an EOS token (or a stop string, see `stop=`) ended the
  completion, "length" when `max_new_tokens` tokens were generated without one.
- `text` is `tokenizer.decode(token_ids, skip_special_tokens=True)`; with stop strings it ends
  with the token that completed the stop string (the stop string is kept in the text).
- `logprobs[j]` (when `params.return_logprobs`) is log pi(a_j | q, a_<j) of the sampled token
  under the policy at temperature 1 with no top-p truncation: `log_softmax(logits)[a_j]`, the
  quantity a trainer's forward pass computes for the PPO/GRPO ratio, so it can serve as the
  "old" log-prob. With `logprobs_at="sampling"` it is instead the log-prob under the
  distribution actually sampled from (temperature and top-p applied; 0.0 for greedy).
  These are computed in the model's dtype inside the decoding loop; in bf16 they can differ
  slightly from a padded training forward pass.
- `entropies[j]` is the entropy (nats) of the same distribution as `logprobs`.
- Randomness: one `torch.Generator` seeded with `params.seed` drives every draw of the call, so
  the same seed with the same prompts, params and sampler settings gives identical outputs.

Decision: the seed fixes the whole call, not each prompt, so a prompt's completions depend on the
other prompts in the call (batch composition); resume reproduces calls, which is what we need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

from rewardkit.precision import (  # noqa: F401  (re-exported: the sampler's historic home)
    has_native_bf16,
    resolve_autocast,
    resolve_device,
    resolve_dtype,
)
from rewardkit.sampling._fast_decode import FastDecoder
from rewardkit.sampling.base import SamplingParams, encode_prompt_ids
from rewardkit.types import Completion


def load_model(
    path: str, *, device: str | torch.device = "auto", dtype: str | torch.dtype = "auto"
) -> tuple[Any, Any]:
    """(model, tokenizer) from a local HF-format directory (or hub id), in eval mode on `device`.

    The tokenizer pads on the left, and gets `pad_token = eos_token` when it has no pad token.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = resolve_device(device)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=resolve_dtype(dtype, dev))
    model.to(dev).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


class _PreallocatedLayer(DynamicLayer):
    """A full-attention KV cache layer written in place into a buffer of fixed capacity.

    `keys`/`values` are views of the filled part, so attention costs what it costs with a
    growing cache, but no step copies the whole cache (DynamicLayer's `torch.cat` does).
    """

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.dtype, self.device = key_states.dtype, key_states.device
        b, h, _, dk = key_states.shape
        # (B, H, capacity, D): allocated once, uninitialised; only [:length] is ever read
        self.k_buf = key_states.new_empty((b, h, self.capacity, dk))
        self.v_buf = value_states.new_empty((b, h, self.capacity, value_states.shape[-1]))
        self.is_initialized = True

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self.capacity:
            raise RuntimeError(f"KV cache overflow: {end} > capacity {self.capacity}")
        self.k_buf[:, :, self.length : end].copy_(key_states)
        self.v_buf[:, :, self.length : end].copy_(value_states)
        self.length = end
        self._refresh()
        return self.keys, self.values

    def _refresh(self) -> None:
        self.keys = self.k_buf[:, :, : self.length]
        self.values = self.v_buf[:, :, : self.length]

    def get_seq_length(self) -> int:
        return self.length

    def get_max_length(self) -> int:
        return self.capacity

    def _reshape(self, rows: torch.Tensor, repeat: bool) -> None:
        # Copy only the filled part into a fresh buffer sized for the new batch.
        if not self.is_initialized:
            return
        for name in ("k_buf", "v_buf"):
            old = getattr(self, name)[:, :, : self.length]
            used = old.repeat_interleave(rows, dim=0) if repeat else old.index_select(0, rows)
            new = used.new_empty((used.shape[0], used.shape[1], self.capacity, used.shape[3]))
            new[:, :, : self.length].copy_(used)
            setattr(self, name, new)
        self._refresh()

    def batch_repeat_interleave(self, repeats: int | torch.Tensor) -> None:
        if isinstance(repeats, int):
            repeats = torch.tensor(repeats, device=self.device)
        self._reshape(repeats, repeat=True)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._reshape(indices, repeat=False)

    def reset(self) -> None:
        self.length = 0
        self.keys = self.values = None
        self.is_initialized = False

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError("the sampler never crops its cache")


def _make_cache(model: Any, capacity: int) -> Cache:
    """Pre-allocated cache when every layer is full attention, else the model's DynamicCache."""
    config = model.config.get_text_config(decoder=True)
    layer_types = getattr(config, "layer_types", None) or ["full_attention"]
    if all(t == "full_attention" for t in layer_types):
        n = config.num_hidden_layers
        return Cache(layers=[_PreallocatedLayer(capacity) for _ in range(n)])
    return DynamicCache(config=model.config)


@dataclass
class _Rows:
    """What one block of rows produced (rows in block order)."""

    tokens: list[list[int]]
    finished: list[bool]
    logprobs: list[list[float]] | None
    entropies: list[list[float]] | None


def cache_kwarg(model: Any) -> str:
    """The name of the KV-cache argument of `model`'s forward: transformers 5.24 renamed
    `past_key_values` to `cache` (the old name still works there, with a FutureWarning on every
    call, until 5.40); older versions know only `past_key_values`. A peft wrapper's forward
    takes **kwargs, so the wrapped model's own forward decides."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(type(base).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


class HFSampler:
    """Sampler protocol over a transformers causal LM + tokenizer (see the module docstring).

    `chat_template=True` applies the tokenizer's chat template, with the generation prompt, to
    each prompt's messages (`rewardkit.prompts`: a task's system prompt and question, or the text
    as one user message); a tokenizer without a template gets the plain text. `stop` strings end
    a completion like EOS does (checked on the decoded tail of each unfinished row every step;
    costs a few decodes per step).
    `max_batch_size` caps rows decoded together (default: all `len(prompts) * n` at once).
    `eos_token_ids` defaults to the model's generation config EOS ids plus the tokenizer's.
    `autocast` (e.g. torch.bfloat16) runs the forward passes' matrix products in that dtype.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        chat_template: bool = False,
        stop: Sequence[str] = (),
        max_batch_size: int | None = None,
        eos_token_ids: Sequence[int] | None = None,
        logprobs_at: Literal["policy", "sampling"] = "policy",
        compact_fraction: float = 0.25,
        fast_decode: bool = True,
        autocast: torch.dtype | None = None,
    ) -> None:
        if logprobs_at not in ("policy", "sampling"):
            raise ValueError(f"logprobs_at must be 'policy' or 'sampling', not {logprobs_at!r}")
        if max_batch_size is not None and max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        self.model = model
        self.tokenizer = tokenizer
        self.chat_template = chat_template
        self.stop = tuple(s for s in stop if s)
        self.max_batch_size = max_batch_size
        self.logprobs_at = logprobs_at
        self.compact_fraction = compact_fraction
        self.fast_decode = fast_decode
        self.autocast = autocast
        if eos_token_ids is None:
            found: set[int] = set()
            for src in (getattr(model, "generation_config", None), model.config, tokenizer):
                eos = getattr(src, "eos_token_id", None)
                found.update([eos] if isinstance(eos, int) else (eos or []))
            eos_token_ids = sorted(found)
        if not eos_token_ids:
            raise ValueError("no EOS token id: pass eos_token_ids=")
        self.eos_token_ids = tuple(int(e) for e in eos_token_ids)
        pad = tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else self.eos_token_ids[0])
        self._stop_window = 2 * max((len(s) for s in self.stop), default=0) + 8
        self._cache_kwarg = cache_kwarg(model)

    @classmethod
    def from_pretrained(
        cls,
        path: str,
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        **options: Any,
    ) -> HFSampler:
        """Load with `load_model` and wrap; `options` are HFSampler's keyword options."""
        model, tokenizer = load_model(path, device=device, dtype=dtype)
        return cls(model, tokenizer, **options)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, prompt: str) -> list[int]:
        """Prompt token ids as the model sees them (chat template applied when enabled)."""
        return encode_prompt_ids(self.tokenizer, prompt, chat_template=self.chat_template)

    def sample(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        """params.n completions for each prompt, in prompt order."""
        _check_params(params)
        prompt_ids = [self.encode(p) for p in prompts]
        n = params.n
        rows = [i for i in range(len(prompts)) for _ in range(n)]  # prompt index of each row
        block = self.max_batch_size or max(len(rows), 1)
        gen = torch.Generator(device=self.device).manual_seed(params.seed)
        out: list[Completion] = []
        with torch.inference_mode():
            # built per call from the live weights, so a trained policy is never stale
            fast = FastDecoder.build(self.model, self.autocast) if self.fast_decode else None
            for start in range(0, len(rows), block):
                chunk = rows[start : start + block]
                uniq = sorted(set(chunk))
                counts = [chunk.count(u) for u in uniq]
                res = self._generate([prompt_ids[u] for u in uniq], counts, params, gen, fast)
                out.extend(self._completions(res))
        return [out[i * n : (i + 1) * n] for i in range(len(prompts))]

    def _completions(self, res: _Rows) -> list[Completion]:
        comps = []
        for r, toks in enumerate(res.tokens):
            comps.append(
                Completion(
                    text=self.tokenizer.decode(toks, skip_special_tokens=True),
                    num_tokens=len(toks),
                    finish_reason="stop" if res.finished[r] else "length",
                    token_ids=tuple(toks),
                    logprobs=tuple(res.logprobs[r]) if res.logprobs is not None else None,
                    entropies=tuple(res.entropies[r]) if res.entropies is not None else None,
                )
            )
        return comps

    def _generate(
        self,
        prompts: list[list[int]],
        counts: list[int],
        params: SamplingParams,
        gen: torch.Generator,
        fast: FastDecoder | None = None,
    ) -> _Rows:
        """Decode sum(counts) rows: counts[i] completions of prompts[i]."""
        dev, T = self.device, params.max_new_tokens
        B = sum(counts)
        if T == 0:
            return _Rows([[] for _ in range(B)], [False] * B, None, None)
        Lp = max(len(p) for p in prompts)
        # Left padding, as generate does: every row's last prompt token sits at column Lp-1.
        ids = torch.full((len(prompts), Lp), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), Lp + T), dtype=torch.long)  # (U, Lp+T) 1 = real token
        for i, p in enumerate(prompts):
            ids[i, Lp - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[i, Lp - len(p) : Lp] = 1
        ids, mask = ids.to(dev), mask.to(dev)
        pos = (mask[:, :Lp].cumsum(-1) - 1).clamp_(min=0)  # (U, Lp) positions skip padding

        cache = _make_cache(self.model, Lp + T)
        if not isinstance(cache.layers[0], _PreallocatedLayer):
            fast = None  # the fast step writes into pre-allocated layers only
        logits = self._forward(ids, mask[:, :Lp], pos, cache)  # (U, V)

        # Share the prefill: repeat cache, logits and masks for each prompt's completions.
        rep = torch.tensor(counts, device=dev)
        cache.batch_repeat_interleave(rep)
        logits = logits.repeat_interleave(rep, dim=0)  # (B, V)
        mask = mask.repeat_interleave(rep, dim=0)  # (B, Lp+T)
        next_pos = pos[:, -1].repeat_interleave(rep) + 1  # (B,)

        eos = torch.tensor(self.eos_token_ids, device=dev)
        want_lp, want_ent = params.return_logprobs, params.return_entropies
        tokens = torch.full((B, T), self.pad_token_id, dtype=torch.long, device=dev)  # (B, T)
        lps = torch.zeros((B, T), device=dev) if want_lp else None
        ents = torch.zeros((B, T), device=dev) if want_ent else None
        lengths = torch.full((B,), T, dtype=torch.long, device=dev)  # final length of each row
        finished = torch.zeros(B, dtype=torch.bool, device=dev)
        row_ids = torch.arange(B, device=dev)  # original row of each row still in the batch
        alive = torch.ones(B, dtype=torch.bool, device=dev)  # over the rows still in the batch

        for t in range(T):
            tok, lp, ent = self._choose(logits, params, gen, want_lp, want_ent)  # (b,) each
            tokens[row_ids, t] = tok
            if lps is not None:
                lps[row_ids, t] = lp
            if ents is not None:
                ents[row_ids, t] = ent
            done = alive & torch.isin(tok, eos)  # (b,)
            if self.stop:
                done |= self._stop_hits(tokens, row_ids, alive, t)
            # A row finishing at step t keeps t+1 tokens (EOS / stop string included).
            lengths[row_ids[done]] = t + 1
            finished[row_ids[done]] = True
            alive &= ~done
            n_alive = int(alive.sum())  # one host sync per step, also needed to stop early
            if n_alive == 0 or t == T - 1:
                break
            width = alive.shape[0]
            if width - n_alive >= max(1, int(self.compact_fraction * width)):
                keep = alive.nonzero().squeeze(1)  # (b',)
                cache.batch_select_indices(keep)
                row_ids, tok, next_pos = row_ids[keep], tok[keep], next_pos[keep]
                mask = mask[keep]
                alive = alive[keep]
            col = Lp + t
            mask[:, col] = 1
            if fast is not None:
                logits = fast.step(tok, next_pos, cache, mask[:, : col + 1].bool())
            else:
                logits = self._forward(tok[:, None], mask[:, : col + 1], next_pos[:, None], cache)
            next_pos = next_pos + 1

        lengths_l = lengths.tolist()
        tok_l = tokens.tolist()
        trim = [row[:n] for row, n in zip(tok_l, lengths_l)]
        return _Rows(
            tokens=trim,
            finished=finished.tolist(),
            logprobs=None if lps is None else [r[:n] for r, n in zip(lps.tolist(), lengths_l)],
            entropies=None if ents is None else [r[:n] for r, n in zip(ents.tolist(), lengths_l)],
        )

    def _forward(
        self, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor, cache: Cache
    ) -> torch.Tensor:
        # The fast decode step runs outside autocast: its weights are cast once per call.
        with torch.autocast(self.device.type, self.autocast or torch.float32,
                            enabled=self.autocast is not None):
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=pos,
                **{self._cache_kwarg: cache},
                use_cache=True,
                logits_to_keep=1,
            )
        return out.logits[:, -1].float()  # (b, V) fp32 for sampling and log-probs

    def _choose(
        self,
        logits: torch.Tensor,
        params: SamplingParams,
        gen: torch.Generator,
        want_lp: bool,
        want_ent: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Next token per row from fp32 logits (b, V); log-prob and entropy when asked."""
        if params.temperature == 0:
            tok = logits.argmax(-1)
            sampling_logp = None
        else:
            scaled = logits / params.temperature
            if params.top_p < 1.0:
                scaled = _top_p_filter(scaled, params.top_p)
            sampling_logp = torch.log_softmax(scaled, dim=-1)  # (b, V)
            tok = torch.multinomial(sampling_logp.exp(), 1, generator=gen).squeeze(1)
        if not (want_lp or want_ent):
            return tok, None, None
        if self.logprobs_at == "policy":
            logp = torch.log_softmax(logits, dim=-1)
        elif sampling_logp is None:  # greedy: the sampled distribution is a point mass
            zero = torch.zeros_like(tok, dtype=logits.dtype)
            return tok, zero, zero
        else:
            logp = sampling_logp
        lp = logp.gather(1, tok[:, None]).squeeze(1) if want_lp else None
        ent = torch.special.entr(logp.exp()).sum(-1) if want_ent else None
        return tok, lp, ent

    def _stop_hits(
        self, tokens: torch.Tensor, row_ids: torch.Tensor, alive: torch.Tensor, t: int
    ) -> torch.Tensor:
        """Rows (of the current batch) whose decoded tail now contains a stop string."""
        lo = max(0, t + 1 - self._stop_window)
        tails = tokens[row_ids, lo : t + 1].tolist()
        alive_l = alive.tolist()
        hits = [
            a and any(s in self.tokenizer.decode(tail, skip_special_tokens=True) for s in self.stop)
            for a, tail in zip(alive_l, tails)
        ]
        return torch.tensor(hits, dtype=torch.bool, device=alive.device)


def _top_p_filter(scaled: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose mass reaches top_p (nucleus sampling).

    A token is dropped when the mass of the tokens ranked above it already reaches top_p; the
    most likely token is always kept.
    """
    sorted_logits, order = scaled.sort(dim=-1, descending=True)  # (b, V)
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs  # mass strictly above each token
    sorted_logits = sorted_logits.masked_fill(before >= top_p, float("-inf"))
    return torch.full_like(scaled, float("-inf")).scatter(-1, order, sorted_logits)


def _check_params(params: SamplingParams) -> None:
    if params.n < 1:
        raise ValueError(f"n must be >= 1, got {params.n}")
    if params.max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {params.max_new_tokens}")
    if params.temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {params.temperature}")
    if not 0 < params.top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {params.top_p}")
