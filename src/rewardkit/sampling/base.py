"""The Sampler protocol: prompts in, G completions per prompt out, with token counts.

Implementations: `sampling/hf.py` (transformers, CPU or one GPU, KV cache) and `sampling/vllm.py`
(imported lazily). The trainer and the eval harness depend only on this protocol, so tests can
pass a scripted sampler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

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
