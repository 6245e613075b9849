"""Saved rollouts as JSONL, one group per line (the `rewardkit score` format, ARCHITECTURE §5).

    {"id": "q1", "prompt": "...", "answer": "42", "max_new_tokens": 4096, "step": 0, "meta": {},
     "completions": [{"text": "...", "num_tokens": 812, "finish_reason": "stop"}, ...]}

`id`, `step` (0-based, default 0), `meta` and `answer` are optional; `max_new_tokens` (the
sampling budget) is required, since length rewards measure against it. A completion's
`finish_reason` ("stop" or "length") may be left out only when `num_tokens < max_new_tokens`
(then it is "stop"): a reply that reached the budget may have ended with EOS on its last allowed
token or been cut off, and only the sampler knows which. Every mistake is a UserError naming the
file, line and key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardkit.errors import UserError
from rewardkit.types import FINISH_REASONS, Completion, Group, Problem


@dataclass(frozen=True)
class Record:
    """One input line: the group, its step, and the raw object (echoed back in the output)."""

    group: Group
    step: int
    raw: dict[str, Any]
    where: str


def read_rollouts(path: str | Path, *, task: str = "") -> Iterator[Record]:
    path = Path(path)
    if not path.is_file():
        raise UserError("no such file", where=str(path))
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                where = f"{path}:{lineno}"
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as e:
                    msg = f"invalid JSON ({e.msg}, column {e.colno})"
                    raise UserError(msg, where=where) from None
                yield parse_record(raw, where=where, index=lineno, task=task)


def parse_record(raw: Any, *, where: str, index: int, task: str = "") -> Record:
    def need(obj: dict, key: str, types: type | tuple, prefix: str = "") -> Any:
        if key not in obj:
            raise UserError(f"missing key {prefix + key!r}", where=where)
        return check(obj, key, types, prefix)

    def check(obj: dict, key: str, types: type | tuple, prefix: str = "") -> Any:
        value = obj[key]
        if not isinstance(value, types) or isinstance(value, bool) and bool not in _tuple(types):
            names = "/".join(t.__name__ for t in _tuple(types))
            msg = f"key {prefix + key!r}: expected {names}, got {value!r:.60}"
            raise UserError(msg, where=where)
        return value

    if not isinstance(raw, dict):
        raise UserError("expected a JSON object (one group per line)", where=where)
    prompt = need(raw, "prompt", str)
    items = need(raw, "completions", list)
    if not items:
        raise UserError("key 'completions': empty list", where=where)
    max_new = need(raw, "max_new_tokens", int)
    if max_new < 1:
        raise UserError(f"key 'max_new_tokens': must be >= 1, got {max_new}", where=where)
    completions = []
    for i, item in enumerate(items):
        prefix = f"completions[{i}]."
        if not isinstance(item, dict):
            raise UserError(f"key 'completions[{i}]': expected an object", where=where)
        text = need(item, "text", str, prefix)
        num_tokens = need(item, "num_tokens", int, prefix)
        if num_tokens < 0:
            raise UserError(f"key '{prefix}num_tokens': must be >= 0", where=where)
        finish = check(item, "finish_reason", str, prefix) if "finish_reason" in item else None
        if finish is None:
            if num_tokens >= max_new:  # EOS on the last allowed token, or cut off: unknowable
                raise UserError(f"key '{prefix}finish_reason': required when num_tokens "
                                f"({num_tokens}) reaches max_new_tokens ({max_new}); give "
                                "\"stop\" (ended with EOS) or \"length\" (cut off)", where=where)
            finish = "stop"
        if finish not in FINISH_REASONS:
            raise UserError(f"key '{prefix}finish_reason': expected one of {FINISH_REASONS}, "
                            f"got {finish!r}", where=where)
        completions.append(Completion(text=text, num_tokens=num_tokens, finish_reason=finish))
    answer = raw.get("answer")
    meta = check(raw, "meta", dict) if "meta" in raw else {}
    problem = Problem(
        id=str(raw.get("id", index)),
        prompt=prompt,
        answer=None if answer is None else str(answer),
        task=task,
        meta=meta,
    )
    step = check(raw, "step", int) if "step" in raw else 0
    return Record(Group(problem, tuple(completions), max_new), step, raw, where)


def _tuple(types: type | tuple) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def batches_by_step(records: Iterable[Record]) -> Iterator[list[Record]]:
    """Consecutive records with the same `step` form one batch; steps may not go backwards."""
    batch: list[Record] = []
    for rec in records:
        if batch and rec.step != batch[-1].step:
            if rec.step < batch[-1].step:
                raise UserError(
                    f"key 'step': {rec.step} after step {batch[-1].step}; lines must be in step "
                    "order (stateful rewards carry state forward)",
                    where=rec.where,
                )
            yield batch
            batch = []
        batch.append(rec)
    if batch:
        yield batch
