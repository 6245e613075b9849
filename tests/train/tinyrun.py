"""Test stand-ins for a training run: a tiny char-level Qwen2 model built in place (no download),
a toy task with a problem generator, a reward with spread on random text, and a NaN loss.

Importable by dotted path (`tinyrun.CountTask`) from tests and from CLI subprocesses that put
tests/train on PYTHONPATH.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from rewardkit.tasks.base import Task
from rewardkit.types import Problem

CHARS = "0123456789+="


def build_model(out: Path, *, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2} | {c: i + 3 for i, c in enumerate(CHARS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   unk_token="<unk>")
    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(vocab), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=64, tie_word_embeddings=True,
                         eos_token_id=1, pad_token_id=0, bos_token_id=None)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return Path(out)


class CountTask(Task):
    """'a+b=' -> a+b, answer region = the whole reply (a random tiny model rarely gets it)."""

    name = "count"

    def problems(self, split: str, n: int, seed: int) -> list[Problem]:
        rng = random.Random(f"{split}-{seed}")
        out = []
        for i in range(n):
            a, b = rng.randrange(10), rng.randrange(10)
            out.append(Problem(id=f"{split}-{i}", prompt=f"{a}+{b}=", answer=str(a + b),
                               task=self.name))
        return out

    def prompt(self, problem: Problem) -> str:
        return problem.prompt

    def extract_answer(self, text: str) -> str | None:
        return text.split("=")[0] or None


def digits(group, *, ctx=None) -> list[float]:
    """Share of digit characters in the reply: varies on random text, so advantages are nonzero."""
    return [sum(ch.isdigit() for ch in c.text) / max(1, len(c.text)) for c in group.completions]


def nan_loss(logp, old_logp, advantages, mask, *, clip_low=0.2, clip_high=0.2, dual_clip=None):
    """A loss that is always NaN, to exercise the non-finite guard."""
    return logp * float("nan"), {}
