"""`verify_groups`: verdicts for a whole batch of groups, with a deadline per completion.

For each group the gold is parsed once (`Task.parse_gold`, in the caller's process); each reply
is then triaged in the caller's process (`Task.triage`: extraction and exact fast paths such as
plain numbers, linear time on any input). Only what needs a slow checker (math-verify/sympy) is
deferred: identical (task, gold, key) pairs are decided once per batch, looked up in a bounded
LRU cache shared across calls, and the rest run in the worker pool (`pool.py`) with a wall-clock
deadline each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from rewardkit.tasks.base import Defer, Task, Verdict
from rewardkit.types import Group
from rewardkit.verify import worker
from rewardkit.verify.cache import VerdictCache
from rewardkit.verify.pool import POOL

CACHE = VerdictCache(100_000)

Slot = tuple[int, int]  # (group index, completion index)


def configure(*, workers: int | None = None, timeout_s: float | None = None,
              memory_mb: int | None = None, cache_size: int | None = None) -> None:
    """Set the shared pool's size, the default deadline per completion, each worker's memory cap
    and the cache's capacity; unset arguments keep their values. A changed pool size or memory
    cap takes effect at the next call (the pool restarts)."""
    from rewardkit.errors import UserError

    for key, value in (("workers", workers), ("timeout_s", timeout_s),
                       ("memory_mb", memory_mb), ("cache_size", cache_size)):
        if value is not None and not value > 0:
            raise UserError(f"verify.{key} must be > 0, got {value!r}")
    if workers is not None:
        POOL.workers = int(workers)
    if timeout_s is not None:
        POOL.timeout_s = float(timeout_s)
    if memory_mb is not None:
        POOL.memory_mb = int(memory_mb)
    if cache_size is not None:
        CACHE.capacity = int(cache_size)


def _resolve(task: str | Task) -> Task:
    if isinstance(task, Task):
        return task
    from rewardkit.tasks import get_task

    return get_task(task)


def _safely(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:  # a verifier bug or a hostile string must not stop training
        return None


def _triage(task: Task, gold: Any, text: str) -> tuple[str | None, Verdict | Defer]:
    """`task.triage` of one reply, with a missing gold and a raising task as statuses."""
    if gold is None:
        return _safely(task.extract_answer, text), (None, "unparseable_gold")
    triaged = _safely(task.triage, gold, text)
    return triaged if triaged is not None else (None, (None, "error"))


def verify_groups(task: str | Task, groups: Sequence[Group], *,
                  timeout_s: float | None = None) -> list[Group]:
    """The groups with `correct`, `status` and `answers` filled, one entry per completion.

    `task` is a registered task name ("math", "gsm8k", ...) or a `Task`. Statuses: "ok";
    "timeout" (the check ran past `timeout_s`, default `configure(timeout_s=...)`, 5 s; its
    worker was killed and replaced); "error" (the check raised or its worker died, e.g. under
    the memory cap); "unparseable_gold". Every status but "ok" comes with `correct=None`.

    Callable from any thread and from code running inside an asyncio loop (it blocks that
    thread while the batch runs; `averify_groups` awaits instead). All callers in a process share
    one pool of worker processes, started on first need (tasks that never defer a check never
    start it) and sized by `configure(workers=...)` (default: this machine's cores). The pool is
    stopped at interpreter exit, also after Ctrl-C (workers ignore SIGINT and are killed by the
    exit handlers); if the caller is killed outright, the workers' forkserver exits and the
    kernel kills the workers with it. `shutdown()` stops the pool earlier.
    """
    task = _resolve(task)
    start_workers(task)  # while the batch is triaged here
    task_id = task.cache_id()
    verdicts: list[list[Verdict | None]] = []
    answers: list[list[str | None]] = []
    waiting: dict[tuple[str, str, str], list[Slot]] = {}
    for g, group in enumerate(groups):
        gold_answer = task.gold_answer(group.problem)
        gold = _safely(task.gold_of, group.problem)
        row_verdicts: list[Verdict | None] = []
        row_answers: list[str | None] = []
        for c, completion in enumerate(group.completions):
            answer, verdict = _triage(task, gold, completion.text)
            if isinstance(verdict, Defer):
                key = (task_id, str(gold_answer), verdict.key)
                verdict = CACHE.get(key)
                if verdict is None:
                    waiting.setdefault(key, []).append((g, c))
                elif len(verdict) > 2:  # a deferred check may also state the answer (code: "3/5")
                    answer = verdict[2]
            row_verdicts.append(verdict)
            row_answers.append(answer)
        verdicts.append(row_verdicts)
        answers.append(row_answers)
    keys = list(waiting)
    for key, verdict in zip(keys, _decide(task, keys, timeout_s)):
        for g, c in waiting[key]:
            verdicts[g][c] = verdict
    return [group.with_verdicts([v[0] for v in vs], [v[1] for v in vs], ans, _scores(vs))
            for group, vs, ans in zip(groups, verdicts, answers)]


def start_workers(task: str | Task) -> None:
    """Start the worker pool in the background when `task` may defer checks to it, so that its
    start (a forkserver importing math-verify, about 0.4 s) overlaps the caller's own work.

    `verify_groups` calls it too, but a caller that knows its task early (a CLI before reading
    its input, a trainer before loading its model) gains most by calling it first. Call it
    after `configure`: a changed pool size restarts the pool. No-op for tasks that judge
    everything in the caller's process and when the pool is already running.
    """
    if type(_resolve(task)).decide is not Task.decide:
        POOL.warm_up()


def _decide(task: Task, keys: list[tuple[str, str, str]], timeout_s: float | None
            ) -> list[Verdict]:
    """Worker verdicts for (task id, gold answer, Defer key) triples; "ok" ones are cached (a
    timeout or an error may not repeat)."""
    decided = POOL.run(worker.decide, [(task, gold, key) for _, gold, key in keys], timeout_s)
    for key, verdict in zip(keys, decided):
        if verdict[1] == "ok":
            CACHE.put(key, verdict)
    return decided


def decide_deferred(task: Task, gold_answer: str, key: str, *,
                    timeout_s: float | None = None) -> Verdict:
    """One deferred check (`Task.decide(gold_answer, key)`) through the cache and the pool, for
    code that checks a single reply (`Task.check`); batches should use `verify_groups`."""
    cache_key = (task.cache_id(), gold_answer, key)
    cached = CACHE.get(cache_key)
    return cached if cached is not None else _decide(task, [cache_key], timeout_s)[0]


def _scores(verdicts: Sequence[tuple]) -> tuple[float | None, ...]:
    """Graded scores where the task's verdicts carry one (`(correct, status, score)`), else ()."""
    scores = tuple(v[2] if len(v) > 2 else None for v in verdicts)
    return scores if any(s is not None for s in scores) else ()


async def averify_groups(task: str | Task, groups: Sequence[Group], *,
                         timeout_s: float | None = None) -> list[Group]:
    """`verify_groups` for coroutines: runs it in a thread so the event loop keeps running."""
    return await asyncio.to_thread(verify_groups, task, groups, timeout_s=timeout_s)


def shutdown() -> None:
    """Stop the worker pool now (it restarts on the next call that needs it)."""
    POOL.shutdown()
