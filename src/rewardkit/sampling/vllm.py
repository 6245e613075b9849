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
- After an optimizer step, push the policy's weights with `load_weights(model)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from rewardkit.prompts import render
from rewardkit.sampling.base import SamplingParams
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
    # vLLM reports "stop" for EOS / stop strings / stop tokens and "length" at max_tokens;
    # anything else (e.g. "abort") is treated as cut off.
    reason = output.finish_reason
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
    ) -> None:
        if logprobs_at not in ("policy", "sampling"):
            raise ValueError(f"logprobs_at must be 'policy' or 'sampling', not {logprobs_at!r}")
        self._vllm = _import_vllm()
        self.chat_template = chat_template
        self.stop = tuple(s for s in stop if s)
        if llm is None:
            llm = self._vllm.LLM(
                model=model,
                dtype=dtype,
                gpu_memory_utilization=gpu_memory_utilization,
                max_model_len=max_model_len,
                enable_prefix_caching=enable_prefix_caching,
                logprobs_mode="raw_logprobs" if logprobs_at == "policy" else "processed_logprobs",
            )
        self.llm = llm
        self.tokenizer = llm.get_tokenizer()
        eos = self.tokenizer.eos_token_id
        self.eos_token_ids = () if eos is None else (int(eos),)

    def _prompt_text(self, prompt: str) -> str:
        return render(self.tokenizer, prompt, chat_template=self.chat_template)

    def sample(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        """params.n completions for each prompt, in prompt order."""
        if params.return_entropies:
            raise ValueError("VLLMSampler cannot return entropies; use HFSampler")
        n = params.n
        texts, sps = [], []
        for i, prompt in enumerate(prompts):
            text = self._prompt_text(prompt)
            for k in range(n):
                texts.append(text)
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
        outs = self.llm.generate(texts, sps, use_tqdm=False)  # one RequestOutput per request
        flat = [completion_from_vllm(o.outputs[0], eos_token_ids=self.eos_token_ids) for o in outs]
        return [flat[i * n : (i + 1) * n] for i in range(len(prompts))]

    def load_weights(self, model: Any) -> None:
        """Copy a (training) transformers model's weights into the vLLM engine, in process.

        Uses vLLM's in-process worker path, whose location has moved between vLLM versions;
        untested here (no GPU/vLLM in CI).
        """
        weights = [(name, p.detach()) for name, p in model.state_dict().items()]
        engine = self.llm.llm_engine
        executor = getattr(engine, "model_executor", None)
        worker = getattr(executor, "driver_worker", None)
        if worker is not None:  # older engines: direct access to the model runner
            worker.model_runner.model.load_weights(weights)
        else:  # V1 engine: run on every worker
            self.llm.collective_rpc(lambda w: w.model_runner.model.load_weights(weights))
        reset = getattr(self.llm, "reset_prefix_cache", None)
        if reset is not None:
            reset()  # cached prefixes were computed with the old weights
