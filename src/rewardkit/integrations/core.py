"""What every engine adapter shares: flat samples -> whole groups -> verdicts -> rewards + state.

TRL, verl and OpenRLHF hand a reward function flat lists of completions; rewardkit's rewards need
whole groups (ARCHITECTURE §2). Each adapter turns its engine's batch into `Sample`s, forms groups
its own way (TRL: consecutive runs of `num_generations`; verl: equal `uid`; serve: equal prompt)
and calls `EngineScorer.score_batch`, which verifies every completion once through
`rewardkit.verify_groups` and replays `rewardkit score`'s semantics exactly: score the batch with
the state of earlier steps, then let stateful rewards (HAPO, LASER-D, ...) learn from it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardkit.errors import UserError
from rewardkit.rewards import RewardScorer, RewardSpec, parse_spec
from rewardkit.tasks.base import Task
from rewardkit.types import Completion, Group, Problem

RewardLike = str | RewardSpec | Mapping[str, Any]


@dataclass(frozen=True)
class Sample:
    """One completion as an engine sees it, with what rewardkit needs to group and judge it."""

    prompt: str
    text: str
    num_tokens: int
    finish_reason: str  # "stop" | "length"
    answer: str | None = None
    problem_id: str | None = None  # None: the prompt text identifies the problem
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scored:
    """Per-completion results of one batch, in the order of the samples given."""

    rewards: np.ndarray  # (N, K), NaN where a reward does not apply
    totals: np.ndarray  # (N,), weighted NaN-skipping sum
    correct: list[bool | None]
    status: list[str]
    labels: list[str]


def to_spec(reward: RewardLike) -> RewardSpec:
    """`"kimi_length:weight=0.4"`, a `RewardSpec`, or `{"name", "weight", "params"}`."""
    if isinstance(reward, RewardSpec):
        return reward
    if isinstance(reward, str):
        return parse_spec(reward)
    if isinstance(reward, Mapping):
        unknown = set(reward) - {"name", "weight", "params"}
        if unknown or "name" not in reward:
            raise UserError(f"reward {dict(reward)!r}: expected keys name, weight, params"
                            + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else ""))
        return RewardSpec(str(reward["name"]), float(reward.get("weight", 1.0)),
                          dict(reward.get("params", {})))
    raise UserError(f"reward {reward!r}: expected a spec string, RewardSpec or dict")


def resolve_task(task: str | Task) -> Task:
    if isinstance(task, Task):
        return task
    from rewardkit.tasks import get_task

    try:
        return get_task(task)
    except KeyError as e:
        raise UserError(f"task: {e}") from None


def groups_from_samples(samples: Sequence[Sample], keys: Sequence[Hashable], *,
                        max_new_tokens: int) -> tuple[list[Group], list[list[int]]]:
    """Samples with equal keys form one group, groups in order of first appearance.

    Returns the groups and, per group, the sample indices of its completions (to scatter the
    scores back).
    """
    order: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        order.setdefault(key, []).append(i)
    groups = []
    for members in order.values():
        first = samples[members[0]]
        problem = Problem(id=first.problem_id if first.problem_id is not None else first.prompt,
                          prompt=first.prompt, answer=first.answer, meta=dict(first.meta))
        completions = tuple(Completion(text=samples[i].text, num_tokens=samples[i].num_tokens,
                                       finish_reason=samples[i].finish_reason) for i in members)
        groups.append(Group(problem, completions, max_new_tokens))
    return groups, list(order.values())


def finish_reason(num_tokens: int, max_new_tokens: int, ended_with_eos: bool) -> str:
    """"length" when the budget was used up without an EOS token, else "stop".

    >>> finish_reason(8, 8, False), finish_reason(8, 8, True), finish_reason(5, 8, False)
    ('length', 'stop', 'stop')
    """
    return "length" if num_tokens >= max_new_tokens and not ended_with_eos else "stop"


class EngineScorer:
    """The task, the configured rewards and their state, shared by one adapter's callers."""

    def __init__(self, task: str | Task, rewards: Sequence[RewardLike], *,
                 timeout_s: float | None = None) -> None:
        self.task = resolve_task(task)
        self.scorer = RewardScorer([to_spec(r) for r in rewards])
        self.timeout_s = timeout_s
        self.steps_done = 0  # batches whose state update has run (saved with the state)

    @property
    def labels(self) -> list[str]:
        return self.scorer.labels

    @property
    def weights(self) -> list[float]:
        return [float(w) for w in self.scorer.weights]

    def verify(self, groups: Sequence[Group]) -> list[Group]:
        from rewardkit.verify import verify_groups

        return verify_groups(self.task, groups, timeout_s=self.timeout_s)

    def score_groups(self, groups: Sequence[Group], *, step: int | None = None,
                     learn: bool = True) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(G, K) rewards and (G,) totals per verified group; then the state update (`learn`).

        `step` defaults to the number of batches learned from so far (0-based, as in training).
        """
        step = self.steps_done if step is None else step
        scores = self.scorer.score(groups, step=step)  # P arrays of (G, K)
        totals = [self.scorer.total(s) for s in scores]  # P arrays of (G,); NaN: primary NaN
        if learn:
            self.learn(groups, step=step)
        return scores, totals

    def learn(self, groups: Sequence[Group], *, step: int | None = None) -> None:
        """Stateful rewards learn from these scored groups as one batch; the step count grows."""
        self.scorer.end_step(groups, step=self.steps_done if step is None else step)
        self.steps_done += 1

    def score_batch(self, samples: Sequence[Sample], keys: Sequence[Hashable], *,
                    max_new_tokens: int, step: int | None = None, learn: bool = True,
                    verified: Callable[[list[Group]], list[Group]] | None = None) -> Scored:
        """Group the samples by key, verify (or take `verified`'s verdicts), score, learn."""
        groups, members = groups_from_samples(samples, keys, max_new_tokens=max_new_tokens)
        groups = (verified or self.verify)(groups)
        scores, totals = self.score_groups(groups, step=step, learn=learn)
        n, k = len(samples), len(self.labels)
        rewards, total = np.full((n, k), np.nan), np.full(n, np.nan)
        correct: list[bool | None] = [None] * n
        status = ["unverified"] * n
        for group, idx, s, t in zip(groups, members, scores, totals):
            rewards[idx], total[idx] = s, t
            for j, i in enumerate(idx):
                correct[i], status[i] = group.correct[j], group.status[j]
        return Scored(rewards, total, correct, status, list(self.labels))

    def state_dict(self) -> dict[str, Any]:
        return {"rewards": self.scorer.state_dict(), "steps_done": self.steps_done}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Accepts this class's state or a bare reward state (`rewardkit score --save-state`)."""
        if "rewards" in state and "steps_done" in state:
            self.scorer.load_state_dict(state["rewards"])
            self.steps_done = int(state["steps_done"])
        else:
            self.scorer.load_state_dict(state)
