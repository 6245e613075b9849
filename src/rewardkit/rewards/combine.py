"""Composition: several rewards over a batch of groups, a NaN-aware weighted total, carried state.

    scorer = RewardScorer([RewardSpec("accuracy"), RewardSpec("kimi_length", weight=0.4)])
    scores = scorer.score(groups, step=0)    # list of (G, K) arrays, one per group
    totals = [scorer.total(s) for s in scores]
    scorer.end_step(groups, step=0)          # stateful rewards learn from this step

Per-reward columns are kept so the trainer and `score` can log each one by name.

The trainer scores in two phases, so that a `@batch_level` reward sees the batch it trains on:
`score_groups` while collecting (per-group rewards, needed by dynamic sampling; batch-level
columns NaN), then `score_batch_level` once over the finished, gathered batch. `score` is the
two phases over one batch, which is what `rewardkit score` does with each step of a file.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardkit.errors import UserError
from rewardkit.registry import REWARDS, UnknownName
from rewardkit.rewards.base import RewardContext
from rewardkit.types import Group, Problem


@dataclass(frozen=True)
class RewardSpec:
    """A configured reward: registered name (or dotted path), weight in the total, parameters,
    and whether it is primary (None: the reward's own mark, `@primary` in rewards/base.py)."""

    name: str
    weight: float = 1.0
    params: Mapping[str, Any] = field(default_factory=dict)
    primary: bool | None = None


def parse_spec(text: str) -> RewardSpec:
    """`NAME` or `NAME:key=value,key=value`; values are JSON scalars, `weight` is the weight and
    `primary` (true/false) overrides whether a NaN of this reward makes the total NaN.

    >>> parse_spec("dapo_overlong:buffer=256,weight=0.5")
    RewardSpec(name='dapo_overlong', weight=0.5, params={'buffer': 256}, primary=None)
    >>> parse_spec("format:primary=true").primary
    True
    """
    name, _, rest = text.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise UserError(f"bad reward spec {text!r}: expected key=value, got {item!r}")
        params[key.strip()] = _json_scalar(raw.strip())
    weight = params.pop("weight", 1.0)
    if not isinstance(weight, (int, float)) or isinstance(weight, bool):
        raise UserError(f"bad reward spec {text!r}: weight must be a number, got {weight!r}")
    primary = params.pop("primary", None)
    if primary is not None and not isinstance(primary, bool):
        raise UserError(f"bad reward spec {text!r}: primary must be true or false, got {primary!r}")
    return RewardSpec(name.strip(), float(weight), params, primary)


def _json_scalar(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw  # a bare word such as mode=linear


def bind_reward(spec: RewardSpec) -> Callable[..., list[float]]:
    """Look the reward up and check it now, not at the first scored group: its parameter names
    (bound with `ctx=None`, as the scorer calls it), then its values, by running it (and its
    state update) once on a small synthetic group. A reward reports a bad value by raising
    `UserError`; any other exception on the synthetic group is left for real data to show,
    since a user's reward may need fields the synthetic group lacks."""
    try:
        fn = REWARDS.get(spec.name)
    except UnknownName as e:
        raise UserError(str(e)) from None
    _check_signature(spec, fn)
    _try_on_synthetic_group(spec, fn)
    return fn


def _check_signature(spec: RewardSpec, fn: Callable) -> None:
    params = inspect.signature(fn).parameters
    if "ctx" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise UserError(f"reward {spec.name!r}: add a keyword parameter ctx=None (the scorer "
                        "passes the step, batch and state as ctx)")
    try:
        inspect.signature(fn).bind(None, **spec.params, ctx=None)
    except TypeError as e:
        accepted = [
            p.name
            for p in list(params.values())[1:]
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "ctx"
        ]
        raise UserError(
            f"reward {spec.name!r}: {e}; its parameters are: {', '.join(accepted) or 'none'}"
        ) from None


def _try_on_synthetic_group(spec: RewardSpec, fn: Callable) -> None:
    group = synthetic_group()
    batch = (group,)
    try:
        fn(group, **spec.params, ctx=RewardContext(0, batch, {}))
        update = getattr(fn, "update_state", None)
        if update is not None:
            update({}, batch, step=0, **spec.params)
    except UserError as e:
        raise UserError(e.message if spec.name in e.message else
                        f"reward {spec.name!r}: {e.message}") from None
    except Exception:  # noqa: BLE001  (not a parameter error: real data decides)
        return


def synthetic_group() -> Group:
    """A verified group of two replies (correct, wrong) with every optional field set, so each
    built-in reward can run on it: think blocks and \\boxed answers, a `meta.target_tokens`, a
    tool-call gold, per-token log-probs and entropies."""
    from rewardkit.testing import make_group

    call = '{"name": "f", "parameters": {"x": 1}}'
    return make_group(
        lengths=[4, 6],
        correct=[True, False],
        texts=[f"<think>a</think>\n<tool_call>\n{call}\n</tool_call> \\boxed{{1}}",
               "<think>b b</think> \\boxed{2}"],
        max_new_tokens=8,
        answer=f"[{call}]",
        meta={"target_tokens": 4},
        logprobs=[[-0.5] * 4, [-1.0] * 6],
        unconditional_logprobs=[[-1.0] * 4, [-1.0] * 6],
        entropies=[[0.5] * 4, [1.0] * 6],
    )


def total_reward(scores: np.ndarray, weights: np.ndarray,
                 primary: np.ndarray | None = None) -> np.ndarray:
    """Weighted sum over rewards that skips NaN, (..., K) -> (...). All-NaN rows stay NaN, and so
    does a row with NaN in a `primary` column (K bools): an unjudged completion is not trained on
    its other terms.

    >>> s = np.array([[1.0, 0.5], [np.nan, -1.0], [np.nan, np.nan]])
    >>> total_reward(s, np.array([1.0, 0.4]))  # 1 + 0.4*0.5; 0.4*-1
    array([ 1.2, -0.4,  nan])
    >>> total_reward(s, np.array([1.0, 0.4]), primary=np.array([True, False]))
    array([1.2, nan, nan])
    """
    scores = np.asarray(scores, dtype=np.float64)
    total = np.nansum(scores * weights, axis=-1)
    unscored = np.isnan(scores).all(axis=-1)
    if primary is not None:
        unscored |= (np.isnan(scores) & np.asarray(primary, dtype=bool)).any(axis=-1)
    return np.where(unscored, np.nan, total)


class RewardScorer:
    """Scores batches with a fixed list of rewards and carries the state of those with memory."""

    def __init__(self, specs: Sequence[RewardSpec]) -> None:
        if not specs:
            raise UserError("no reward given (e.g. --reward accuracy)")
        self.specs = list(specs)
        self.fns = [bind_reward(s) for s in self.specs]
        self.labels = _unique_labels([s.name for s in self.specs])
        self.weights = np.array([s.weight for s in self.specs], dtype=np.float64)  # (K,)
        self.primary = np.array([bool(getattr(fn, "primary", False)) if s.primary is None
                                 else s.primary for s, fn in zip(self.specs, self.fns)])  # (K,)
        self.batch_level = np.array([bool(getattr(fn, "batch_level", False))
                                     for fn in self.fns])  # (K,)
        # Per-token Completion fields some reward reads (the trainer provides exactly these).
        self.needs = frozenset().union(*(getattr(fn, "needs", ()) for fn in self.fns))
        self.state: dict[str, dict] = {}

    def score(self, groups: Sequence[Group], *, step: int) -> list[np.ndarray]:
        """One (G, K) array per group: column k is reward k, NaN where it does not apply.
        `groups` is one batch: batch-level rewards compare these groups with each other."""
        return self.score_batch_level(groups, self.score_groups(groups, step=step), step=step)

    def score_groups(self, groups: Sequence[Group], *, step: int) -> list[np.ndarray]:
        """Like `score`, but the batch-level columns are left NaN (`score_batch_level` fills
        them): what the trainer can compute before the step's batch is complete."""
        cols = [k for k, b in enumerate(self.batch_level) if not b]
        return self._score(groups, cols, step,
                           [np.full((len(g), len(self.specs)), np.nan) for g in groups])

    def score_batch_level(self, groups: Sequence[Group], scores: Sequence[np.ndarray], *,
                          step: int) -> list[np.ndarray]:
        """Copies of `scores` with the batch-level columns computed over `groups` as the batch."""
        cols = [k for k, b in enumerate(self.batch_level) if b]
        return self._score(groups, cols, step, [np.array(s, dtype=np.float64) for s in scores])

    def total(self, scores: np.ndarray) -> np.ndarray:
        """The weighted total of (..., K) scores, NaN where a primary reward is NaN."""
        return total_reward(scores, self.weights, self.primary)

    def group_total(self, scores: np.ndarray) -> np.ndarray:
        """The total over the per-group rewards only: what dynamic sampling sees while the
        batch-level columns are still NaN."""
        per_group = ~self.batch_level
        return total_reward(np.asarray(scores)[..., per_group], self.weights[per_group],
                            self.primary[per_group])

    def _score(self, groups: Sequence[Group], cols: Sequence[int], step: int,
               out: list[np.ndarray]) -> list[np.ndarray]:
        """Write rewards `cols` of every group into `out` (one (G, K) array per group)."""
        batch = tuple(groups)
        for k in cols:
            spec, fn = self.specs[k], self.fns[k]
            ctx = RewardContext(step, batch, self.state.get(self.labels[k], {}))
            for group, scores in zip(batch, out):
                values = fn(group, **spec.params, ctx=ctx)
                if len(values) != len(group):
                    raise RuntimeError(f"reward {spec.name!r} returned {len(values)} values "
                                       f"for a group of {len(group)}")
                scores[:, k] = np.asarray(values, dtype=np.float64)
        return out

    def check_problem(self, problem: Problem, *, where: str) -> None:
        """Run every reward once on the synthetic group's replies to a real `problem` (its
        answer and meta), so that a reward that needs something the data lacks (`l1_exact`
        without `meta.target_tokens`) says so before a model loads, not at the first step.
        As in `bind_reward`, only `UserError` counts; `where` names the data in the message.
        """
        group = dataclasses.replace(synthetic_group(), problem=problem)
        batch = (group,)
        for spec, fn in zip(self.specs, self.fns):
            try:
                fn(group, **spec.params, ctx=RewardContext(0, batch, {}))
            except UserError as e:
                raise e.at(where) from None
            except Exception:  # noqa: BLE001  (the synthetic replies may be at fault)
                continue

    def end_step(self, groups: Sequence[Group], *, step: int) -> None:
        """Let stateful rewards learn from this step's scored batch (after, never during)."""
        for spec, fn, label in zip(self.specs, self.fns, self.labels):
            update = getattr(fn, "update_state", None)
            if update is not None:
                self.state[label] = update(
                    self.state.get(label, {}), tuple(groups), step=step, **spec.params
                )

    def state_dict(self) -> dict[str, dict]:
        return json.loads(json.dumps(self.state))  # a deep copy that proves it is plain JSON

    def load_state_dict(self, state: Mapping[str, dict]) -> None:
        self.state = json.loads(json.dumps(dict(state)))


def _unique_labels(names: Sequence[str]) -> list[str]:
    """Column names: the reward name, with #2, #3... when a reward is configured twice."""
    seen: dict[str, int] = {}
    labels = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return labels


def nan_to_none(x: float) -> float | None:
    """JSON has no NaN: rewards that do not apply are written as null."""
    return None if math.isnan(x) else float(x)
