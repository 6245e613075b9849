"""Test stand-ins for a training run: a tiny char-level Qwen2 model built in place (no download),
a toy task with a problem generator, a reward with spread on random text, and a NaN loss.

Importable by dotted path (`tinyrun.CountTask`) from tests and from CLI subprocesses that put
tests/train on PYTHONPATH.
"""

from __future__ import annotations

import random
from pathlib import Path

from rewardkit.rewards.base import batch_level, needs, state_of, stateful
from rewardkit.tasks.base import Task
from rewardkit.types import Problem


def build_model(out: Path, *, seed: int = 0) -> Path:
    """The project's character-level tiny Qwen2 (models/tiny.py), as small as it goes."""
    from rewardkit.models.tiny import build_tiny_model

    return build_tiny_model(out, layers=2, hidden=32, heads=2, seed=seed, max_position=64)


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


def _seen_update(state: dict, batch, *, step: int) -> dict:
    return {"seen": state.get("seen", 0) + sum(len(g) for g in batch)}


@stateful(_seen_update)
def novelty(group, *, ctx=None) -> list[float]:
    """A stateful stand-in: 1/(1 + completions seen in earlier steps). Wrong after a resume
    unless the reward state was restored."""
    seen = state_of(ctx).get("seen", 0)
    return [1.0 / (1 + seen)] * len(group)


def keep_last(totals, *, target: int) -> list[int]:
    """A recomposition hook for tests: the last `target` kept groups."""
    return list(range(len(totals)))[-target:] if target else []


class TimeoutCountTask(CountTask):
    """CountTask whose verifier cannot judge the reply "timeout" (verdict None, status timeout)."""

    def check(self, gold, text):
        return (None, "timeout") if text == "timeout" else super().check(gold, text)


def _count_answer(prompt: str) -> str:
    a, b = prompt.rstrip("=").split("+")
    return str(int(a) + int(b))


class ScriptedSampler:
    """A Sampler that answers from a plan instead of a model: `plan[k][i]` is the kind of group
    it returns for prompt i of its k-th call, and `calls` records how many prompts each call had.

    Kinds (group size 4, CountTask prompts "a+b="): "mixed" -> right, wrong, right, wrong;
    "three" -> right, right, right, wrong; "equal" -> four wrong replies (all-equal accuracy:
    dynamic sampling drops it); "timeout" -> right, wrong, "timeout", right (TimeoutCountTask
    cannot judge the third). A wrong reply is "xxx", longer than any right one (1-2 digits).
    """

    def __init__(self, plan: list[list[str]]) -> None:
        self.plan = plan
        self.calls: list[int] = []
        self.params = []

    def sample(self, prompts, params):
        from rewardkit.types import Completion

        kinds = self.plan[len(self.calls)]
        assert len(kinds) == len(prompts), (kinds, prompts)
        self.calls.append(len(prompts))
        self.params.append(params)
        out = []
        for prompt, kind in zip(prompts, kinds):
            right = _count_answer(prompt)
            wrong = "xxx"
            texts = {"mixed": [right, wrong, right, wrong], "three": [right, right, right, wrong],
                     "equal": [wrong] * 4, "timeout": [right, wrong, "timeout", right]}[kind]
            assert params.n == len(texts)
            out.append([Completion(text=t, num_tokens=len(t) + 1) for t in texts])  # + EOS
        return out


def plus_half(group, *, ctx=None) -> list[float]:
    """0.5 for every completion, judged or not (a non-primary term next to accuracy)."""
    return [0.5] * len(group)


@batch_level
@needs("entropies")
def batch_entropies_seen(group, *, ctx=None) -> list[float]:
    """1.0 for each completion whose per-token entropies reached this batch-level reward."""
    return [float(c.entropies is not None) for c in group.completions]


@batch_level
def batch_size(group, *, ctx=None) -> list[float]:
    """How many groups the reward saw as the batch (a batch-level stand-in)."""
    return [float(len(ctx.batch))] * len(group)
