"""`reasoning_gym:<name>`: reasoning-gym's procedural tasks, judged by reasoning-gym's own scorers.

    task: reasoning_gym:basic_arithmetic              # one generator
    task_params: {min_terms: 2, max_terms: 3}         # its config (reasoning-gym's dataclass)

    task: reasoning_gym:chain_sum=2,leg_counting=1    # a weighted mix
    task_params: {chain_sum: {max_terms: 4}}          # one config per generator, by name

Needs the optional extra `pip install 'rewardkit[tasks]'` (PyPI `reasoning-gym`); generation and
scoring are local (no network).

Problems: item `i` of a split draws its generator (weights above) and its entry from
reasoning-gym with seeds mixed from the run's seed, `i` and a redraw counter `k`, and keeps the
first draw whose question text hashes into the split (one bucket in `EVAL_BUCKETS` is `test`, the
rest `train`). Same seed, same problems; and a question text belongs to exactly one split, so
train and eval never share a problem, even for generators with small problem spaces.

Verdicts: the answer is the last `\\boxed{}` after `</think>`, else the last `<answer>...</answer>`
(reasoning-gym's own tag), else None; reasoning-gym's `score_answer(answer, entry)` then runs in
the verification pool (rewardkit.verify: deadline, statuses; a scorer that raises gives status
"error"). Its float score (in [0, 1], partial credit included) is `Group.scores` and the reward
`task_score`; the verdict is `score >= 1` (reasoning-gym's full credit). `meta["difficulty"]` is
the entry's values of the settings its generator grades difficulty by, e.g. "num_terms=4".
Generators whose entries have no single gold answer (`answer` is None: boxnet, graph_color,
propositional_logic, rubiks_cube, rush_hour in reasoning-gym 0.1.25) are judged the same way:
their `score_answer` checks the reply's validity itself.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rewardkit.errors import UserError
from rewardkit.tasks.base import Defer, Task, answer_region, last_boxed
from rewardkit.types import Problem

PREFIX = "reasoning_gym:"
EVAL_BUCKETS = 8  # one question text in 8 belongs to the test split
MAX_REDRAWS = 64  # draws per item before giving up (a generator with too few distinct problems)
DEFAULT_TRAIN_SIZE = 10_000
EXTRA = "pip install 'rewardkit[tasks]'"
_ANSWER_TAG = re.compile(r"<answer>\s?(.*?)\s?</answer>", re.DOTALL)
_WEIGHTED = re.compile(r"([A-Za-z0-9_]+)(?:=([0-9.eE+-]+))?")


def is_reasoning_gym(name: str) -> bool:
    return name.startswith(PREFIX)


def _reasoning_gym() -> Any:
    try:
        import reasoning_gym
    except ImportError:
        raise UserError(f"reasoning-gym tasks need the optional extra: {EXTRA}") from None
    return reasoning_gym


def parse_mix(spec: str) -> dict[str, float]:
    """`reasoning_gym:a=2,b` -> {generator: weight}; a missing weight is 1.

    >>> parse_mix("reasoning_gym:chain_sum=2,leg_counting")
    {'chain_sum': 2.0, 'leg_counting': 1.0}
    """
    body = spec[len(PREFIX):] if is_reasoning_gym(spec) else spec
    weights: dict[str, float] = {}
    for part in body.split(","):
        m = _WEIGHTED.fullmatch(part.strip())
        if m is None:
            raise UserError(f"task {spec!r}: expected reasoning_gym:NAME or "
                            f"reasoning_gym:NAME=WEIGHT,NAME=WEIGHT, got {part!r}")
        try:
            weight = float(m[2]) if m[2] else 1.0
        except ValueError:
            weight = -1.0
        if not weight > 0 or m[1] in weights:
            raise UserError(f"task {spec!r}: {part!r} needs a positive weight, once per name")
        weights[m[1]] = weight
    return weights


def split_of(question: str) -> str:
    """'test' for one question text in EVAL_BUCKETS (by a stable hash), else 'train'."""
    digest = hashlib.blake2b(question.encode("utf-8"), digest_size=8).digest()
    return "test" if int.from_bytes(digest, "big") % EVAL_BUCKETS == 0 else "train"


def _mixed_seed(*parts: int | str) -> int:
    """A 32-bit seed from integers and names (reasoning-gym adds the item index to it)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


