"""The data every part of rewardkit passes around: a problem, its completions, and the group.

The group is the unit (ARCHITECTURE §2): every reward and advantage estimator sees all G
completions of one prompt together, with token counts and whether each was cut off. These are
plain frozen dataclasses with no torch import, so scoring runs in light worker processes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FINISH_REASONS = ("stop", "length")
VERIFY_STATUSES = ("ok", "timeout", "error", "unparseable_gold", "unverified")


@dataclass(frozen=True)
class Problem:
    """One prompt with its gold answer. `meta` holds other dataset columns (difficulty, ...)."""

    id: str
    prompt: str
    answer: str | None = None
    task: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Completion:
    """One sampled reply. `num_tokens` counts policy tokens, never characters.

    The optional per-token fields are filled by samplers that can (rewards such as `sar` and
    `pear` need them): `logprobs` are log P(a_j | q, a_<j), `unconditional_logprobs` the same
    tokens scored without the question, `entropies` the policy's entropy at each position.
    """

    text: str
    num_tokens: int
    finish_reason: str = "stop"  # "stop" (EOS / stop string) or "length" (hit max_new_tokens)
    token_ids: tuple[int, ...] | None = None
    logprobs: tuple[float, ...] | None = None
    unconditional_logprobs: tuple[float, ...] | None = None
    entropies: tuple[float, ...] | None = None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass(frozen=True)
class Group:
    """All G completions sampled for one problem: what every reward sees.

    `correct` has one entry per completion once the task's verifier has run (`None` = could not
    judge: timeout, unparseable gold, sandbox error); `status` says why, per completion;
    `answers` is the final answer the task's extractor found in each reply (`None`: none found),
    so rewards and metrics read the verifier's extraction instead of redoing it; `scores` is the
    task's graded score of each reply where its checker grades (reasoning-gym's `score_answer`,
    in [0, 1]; `None` = could not judge), empty for tasks that only say right or wrong.
    """

    problem: Problem
    completions: tuple[Completion, ...]
    max_new_tokens: int
    correct: tuple[bool | None, ...] = ()
    status: tuple[str, ...] = ()
    answers: tuple[str | None, ...] = ()
    scores: tuple[float | None, ...] = ()

    def __post_init__(self) -> None:
        # Accept lists from callers but store tuples, so a Group stays immutable and hashable-ish.
        object.__setattr__(self, "completions", tuple(self.completions))
        object.__setattr__(self, "correct", tuple(self.correct))
        object.__setattr__(self, "status", tuple(self.status))
        object.__setattr__(self, "answers", tuple(self.answers))
        object.__setattr__(self, "scores", tuple(self.scores))
        if self.correct and len(self.correct) != len(self.completions):
            raise ValueError(
                f"group {self.problem.id!r}: {len(self.correct)} verdicts for "
                f"{len(self.completions)} completions"
            )

    def __len__(self) -> int:
        return len(self.completions)

    @property
    def lengths(self) -> list[int]:
        return [c.num_tokens for c in self.completions]

    @property
    def verified(self) -> bool:
        return len(self.correct) == len(self.completions)

    def with_verdicts(self, correct: Sequence[bool | None], status: Sequence[str],
                      answers: Sequence[str | None] = (),
                      scores: Sequence[float | None] = ()) -> Group:
        """A copy carrying the verifier's verdicts (the group itself is never mutated)."""
        return dataclasses.replace(self, correct=tuple(correct), status=tuple(status),
                                   answers=tuple(answers), scores=tuple(scores))
