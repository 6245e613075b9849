"""`VLLMSampler`: the Sampler protocol on vLLM (one GPU). vLLM is imported lazily, on first use.

Same conventions as `HFSampler` (see `sampling/hf.py`), with these vLLM specifics:

- Each of the `n` completions of a prompt is its own request with `n=1` and its own seed
  derived from `(params.seed, prompt index, completion index)`. This does not depend on how a
  vLLM version expands `n>1` requests (some gave identical children under one seed); vLLM's
  prefix cache makes the repeated prompt cheap. vLLM documents per-request seeds as "mostly"
  reproducible: batch composition can change low-order bits of the logits, so bit-identical
  resume is best effort here, unlike HFSampler.
- `logprobs` come from vLLM (`SamplingParams(logprobs=0)`: the sampled token's log-prob). When
  this class builds the `LLM` it passes `logprobs_mode="raw_logprobs"` for `logprobs_at="policy"`
  (temperature 1, before top-p, as HFSampler) or `"processed_logprobs"` for
  `logprobs_at="sampling"`; with an `llm=` you built yourself, its setting applies.
- `entropies` are not available from vLLM: asking for them raises ValueError.
- `token_ids` include the EOS token when vLLM stopped on it; stop strings are kept in the text
  (`include_stop_str_in_output=True`), as HFSampler does.
- Prompts go to vLLM as token ids (`{"prompt_token_ids": ...}`), made by `encode` with the same
  function as HFSampler (`sampling.base.encode_prompt_ids`) and, in training, the trainer's own
  tokenizer: sampled and trained prompt ids are the same by construction.
- After an optimizer step, push the policy's weights with `load_weights(model)` (the trainer
  does, `sampling.backend: vllm`): an in-process copy, cast to the engine's dtype, then the
  prefix cache is reset. The engine this class builds runs in the trainer's process: it sets
  `VLLM_ENABLE_V1_MULTIPROCESSING=0` (TRL's colocate mode gets the same from vLLM's
  "external_launcher" backend). An `llm=` running in other processes cannot take the copy, and
  `load_weights` says so. One training process only: with several, every rank's engine would
  land on the first GPU (the trainer refuses that combination).
- vLLM seeds the process's global RNGs when its engine starts; `seed` (the trainer passes its
  run seed) makes that reseeding the run's own.
- A request that ends other than by "stop" or "length" (vLLM's "abort", "error") raises: its
  output is no sample of the policy.

Checked against vLLM 0.11.0, 0.25.1 (TRL's upper bound) and 0.34.0 by reading their source
(no vLLM runs here): the arguments, prompt and output formats, `logprobs_mode` values, the
in-process model's path and `load_weights` naming used below exist in all three.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from rewardkit.sampling.base import SamplingParams, encode_prompt_ids
from rewardkit.types import Completion


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "VLLMSampler needs vllm (a CUDA machine: pip install vllm); on CPU use HFSampler"
        ) from e
    return vllm


def request_seed(seed: int, prompt_index: int, completion_index: int) -> int:
    """A distinct, stable 63-bit seed per (call seed, prompt, completion).

    >>> request_seed(0, 0, 0) != request_seed(0, 0, 1) != request_seed(1, 0, 0)
    True
    >>> request_seed(5, 2, 3) == request_seed(5, 2, 3)
    True
    """
    x = (seed * 1_000_003 + prompt_index) * 1_000_033 + completion_index
    # splitmix64 finaliser: nearby inputs give unrelated seeds
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (x ^ (x >> 31)) >> 1


def completion_from_vllm(output: Any, *, eos_token_ids: Iterable[int] = ()) -> Completion:
    """One vLLM `CompletionOutput` -> Completion (num_tokens = generated tokens incl. EOS)."""
    ids = tuple(int(t) for t in output.token_ids)
    # vLLM reports "stop" for EOS / stop strings / stop tokens and "length" at max_tokens or
    # the model's context; None only for an unfinished request.
    reason = output.finish_reason
    if reason not in ("stop", "length", None):
        raise RuntimeError(f"vLLM ended a request with finish_reason={reason!r}")
    finish = "stop" if reason == "stop" else "length"
    if reason is None and ids and ids[-1] in set(eos_token_ids):
        finish = "stop"
    logprobs = None
    if output.logprobs is not None:
        # one dict {token_id: Logprob} per generated token; the sampled token is always in it
        logprobs = tuple(float(step[tok].logprob) for step, tok in zip(output.logprobs, ids))
    return Completion(
        text=output.text,
        num_tokens=len(ids),
        finish_reason=finish,
        token_ids=ids,
        logprobs=logprobs,
    )


class VLLMSampler:
    """Sampler protocol over `vllm.LLM` (see the module docstring for conventions)."""

    def __init__(
        self,
        model: str,
        *,
        llm: Any = None,
        chat_template: bool = False,
        stop: Sequence[str] = (),
        logprobs_at: Literal["policy", "sampling"] = "policy",
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.5,
        max_model_len: int | None = None,
        enable_prefix_caching: bool = True,
        tokenizer: Any = None,
        seed: int = 0,
    ) -> None:
        if logprobs_at not in ("policy", "sampling"):
            raise ValueError(f"logprobs_at must be 'policy' or 'sampling', not {logprobs_at!r}")
        self._vllm = _import_vllm()
        self.chat_template = chat_template
        self.stop = tuple(s for s in stop if s)
        if llm is None:
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # the engine in this process
            llm = self._vllm.LLM(
                model=model,
                dtype=dtype,
                gpu_memory_utilization=gpu_memory_utilization,
                max_model_len=max_model_len,
                enable_prefix_caching=enable_prefix_caching,
                logprobs_mode="raw_logprobs" if logprobs_at == "policy" else "processed_logprobs",
                seed=seed,
            )
        self.llm = llm
        # the trainer passes its own tokenizer: one source of prompt ids for both sides
        self.tokenizer = tokenizer if tokenizer is not None else llm.get_tokenizer()
        eos = self.tokenizer.eos_token_id
        self.eos_token_ids = () if eos is None else (int(eos),)

    def encode(self, prompt: str) -> list[int]:
        """Prompt token ids as the engine gets them (chat template applied when enabled)."""
        return encode_prompt_ids(self.tokenizer, prompt, chat_template=self.chat_template)

    def sample(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        """params.n completions for each prompt, in prompt order."""
        if params.return_entropies:
            raise ValueError("VLLMSampler cannot return entropies; use HFSampler")
        n = params.n
        requests, sps = [], []
        for i, prompt in enumerate(prompts):
            ids = self.encode(prompt)
            for k in range(n):
                requests.append({"prompt_token_ids": ids})  # vLLM's TokensPrompt
                sps.append(
                    self._vllm.SamplingParams(
                        n=1,
                        temperature=params.temperature,
                        top_p=params.top_p,
                        max_tokens=params.max_new_tokens,
                        seed=request_seed(params.seed, i, k),
                        logprobs=0 if params.return_logprobs else None,
                        stop=list(self.stop) or None,
                        include_stop_str_in_output=True,
                    )
                )
        outs = self.llm.generate(requests, sps, use_tqdm=False)  # one RequestOutput per request
        flat = [completion_from_vllm(o.outputs[0], eos_token_ids=self.eos_token_ids) for o in outs]
        return [flat[i * n : (i + 1) * n] for i in range(len(prompts))]

    def load_weights(self, model: Any) -> None:
        """Copy a (training) transformers model's weights into the vLLM engine, in process:
        the engine model's `load_weights` takes HF parameter names (vLLM maps them onto its
        fused layers and skips a tied `lm_head`). Tensors are cast to the engine's dtype one at
        a time (no second full copy; vLLM would warn once per parameter on fp32 into bf16):
        its model config's dtype, which a quantized model's parameters do not show.
        Then the prefix cache is reset: its keys and values came from the old weights."""
        engine_model = _in_process_model(self.llm)
        if engine_model is None:
            raise RuntimeError(
                "VLLMSampler.load_weights needs the engine in this process "
                "(VLLM_ENABLE_V1_MULTIPROCESSING=0 before the LLM is built); this LLM runs "
                "its model elsewhere")
        dtype = _engine_dtype(self.llm, engine_model)
        engine_model.load_weights(
            (name, p.detach().to(dtype)) for name, p in model.state_dict().items())
        if self.llm.reset_prefix_cache() is False:  # vLLM: False when it could not reset
            raise RuntimeError("vLLM did not reset its prefix cache after a weight update")


def _engine_dtype(llm: Any, engine_model: Any) -> Any:
    """The dtype the engine computes in: `llm_engine.model_config.dtype` (vLLM 0.11-0.34), else
    the dtype of the engine model's first parameter."""
    import torch

    dtype = getattr(getattr(getattr(llm, "llm_engine", None), "model_config", None), "dtype", None)
    return dtype if isinstance(dtype, torch.dtype) else next(engine_model.parameters()).dtype


def _in_process_model(llm: Any) -> Any:
    """The engine's torch model when it runs in this process (V1 without multiprocessing:
    driver_worker.worker.model_runner.model; older engines: driver_worker.model_runner.model)."""
    executor = getattr(getattr(llm, "llm_engine", None), "model_executor", None)
    worker = getattr(executor, "driver_worker", None)
    for holder in (getattr(worker, "worker", None), worker):
        model = getattr(getattr(holder, "model_runner", None), "model", None)
        if model is not None:
            return model
    return None
