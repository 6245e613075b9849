"""A scripted sampler: the same completions for the same prompt, whatever the seed, rank or batch,
so runs that split the work differently (minibatch sizes, processes) train on identical samples.

Importable by dotted path (tests/train is on sys.path in tests and in launched subprocesses).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from rewardkit.sampling.base import SamplingParams
from rewardkit.types import Completion


class ScriptedSampler:
    """For the prompt 'a+b=', completion j is the right sum (even j) or a wrong one (odd j), then
    '=' and filler of a length fixed by (prompt, j); replies reaching max_new_tokens are cut
    there (finish_reason 'length'), the others end with EOS. So groups mix correct and wrong,
    short and truncated replies of unequal lengths."""

    def __init__(self, model_dir: str) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)

    def encode(self, prompt: str) -> list[int]:
        return list(self.tokenizer(prompt)["input_ids"])

    def sample(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        return [[self._reply(p, j, params.max_new_tokens) for j in range(params.n)]
                for p in prompts]

    def _reply(self, prompt: str, j: int, budget: int) -> Completion:
        a, b = (int(x) for x in prompt.rstrip("=").split("+"))
        answer = a + b if j % 2 == 0 else a + b + 1
        filler = "x7" * 10
        text = f"{answer}=" + filler[: (zlib.crc32(prompt.encode()) + 3 * j) % (budget + 2)]
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if len(ids) >= budget:
            ids = ids[:budget]
            return Completion(self.tokenizer.decode(ids), len(ids), "length", tuple(ids))
        ids.append(self.tokenizer.eos_token_id)
        return Completion(text, len(ids), "stop", tuple(ids))
