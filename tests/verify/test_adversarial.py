"""The adversarial corpus: every hostile reply comes back in time, wrong or timed out, never
accepted, from the main thread, a worker thread and a running asyncio loop; afterwards no worker
is left over and ordinary verification works."""

import asyncio
import math
import multiprocessing
import os
import threading
import time

import pytest

from rewardkit.testing import make_group
from rewardkit.verify import configure, shutdown, verify_groups
from rewardkit.verify.pool import DEFAULT_MEMORY_MB, POOL, default_workers

from .adversarial import GOLDS, corpus

DEADLINE_S = 1.0
# Many workers on purpose: a hung check only waits out its deadline, so the corpus's ~40
# timeouts cost ceil(40 / 12) deadlines of wall time instead of 20 with 2 workers.
WORKERS = 12


@pytest.fixture(scope="module")
def wide_pool():
    configure(workers=WORKERS, memory_mb=1024)
    yield
    configure(workers=default_workers(), memory_mb=DEFAULT_MEMORY_MB)
    shutdown()


def corpus_groups():
    texts = corpus()
    return [make_group(texts=[t], answer=GOLDS[i % len(GOLDS)], problem_id=f"adv{i}", task="math")
            for i, t in enumerate(texts)]


def run_in(mode, groups):
    if mode == "main":
        return verify_groups("math", groups, timeout_s=DEADLINE_S)
    if mode == "thread":
        box = {}
        t = threading.Thread(target=lambda: box.update(out=verify_groups(
            "math", groups, timeout_s=DEADLINE_S)))
        t.start()
        t.join()
        return box["out"]

    async def inside_loop():  # called synchronously from a coroutine, as a reward callback would
        return verify_groups("math", groups, timeout_s=DEADLINE_S)

    return asyncio.run(inside_loop())


def descendants() -> set[int]:
    """Live processes below this one, except multiprocessing's forkserver and resource tracker."""
    from multiprocessing import forkserver, resource_tracker

    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    helpers = {getattr(forkserver._forkserver, "_forkserver_pid", None),
               getattr(resource_tracker._resource_tracker, "_pid", None)}
    return found - helpers


@pytest.mark.parametrize("mode", ["main", "thread", "asyncio"])
def test_adversarial_corpus_never_accepted_and_bounded_in_time(wide_pool, mode):
    groups = corpus_groups()
    assert len(groups) >= 100
    start = time.monotonic()
    out = run_in(mode, groups)
    elapsed = time.monotonic() - start
    verdicts = [(g.correct[0], g.status[0]) for g in out]
    accepted = [g.completions[0].text[:60] for g in out if g.correct[0] is True]
    assert not accepted
    assert all(v in ((False, "ok"), (None, "timeout"), (None, "error")) for v in verdicts)
    timeouts = sum(s == "timeout" for _, s in verdicts)
    # Each item holds a worker for at most its deadline + 1 s (start-up, kill and replace).
    assert elapsed < math.ceil(len(groups) / WORKERS) * (DEADLINE_S + 1)
    print(f"\n{mode}: {len(groups)} hostile replies in {elapsed:.1f}s, {timeouts} timeouts")


def test_after_the_corpus_no_worker_is_left_and_ordinary_checks_work(wide_pool):
    run_in("main", corpus_groups()[:30])
    shutdown()
    deadline = time.monotonic() + 5
    while descendants() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not descendants(), "worker processes outlived shutdown()"
    assert not [p for p in multiprocessing.active_children() if p.name == "pebble_pool_worker"]
    ordinary = [(f"\\sqrt{{{k}}}", f"<think>...</think> \\boxed{{\\sqrt{{{k}}}}}", True)
                for k in range(2, 40)]
    ordinary += [(f"{k}x+1", f"\\boxed{{1+{k}x}}", True) for k in range(2, 40)]
    ordinary += [(f"\\frac{{{k}}}{{7}}", f"\\boxed{{{k}/8}}", False) for k in range(1, 25)]
    assert len(ordinary) >= 100
    groups = [make_group(texts=[text], answer=gold, problem_id=f"o{i}", task="math")
              for i, (gold, text, _) in enumerate(ordinary)]
    out = verify_groups("math", groups, timeout_s=5)
    assert [g.status[0] for g in out] == ["ok"] * len(ordinary)
    assert [g.correct[0] for g in out] == [want for _, _, want in ordinary]
    assert POOL.worker_pids()
