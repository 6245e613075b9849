"""`arith`: multi-step addition problems made from a seed, for the CPU demo and tests.

A problem adds `difficulty + 1` small numbers (difficulty = number of additions):

    prompt:  "12+7+35=?\\n"
    reply:   "<think>12+7=19 (19+35) 19+35=54</think>\\boxed{54}"

Prompts are short on purpose: the demo model's tokens are characters. The answer is the last
\\boxed{} after </think>, compared to the gold as an exact integer ("054" and "54.0" are wrong:
the model is taught to write plain integers, and a verifier that forgives formats would hide it).

Splits never overlap: every question falls into one bucket by a stable hash of its text
(`test` 10%, `validation` 10%, `train` the rest), and `problems(split, n, seed)` only draws from
its bucket. Held-out splits (`test`, `validation`) give distinct questions only, and fewer than
asked, with a warning saying how many exist, when the bucket runs out (with single-digit operands
it holds about 8 questions of one addition); the `train` split is a stream that repeats questions
once its bucket is used up. The same (split, n, seed, difficulties) always gives the same list.

Warm-start traces (`concise_trace`, `verbose_trace`, `warm_start_examples`) reach the gold answer
with only the needed steps, or with restating, re-checking and redoing steps: the mix makes a
supervised model "overthink", which length-aware RL rewards then cut back.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import random
import re
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

from rewardkit.errors import UserError
from rewardkit.registry import TASKS
from rewardkit.tasks.base import Task, Verdict, answer_region, last_boxed
from rewardkit.types import Problem

SPLITS = ("train", "validation", "test")
_BUCKET = {"test": 0, "validation": 1}  # crc32(question) % 10 -> split; the other 8 are train
_QUESTION = re.compile(r"(\d+(?:\+\d+)+)=\?")
_INTEGER = re.compile(r"-?\d+")
HELD_OUT = ("validation", "test")  # splits whose problems are distinct by default
ENUMERATE_UP_TO = 100_000  # question spaces this small are listed in full (an exact count)

log = logging.getLogger("rewardkit.tasks")


def split_of(question: str) -> str:
    """The split a question belongs to, from a stable hash of its text.

    >>> split_of("12+7=?"), split_of("3+4=?")
    ('train', 'train')
    """
    bucket = zlib.crc32(question.encode()) % 10
    return next((s for s, b in _BUCKET.items() if b == bucket), "train")


def operands(question: str) -> list[int]:
    """The numbers a question adds.

    >>> operands("12+7+35=?")
    [12, 7, 35]
    """
    m = _QUESTION.fullmatch(question.strip())
    if m is None:
        raise UserError(f"not an arith question (expected like '12+7=?'): {question!r}")
    return [int(x) for x in m.group(1).split("+")]


class ArithTask(Task):
    name = "arith"
    prompt_key = "question"
    answer_key = "answer"

    difficulties: tuple[int, ...] = (1, 2, 3)
    """default difficulties (additions per problem) of `problems()`"""
    max_operand: int = 9
    """operands are drawn uniformly from 1..max_operand (single digits: what a 0.3M-parameter
    model learns in minutes; set it higher on an instance for harder problems)"""

    # -- data ---------------------------------------------------------------------------------
    def generate(
        self,
        n: int,
        seed: int = 0,
        *,
        difficulties: Sequence[int] | None = None,
        split: str = "train",
        distinct: bool | None = None,
    ) -> list[Problem]:
        """`n` problems of `split`; difficulties cycle through `difficulties`.

        `distinct` (default: True for the held-out splits, False for `train`): every question
        appears once; a difficulty whose questions are used up is skipped, and when all are, the
        list is shorter than `n` and a warning says how many exist. Otherwise questions are
        distinct while the split has unused ones of that difficulty, then drawn uniformly from
        the split's questions, repeats included (a training stream).

        >>> [p.prompt for p in ArithTask().generate(3, seed=0, difficulties=[1, 2])]
        ['8+2=?', '4+7+3=?', '1+9=?']
        """
        if split not in SPLITS:
            raise UserError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
        levels = list(difficulties or self.difficulties)
        if not levels or any(not isinstance(d, int) or d < 1 for d in levels):
            raise UserError(f"difficulties must be integers >= 1, got {levels}")
        if distinct if distinct is not None else split in HELD_OUT:
            drawn = self._distinct(n, seed, levels, split)
        else:
            drawn = self._stream(n, seed, levels, split)
        return [self._problem(nums, split) for nums in drawn]

    def _problem(self, nums: Sequence[int], split: str) -> Problem:
        question = _question(nums)
        return Problem(id=f"arith:{question[:-2]}", prompt=question, answer=str(sum(nums)),
                       task=self.name, meta={"difficulty": len(nums) - 1, "split": split})

    def _no_problems(self, split: str, difficulty: int) -> UserError:
        return UserError(f"the {split} split has no problems of difficulty {difficulty} "
                         f"with operands up to {self.max_operand}")

    def _stream(self, n: int, seed: int, levels: list[int], split: str) -> list[list[int]]:
        """Distinct while a difficulty has unused questions, then uniform with repeats."""
        # A string seed is hashed by `random` itself (stable across runs and platforms).
        rng = random.Random(f"arith:{split}:{seed}")
        seen: set[str] = set()
        exhausted: set[int] = set()  # difficulties whose split questions are all used
        out: list[list[int]] = []
        for i in range(n):
            difficulty = levels[i % len(levels)]
            nums = self._draw(rng, difficulty, split, None if difficulty in exhausted else seen)
            if nums is None:
                exhausted.add(difficulty)
                nums = self._draw(rng, difficulty, split, None)
            if nums is None:
                raise self._no_problems(split, difficulty)
            seen.add(_question(nums))
            out.append(nums)
        return out

    def _distinct(self, n: int, seed: int, levels: list[int], split: str) -> list[list[int]]:
        """Up to `n` distinct questions, cycling through `levels` and skipping used-up ones."""
        sources = {d: self._unique(d, split, seed) for d in dict.fromkeys(levels)}
        out: list[list[int]] = []
        live = list(levels)  # the cycle, less the difficulties that are used up
        i = 0
        while len(out) < n and live:
            difficulty = live[i % len(live)]
            nums = next(sources[difficulty], None)
            if nums is None:
                if not any(len(x) == difficulty + 1 for x in out):
                    raise self._no_problems(split, difficulty)
                live = [d for d in live if d != difficulty]
                continue  # the next difficulty now sits at position i
            out.append(nums)
            i += 1
        if len(out) < n:
            log.warning("arith: the %s split has only %d distinct problems of difficulties %s "
                        "with operands up to %d; using all %d (asked for %d)", split, len(out),
                        ", ".join(map(str, dict.fromkeys(levels))), self.max_operand, len(out), n)
        return out

    def _unique(self, difficulty: int, split: str, seed: int) -> Iterator[list[int]]:
        """The split's questions of one difficulty, each once, in a seeded random order.

        Small spaces are listed in full and shuffled, so "used up" is exact; larger ones are
        drawn by rejection and count as used up after 2,000 draws find nothing new.
        """
        rng = random.Random(f"arith:{split}:{seed}:{difficulty}")
        if self.max_operand ** (difficulty + 1) <= ENUMERATE_UP_TO:
            every = [list(nums) for nums in itertools.product(range(1, self.max_operand + 1),
                                                              repeat=difficulty + 1)
                     if split_of(_question(nums)) == split]
            rng.shuffle(every)
            yield from every
            return
        seen: set[str] = set()
        while (nums := self._draw(rng, difficulty, split, seen)) is not None:
            seen.add(_question(nums))
            yield nums

    def _draw(
        self, rng: random.Random, difficulty: int, split: str, avoid: set[str] | None
    ) -> list[int] | None:
        """Operands of one question of `split` not in `avoid`, by rejection; None if 2,000
        draws found none (the split is used up, or has no such question at all)."""
        for _ in range(2_000):
            nums = [rng.randint(1, self.max_operand) for _ in range(difficulty + 1)]
            question = _question(nums)
            if split_of(question) == split and (avoid is None or question not in avoid):
                return nums
        return None

    def problems(
        self, split: str, n: int, seed: int = 0, *, difficulties: Sequence[int] | None = None,
        distinct: bool | None = None,
    ) -> list[Problem]:
        """The trainer's and eval's entry point: `n` problems of `split` ("train", "test", ...);
        distinct ones for the held-out splits (see `generate`)."""
        return self.generate(n, seed, difficulties=difficulties, split=split, distinct=distinct)

    def problem_from_row(self, row: Any, index: int) -> Problem:
        """A JSONL row {"question", "answer", "difficulty"?}; the answer is derived if missing."""
        problem = super().problem_from_row(row, index)
        nums = operands(problem.prompt)
        return dataclasses.replace(
            problem,
            answer=str(sum(nums)) if problem.answer is None else problem.answer,
            meta={"difficulty": len(nums) - 1, **problem.meta},
        )

    # -- prompts ------------------------------------------------------------------------------
    def prompt(self, problem: Problem) -> str:
        """Just the question and a newline: no instruction (a character-level model reads every
        character, and the format is learned in the warm start)."""
        return f"{problem.prompt}\n"

    # -- answers ------------------------------------------------------------------------------
    def extract_answer(self, text: str) -> str | None:
        return last_boxed(answer_region(text))

    def parse_gold(self, answer: str | None) -> Any:
        if answer is None or not _INTEGER.fullmatch(answer.strip()):
            return None
        return int(answer.strip())

    def check(self, gold: Any, text: str) -> Verdict:
        """Exact integer match of the last \\boxed{} after </think> (no box: wrong).

        >>> t = ArithTask()
        >>> t.check(54, "<think>12+7=19 19+35=54</think>\\\\boxed{54}")
        (True, 'ok')
        >>> t.check(54, "<think>\\\\boxed{54}</think>no box"), t.check(54, "\\\\boxed{054}")
        ((False, 'ok'), (False, 'ok'))
        """
        predicted = self.extract_answer(text)
        if predicted is None or not _INTEGER.fullmatch(predicted):
            return False, "ok"
        return predicted == str(gold), "ok"


TASKS.register("arith")(ArithTask)


# ---------------------------------------------------------------------------------------------
# Warm-start traces

# Every verbose trace opens with "Let me": one first token carries all the verbose mass, so the
# warmed-up model's most likely (greedy) reply is verbose too, not only its samples.
_OPENERS = (
    "Let me add {names}.",
    "Let me work out {expr}.",
    "Let me see, the problem is {expr}.",
    "Let me restate it: we need {expr}.",
)
_CHECKS = (
    "Let me check: {a}+{b}={c}. Yes.",
    "Wait, let me verify: {a}+{b}={c}. Correct.",
    "Hmm, is {a}+{b} really {c}? {a}+{b}={c}. Yes.",
    "Let me make sure. {a}+{b}={c}. Right.",
)
_REDO = "Actually, let me redo that step. {step}."
_CLOSERS = ("So the answer is {c}.", "So the total is {c}.", "That gives {c}.")
_RECHECK_ALL = "Wait, let me go over it again. {chain}. Yes, {c}."


def _states(nums: Sequence[int]) -> list[list[int]]:
    """The expression after each addition: [12, 7, 35] -> [[12, 7, 35], [19, 35], [54]]."""
    out = [list(nums)]
    while len(out[-1]) > 1:
        head = out[-1]
        out.append([head[0] + head[1], *head[2:]])
    return out


def _expr(nums: Sequence[int]) -> str:
    return "+".join(map(str, nums))


def _question(nums: Sequence[int]) -> str:
    """The prompt of a problem: "3+4=?" (its id is `arith:` and the expression)."""
    return _expr(nums) + "=?"


def _step_texts(nums: Sequence[int]) -> list[str]:
    """One text per addition: "a+b=c", then the numbers still to add in parentheses.

    The two numbers sit right before "=", so the sum is computed from the last few tokens, and
    the parenthesised state carries what is left, so a tiny model never counts operands (both
    measured: this format learned fastest of four tried, docs/demo-model.md).

    >>> _step_texts([12, 7, 35])
    ['12+7=19 (19+35)', '19+35=54']
    """
    states = _states(nums)
    return [
        f"{a[0]}+{a[1]}={b[0]}" + (f" ({_expr(b)})" if len(b) > 1 else "")
        for a, b in zip(states, states[1:])
    ]


def concise_trace(question: str) -> str:
    """Only the needed steps, then the boxed answer.

    >>> concise_trace("12+7+35=?")
    '<think>12+7=19 (19+35) 19+35=54</think>\\\\boxed{54}'
    """
    nums = operands(question)
    return f"<think>{' '.join(_step_texts(nums))}</think>\\boxed{{{sum(nums)}}}"


def verbose_trace(question: str, rng: random.Random) -> str:
    """The same steps, one per line, padded with restating, re-checking and redoing (how much
    varies by `rng`). Every sentence is true, so the trace still ends at the gold answer.

    >>> print(verbose_trace("2+3+4=?", random.Random(2)))
    <think>Let me add 2, 3 and 4.
    2+3=5 (5+4).
    Hmm, is 2+3 really 5? 2+3=5. Yes.
    5+4=9.
    Hmm, is 5+4 really 9? 5+4=9. Yes.
    So the answer is 9.</think>\\boxed{9}
    """
    nums = operands(question)
    states = _states(nums)
    total = states[-1][0]
    names = ", ".join(map(str, nums[:-1])) + f" and {nums[-1]}"
    # How talkative this trace is: some check almost every step, others rarely.
    p_check = rng.uniform(0.3, 1.0)
    lines = [rng.choice(_OPENERS).format(expr=_expr(nums), names=names)]
    for before, step in zip(states, _step_texts(nums)):
        lines.append(step + ".")
        if rng.random() < p_check:
            lines.append(rng.choice(_CHECKS).format(a=before[0], b=before[1],
                                                    c=before[0] + before[1]))
        if rng.random() < 0.15:
            lines.append(_REDO.format(step=step))
    lines.append(rng.choice(_CLOSERS).format(c=total))
    if len(states) > 2 and rng.random() < 0.3:
        lines.append(_RECHECK_ALL.format(chain=" ".join(_step_texts(nums)), c=total))
    return "<think>" + "\n".join(lines) + f"</think>\\boxed{{{total}}}"


def warm_start_examples(
    problems: Sequence[Problem], *, verbose_fraction: float = 0.8, seed: int = 0
) -> list[tuple[str, str]]:
    """(prompt, completion) pairs for supervised warm start; about `verbose_fraction` verbose.

    Each problem gets one trace; whether it is verbose is drawn independently per problem.
    """
    if not 0.0 <= verbose_fraction <= 1.0:
        raise UserError(f"verbose_fraction must be in [0, 1], got {verbose_fraction}")
    task = ArithTask()
    rng = random.Random(f"arith-traces:{seed}")
    out = []
    for p in problems:
        if rng.random() < verbose_fraction:
            out.append((task.prompt(p), verbose_trace(p.prompt, rng)))
        else:
            out.append((task.prompt(p), concise_trace(p.prompt)))
    return out
