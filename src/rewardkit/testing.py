"""Helpers for tests, doctests and users' own reward tests: build groups without a model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardkit.tasks.base import Task
from rewardkit.types import Completion, Group, Problem


def make_group(
    lengths: Sequence[int] = (),
    correct: Sequence[bool | None] | None = None,
    *,
    texts: Sequence[str] | None = None,
    finish_reasons: Sequence[str] | None = None,
    max_new_tokens: int = 100,
    problem_id: str = "p0",
    answer: str | None = "42",
    task: str = "",
    meta: Mapping[str, Any] | None = None,
    logprobs: Sequence[Sequence[float]] | None = None,
    unconditional_logprobs: Sequence[Sequence[float]] | None = None,
    entropies: Sequence[Sequence[float]] | None = None,
    answers: Sequence[str | None] | None = None,
) -> Group:
    """A verified group with the given lengths and verdicts (texts default to "x" * length).

    Completions at or over `max_new_tokens` default to finish_reason "length". With `correct`
    given, the group is verified and `answers` defaults to what the base task extracts: the last
    \\boxed{} after </think> (None when there is none). Without `correct` it is unverified.

    >>> g = make_group(lengths=[10, 20], correct=[True, None])
    >>> g.lengths, g.correct, g.status, g.answers
    ([10, 20], (True, None), ('ok', 'error'), (None, None))
    >>> make_group(texts=["<think>\\\\boxed{1}</think> \\\\boxed{2}"], correct=[True]).answers
    ('2',)
    """
    if texts is not None and not lengths:
        lengths = [len(t.split()) for t in texts]
    n = len(lengths)
    texts = texts if texts is not None else ["x" * k for k in lengths]
    if finish_reasons is None:
        finish_reasons = ["length" if k >= max_new_tokens else "stop" for k in lengths]

    def per(seq: Sequence[Sequence[float]] | None, i: int) -> tuple[float, ...] | None:
        return tuple(seq[i]) if seq is not None else None

    completions = tuple(
        Completion(
            text=texts[i],
            num_tokens=int(lengths[i]),
            finish_reason=finish_reasons[i],
            logprobs=per(logprobs, i),
            unconditional_logprobs=per(unconditional_logprobs, i),
            entropies=per(entropies, i),
        )
        for i in range(n)
    )
    problem = Problem(id=problem_id, prompt="q", answer=answer, task=task, meta=dict(meta or {}))
    group = Group(problem, completions, max_new_tokens)
    if correct is None:
        return group
    status = ["ok" if c is not None else "error" for c in correct]
    if answers is None:
        answers = [Task().extract_answer(t) for t in texts]
    return group.with_verdicts(correct, status, answers)