_SCORERS: dict[str, Any] = {}  # per process: (generator, config) -> dataset used for scoring


def _scorer(name: str, config: Mapping[str, Any]) -> Any:
    key = json.dumps([name, config], sort_keys=True)
    if key not in _SCORERS:  # size 1: scoring reads the entry, never the dataset's own items
        _SCORERS[key] = _reasoning_gym().create_dataset(name, seed=0, size=1, **config)
    return _SCORERS[key]


def difficulty_label(metadata: Mapping[str, Any]) -> str | None:
    """The entry's own values of the settings its generator grades difficulty by (the keys of
    `metadata["difficulty"]`, whose values are the config's ranges), as one label; None where the
    generator exposes none.

    >>> difficulty_label({"num_terms": 4, "num_digits": 1,
    ...                   "difficulty": {"num_terms": (2, 6), "num_digits": (1, 4)}})
    'num_digits=1 num_terms=4'
    """
    ranges = metadata.get("difficulty")
    if not isinstance(ranges, Mapping):
        return None
    values = {k: metadata[k] for k in sorted(ranges)
              if isinstance(metadata.get(k), (int, float, str))}
    return " ".join(f"{k}={v}" for k, v in values.items()) or None


class ReasoningGymTask(Task):
    """A reasoning-gym generator (or a weighted mix) as a rewardkit task; see the module doc."""

    prompt_key = "question"

    def __init__(self, spec: str, params: Mapping[str, Any] | None = None) -> None:
        params = dict(params or {})
        super().__init__(instruction=params.pop("instruction", None),
                         system_prompt=params.pop("system_prompt", None))
        known = generators()  # needs the extra: a UserError without it
        self.name = spec
        self.weights = parse_mix(spec)
        self.train_size = int(params.pop("size", DEFAULT_TRAIN_SIZE))
        if self.train_size < 1:
            raise UserError(f"task_params.size must be at least 1, got {self.train_size}")
        unknown = [n for n in self.weights if n not in known]
        if unknown:
            raise UserError(f"task {spec!r}: unknown reasoning-gym generator {unknown[0]!r}; "
                            f"known: {', '.join(known)}")
        if len(self.weights) == 1:
            self.configs = {next(iter(self.weights)): params}
        else:
            extra = sorted(set(params) - set(self.weights))
            if extra:
                raise UserError(f"task_params.{extra[0]}: a mix takes one mapping per generator "
                                f"({', '.join(self.weights)})")
            self.configs = {name: dict(params.get(name) or {}) for name in self.weights}
        for name, config in self.configs.items():
            self._check_config(name, config)
        self._datasets: dict[tuple[str, int, int, int], Any] = {}

    @staticmethod
    def _check_config(name: str, config: Mapping[str, Any]) -> None:
        if "seed" in config:
            raise UserError(f"task_params: {name}: 'seed' comes from the run's seed")
        import dataclasses

        fields = [f.name for f in dataclasses.fields(_reasoning_gym().factory.DATASETS[name][1])]
        unknown = sorted(set(config) - set(fields))
        if unknown:
            raise UserError(f"task_params: reasoning-gym {name} has no setting {unknown[0]!r}; "
                            f"it has: {', '.join(f for f in fields if f not in ('seed', 'size'))}")
        try:
            _scorer(name, config)
        except (TypeError, ValueError, AssertionError) as e:
            raise UserError(f"task_params: reasoning-gym {name}: {e}") from None

    def __getstate__(self) -> dict[str, Any]:  # datasets stay behind when sent to a worker
        return {k: v for k, v in vars(self).items() if k != "_datasets"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state, _datasets={})

    def cache_id(self) -> str:
        return f"{PREFIX}{json.dumps([self.weights, self.configs], sort_keys=True)}"

    # -- problems -----------------------------------------------------------------------------
    def _dataset(self, name: str, seed: int, draw: int, size: int) -> Any:
        key = (name, seed, draw, size)
        if key not in self._datasets:
            self._datasets[key] = _reasoning_gym().create_dataset(
                name, seed=_mixed_seed(seed, draw, name), size=size,
                **self.configs[name])
        return self._datasets[key]

    def _entry(self, split: str, index: int, size: int, seed: int) -> tuple[str, dict]:
        names, weights = list(self.weights), list(self.weights.values())
        for draw in range(MAX_REDRAWS):
            name = random.Random(_mixed_seed(seed, draw, index)).choices(names, weights)[0]
            entry = self._dataset(name, seed, draw, size)[index]
            if split_of(entry["question"]) == split:
                return name, entry
        raise UserError(f"task {self.name!r}: no {split} problem #{index} in {MAX_REDRAWS} draws; "
                        f"the generator makes too few distinct problems to split (widen its "
                        f"task_params)")

    def problems(self, split: str, n: int, seed: int) -> Iterator[Problem]:
        """`n` problems of `split` ("train" at most `task_params.size`, default 10,000)."""
        split = "test" if split != "train" else "train"
        size = min(n, self.train_size) if split == "train" else n
        for i in range(size):
            name, entry = self._entry(split, i, size, seed)
            metadata = entry.get("metadata") or {}
            answer = entry.get("answer")
            yield Problem(
                id=f"{split}-{i}", prompt=entry["question"],
                answer=None if answer is None else str(answer), task=self.name,
                meta={"generator": name, "difficulty": difficulty_label(metadata),
                      "entry": json.dumps({"dataset": name, "entry": entry})})

    # -- verdicts -----------------------------------------------------------------------------
    def gold_answer(self, problem: Problem) -> str | None:
        """The whole entry (question, answer, metadata): reasoning-gym's scorers read all of it.
        A problem from elsewhere (a rollouts file for `rewardkit score`) without `meta.entry` but
        with an answer, for a single generator, is scored as the entry {question, answer} with no
        metadata (a scorer that needs metadata then raises: status "error")."""
        if problem.meta and problem.meta.get("entry"):
            return problem.meta["entry"]
        if problem.answer is None or len(self.weights) != 1:
            return None
        entry = {"question": problem.prompt, "answer": problem.answer, "metadata": {}}
        return json.dumps({"dataset": next(iter(self.weights)), "entry": entry})

    def extract_answer(self, text: str) -> str | None:
        region = answer_region(text)
        boxed = last_boxed(region)
        if boxed is not None:
            return boxed
        tags = _ANSWER_TAG.findall(region)
        return tags[-1].strip() if tags else None

    def triage(self, gold: Any, text: str) -> tuple[str | None, Defer]:
        answer = self.extract_answer(text)
        return answer, Defer(json.dumps(answer))  # every verdict is reasoning-gym's, in a worker

    def decide(self, gold_answer: str, key: str) -> tuple[bool, str, float]:
        gold = json.loads(gold_answer)
        name = gold["dataset"]
        score = score_answer(name, self.configs.get(name, {}), json.loads(key), gold["entry"])
        return score >= 1.0, "ok", score


def score_answer(name: str, config: Mapping[str, Any], answer: str | None, entry: dict) -> float:
    """reasoning-gym's `score_answer` of generator `name`; raises unless it gives a number in
    [0, 1] (the pool turns a raise into status "error")."""
    score = float(_scorer(name, config).score_answer(answer, entry))
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"{name}.score_answer gave {score}, outside [0, 1]")
    return score


def generators() -> Sequence[str]:
    """Names reasoning-gym registers (needs the extra)."""
    return sorted(set(_reasoning_gym().factory.DATASETS) - {"composite"})
