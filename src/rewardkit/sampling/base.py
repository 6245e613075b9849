"""The Sampler protocol: prompts in, G completions per prompt out, with token counts.

Implementations: `sampling/hf.py` (transformers, CPU or one GPU, KV cache) and `sampling/vllm.py`
(imported lazily). The trainer and the eval harness depend only on this protocol, so tests can
pass a scripted sampler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rewardkit.types import Completion


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1
    """completions per prompt (the group size G)"""
    max_new_tokens: int = 512
    temperature: float = 1.0
    """0 = greedy"""
    top_p: float = 1.0
    seed: int = 0
    """all randomness of one call derives from this seed, so a resumed run samples the same"""
    return_logprobs: bool = False
    return_entropies: bool = False


class Sampler(Protocol):
    def sample(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        """params.n completions for each prompt, in prompt order."""
        ...


def encode_prompt_ids(tokenizer: Any, prompt: str, *, chat_template: bool) -> list[int]:
    """Prompt token ids as a sampler feeds them to the model: the prompt's chat messages (a
    `ChatPrompt`'s own, else the text as one user message) through the tokenizer's chat template
    with the generation prompt, or, without `chat_template` or where the tokenizer has no
    template, `tokenizer(prompt)` (with the tokenizer's own special tokens, e.g. a Llama BOS).
    The one definition every sampler and the trainer share, so sampled and trained prompt ids
    are the same."""
    from rewardkit.prompts import chat_messages, has_chat_template

    if chat_template and has_chat_template(tokenizer):
        ids = tokenizer.apply_chat_template(
            chat_messages(prompt), add_generation_prompt=True, tokenize=True
        )
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        return list(ids)
    return list(tokenizer(prompt)["input_ids"])
