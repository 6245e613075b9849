"""The verification service: deadlines, dying workers, threads, asyncio, caching, shutdown."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import rewardkit
from rewardkit.testing import make_group
from rewardkit.verify import CACHE, service, verify_groups
from rewardkit.verify.pool import POOL

from .conftest_helpers import alive
from .tasks_for_tests import ScriptedTask

REPO_SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def scripted(texts, gold="ok"):
    return make_group(texts=texts, answer=gold, task="scripted")


def test_overrun_is_timeout_and_the_rest_of_the_batch_is_unaffected():
    groups = [scripted(["hang", "ok", "nope"]), scripted(["ok"])]
    verify_groups(ScriptedTask(), [scripted(["warm"])])  # the bound is the check's, not start-up's
    start = time.monotonic()
    out = verify_groups(ScriptedTask(), groups, timeout_s=0.5)
    assert time.monotonic() - start < 0.5 + 1.0
    assert out[0].correct == (None, True, False) and out[0].status == ("timeout", "ok", "ok")
    assert out[1].correct == (True,)
    assert out[0].answers == ("hang", "ok", "nope")


def test_dead_and_memory_capped_workers_give_error_and_are_replaced():
    before = set(POOL.worker_pids()) if POOL._pool is not None else set()
    out = verify_groups(ScriptedTask(), [scripted(["die", "hog", "ok"])], timeout_s=5)
    assert out[0].status == ("error", "error", "ok") and out[0].correct == (None, None, True)
    deadline = time.monotonic() + 3  # pebble replaces dead workers from its manager thread
    while len(POOL.worker_pids()) < POOL.workers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(POOL.worker_pids()) == POOL.workers and set(POOL.worker_pids()) != before
    assert verify_groups(ScriptedTask(), [scripted(["ok"] * 4)])[0].correct == (True,) * 4


def test_deadline_holds_from_a_thread_and_inside_asyncio():
    results = {}

    def in_thread():
        results["thread"] = verify_groups(ScriptedTask(), [scripted(["hang"])], timeout_s=0.5)

    t = threading.Thread(target=in_thread)
    verify_groups(ScriptedTask(), [scripted(["warm"])])
    start = time.monotonic()
    t.start()
    t.join(timeout=5)
    assert time.monotonic() - start < 1.5 and results["thread"][0].status == ("timeout",)

    async def in_loop():
        sync = verify_groups(ScriptedTask(), [scripted(["hang"])], timeout_s=0.5)
        awaited = await service.averify_groups(ScriptedTask(), [scripted(["hang"])],
                                               timeout_s=0.5)
        return sync, awaited

    sync, awaited = asyncio.run(in_loop())
    assert sync[0].status == awaited[0].status == ("timeout",)


def test_identical_answers_are_decided_once_and_cached(monkeypatch):
    CACHE.clear()
    jobs = []
    real_run = POOL.run
    monkeypatch.setattr(POOL, "run", lambda fn, js, t: jobs.extend(js) or real_run(fn, js, t))
    verify_groups(ScriptedTask(), [scripted(["ok", "ok", "no"]), scripted(["ok"])])
    assert len(jobs) == 2  # ("ok", "ok") and ("ok", "no"): one job per distinct pair
    verify_groups(ScriptedTask(), [scripted(["ok", "no"])])
    assert len(jobs) == 2  # both answered from the cache


def test_timeouts_are_not_cached():
    CACHE.clear()
    verify_groups(ScriptedTask(), [scripted(["sleep:1"])], timeout_s=0.3)
    assert len(CACHE) == 0


def test_simple_numbers_never_reach_the_pool(monkeypatch):
    monkeypatch.setattr(POOL, "run", lambda fn, jobs, t: [] if not jobs else pytest.fail("pool"))
    g = make_group(texts=["\\boxed{42}", "\\boxed{42.0}", "\\boxed{41}", "\\boxed{1,2}"],
                   answer="42", task="math")
    out = verify_groups("math", [g])[0]
    assert out.correct == (True, True, False, False) and out.status == ("ok",) * 4


def test_starting_workers_never_waits_for_a_start_under_way(monkeypatch):
    """`start_workers` (and so `verify_groups`' own call) returns at once while another thread
    is still starting the pool: pebble's status check would wait the whole start out."""
    from pebble import ProcessPool

    started, release = threading.Event(), threading.Event()
    real_start = ProcessPool._start_pool

    def slow_start(pool):
        started.set()
        release.wait(30)
        real_start(pool)

    monkeypatch.setattr(ProcessPool, "_start_pool", slow_start)
    POOL.shutdown()
    try:
        service.start_workers("math")
        assert started.wait(10), "the warm-up thread did not start the pool"
        caller = threading.Thread(target=lambda: [service.start_workers("math")
                                                  for _ in range(3)])
        caller.start()
        caller.join(5)
        assert not caller.is_alive(), "start_workers waited for the pool's start"
    finally:
        release.set()
    assert verify_groups("math", [make_group(texts=["\\boxed{x \\cdot x}"], answer="x^2",
                                             task="math")])[0].correct == (True,)


def test_start_workers_starts_no_thread_once_the_pool_runs(monkeypatch):
    verify_groups("math", [make_group(texts=["\\boxed{x \\cdot x}"], answer="x^2",
                                      task="math")])  # the pool now runs
    monkeypatch.setattr(threading, "Thread", lambda *a, **k: pytest.fail("a warm-up thread"))
    service.start_workers("math")


def test_start_workers_leaves_tasks_that_never_defer_alone(monkeypatch):
    monkeypatch.setattr(POOL, "warm_up", lambda: pytest.fail("started the pool"))
    service.start_workers("gsm8k")


def test_import_rewardkit_stays_light():
    code = ("import sys, rewardkit; bad = [m for m in ('torch', 'pebble', 'sympy', 'math_verify',"
            " 'rewardkit.verify') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": REPO_SRC}, check=True)
    assert out.stdout.strip() == "[]"
    assert callable(rewardkit.verify_groups)


SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from rewardkit.verify import verify_groups
    from rewardkit.verify.pool import POOL
    from rewardkit.testing import make_group
    from verify.tasks_for_tests import ScriptedTask
    verify_groups(ScriptedTask(), [make_group(texts=["ok"], answer="ok")])
    from multiprocessing import forkserver
    forkserver_pid = forkserver._forkserver._forkserver_pid
    print(" ".join(map(str, [*POOL.worker_pids(), forkserver_pid])), flush=True)
    if sys.argv[1] == "hang":
        verify_groups(ScriptedTask(), [make_group(texts=["hang"], answer="ok")], timeout_s=60)
    sys.stdin.readline()  # exit when the test says so
""")  # no __main__ guard on purpose: workers must not re-run this script


@pytest.mark.parametrize("how", ["exit", "ctrl-c", "sigkill"])
def test_no_worker_outlives_the_interpreter(tmp_path, how):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(tests=os.path.join(os.path.dirname(__file__), "..")))
    proc = subprocess.Popen([sys.executable, str(script), "exit" if how == "exit" else "hang"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": REPO_SRC})
    pids = [int(p) for p in proc.stdout.readline().split()]  # the workers, then the forkserver
    assert len(pids) > 1 and all(alive(p) for p in pids)
    if how != "exit":  # interrupted, or killed outright, while a check hangs in a worker
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
    if how == "sigkill":
        proc.wait(timeout=20)  # its helpers may hold its stdout a moment longer
    else:
        proc.communicate("\n", timeout=20)
    deadline = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in pids)
