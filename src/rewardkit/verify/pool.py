"""The worker pool that runs the checks a deadline must be able to stop.

Why pebble's `ProcessPool` and not our own pool (measured on the 2-core dev machine, 2 workers,
forkserver start method; `benchmarks/pool_designs.py`):

- per-task overhead: 0.03 ms (2,000 no-op tasks in 0.07 s); a killed worker is replaced and the
  next task runs within 1.3 ms; pool start 0.06 s (plus one import of math-verify, 0.3 s, in the
  forkserver);
- NeMo-Gym's design (fork one process per check, terminate then kill it at the deadline) costs
  1.8 ms per check from a light parent with `fork` and 35 ms with `forkserver`, and forking a
  parent that holds torch's threads is unsafe;
- pebble already does what a pool of our own would have to get right: a per-task timeout counted
  from when the task starts in a worker, killing and replacing the overrunning worker, reporting
  a worker that died (`ProcessExpired`), and stopping its workers at interpreter exit.

Workers start from a forkserver (a clean interpreter that has imported math-verify once), never
by forking the caller, so a trainer's threads, CUDA state and address space never reach them.
Unlike multiprocessing's default for forkserver/spawn children, they do not re-import the
caller's `__main__` (a training script without a `__main__` guard would otherwise run again in
every worker, torch imports and all); the price is that a Task defined in a `__main__` script
cannot be sent to a worker (its deferred checks get status "error"): define it in a module.
Each worker ignores SIGINT (Ctrl-C stops the caller, which then stops the pool), caps its
address space with RLIMIT_AS and asks Linux to kill it if its parent (the forkserver, which
exits with the caller) dies, so no worker outlives the process that started it. Nothing here
uses signals for timeouts.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from multiprocessing import context as mp_context
from multiprocessing import popen_forkserver
from typing import Any

Verdict = tuple["bool | None", str]  # (correct, status)

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MEMORY_MB = 4096
MAX_TASKS_PER_WORKER = 5_000  # recycle a worker now and then: sympy's caches only grow


def default_workers() -> int:
    """The machine's cores available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


_launching = threading.local()  # set while this thread starts one of our workers


def _main_free_preparation() -> None:
    """Make multiprocessing leave out the caller's `__main__` when it starts one of our workers
    (other processes, started by other code, are unaffected: the flag is per thread)."""
    from multiprocessing import spawn

    original = spawn.get_preparation_data
    if getattr(original, "rewardkit_main_free", False):
        return

    def get_preparation_data(name: str) -> dict:
        data = original(name)
        if getattr(_launching, "active", False):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    get_preparation_data.rewardkit_main_free = True  # type: ignore[attr-defined]
    spawn.get_preparation_data = get_preparation_data


class _WorkerPopen(popen_forkserver.Popen):
    def _launch(self, process_obj: Any) -> None:
        _launching.active = True
        try:
            super()._launch(process_obj)
        finally:
            _launching.active = False


class _WorkerProcess(mp_context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _WorkerPopen(process_obj)


class _WorkerContext(mp_context.ForkServerContext):
    Process = _WorkerProcess  # type: ignore[assignment]


def _worker_context() -> Any:
    """A forkserver multiprocessing context whose processes skip the `__main__` re-import."""
    _main_free_preparation()
    ctx = _WorkerContext()
    ctx.set_forkserver_preload(["rewardkit.verify.worker", "rewardkit.verify._warm"])
    return ctx


def _init_worker(memory_mb: int) -> None:
    """Runs once in each worker before its first task."""
    import logging
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # math-verify warns on every call that its own (SIGALRM) timeout is off: it is off on purpose.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    try:
        import resource

        cap = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ImportError, ValueError, OSError):  # not POSIX, or a lower hard limit is already set
        pass
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux
        pass


class WorkerPool:
    """A lazily started pebble ProcessPool; `run` maps a function over jobs with a deadline each.

    Thread-safe: any thread may call `run`; the pool starts on the first call and restarts if
    the settings change or it was shut down.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._warm_lock = threading.Lock()
        self._warming: threading.Thread | None = None
        self._started: tuple[int, int] | None = None  # settings of the pool known to be running
        self._pool: Any = None
        self._settings: tuple[int, int] | None = None
        self._exit_handler = False
        self.workers = default_workers()
        self.memory_mb = DEFAULT_MEMORY_MB
        self.timeout_s = DEFAULT_TIMEOUT_S

    def _ensure(self) -> Any:
        settings = (self.workers, self.memory_mb)
        with self._lock:
            if self._pool is not None and (self._settings != settings or not self._pool.active):
                self._stop_locked()
            if self._pool is None:
                from pebble import ProcessPool

                if not self._exit_handler:  # registered after pebble's own, so it runs first
                    atexit.register(self.stop_at_exit)
                    self._exit_handler = True

                self._pool = ProcessPool(max_workers=self.workers, max_tasks=MAX_TASKS_PER_WORKER,
                                         initializer=_init_worker, initargs=(self.memory_mb,),
                                         context=_worker_context())
                self._settings = settings
            return self._pool

    def run(self, fn: Callable[..., Verdict], jobs: Sequence[tuple], timeout_s: float | None
            ) -> list[Verdict]:
        """`fn(*job)` for each job in a worker: its verdict, `(None, "timeout")` when it ran past
        `timeout_s` (the worker is killed and replaced) or `(None, "error")` when it raised or
        its worker died."""
        if not jobs:
            return []
        pool = self._ensure()
        deadline = self.timeout_s if timeout_s is None else timeout_s
        futures = [pool.schedule(fn, args=job, timeout=deadline) for job in jobs]
        self._started = self._settings
        return [_outcome(f) for f in futures]

    def warm_up(self) -> None:
        """Start the pool in a background thread (the forkserver imports math-verify, ~0.4 s),
        so a caller's own work overlaps the start. Returns at once: it never touches the pool
        from the calling thread, where pebble's status check would wait out a start already
        under way. Nothing to do (no thread either) when the pool already runs with the current
        settings: `verify_groups` calls this once per batch."""
        if self._started == (self.workers, self.memory_mb):
            return
        with self._warm_lock:
            if self._warming is None or not self._warming.is_alive():
                self._warming = threading.Thread(target=self._warm, daemon=True)
                self._warming.start()

    def _warm(self) -> None:
        # RuntimeError: the pool was stopped meanwhile (shutdown, interpreter exit)
        # not through `run`: a warm-up is no caller's job (and must not count as one)
        with contextlib.suppress(RuntimeError):
            self._ensure().schedule(tuple, args=((True, "ok"),))
            self._started = self._settings

    def shutdown(self) -> None:
        """Stop the workers now (running checks are killed); the next `run` starts a new pool."""
        with self._lock:
            self._stop_locked()

    def stop_at_exit(self) -> None:
        """At interpreter exit: kill the workers outright, since nothing they run is wanted any
        more. `shutdown` (pebble's stop and join) waits for the pool's manager threads' 0.1 s
        ticks and SIGTERMs the workers one by one: about 0.06 s of every `rewardkit score`
        run (measured), for nothing. Afterwards pebble's and multiprocessing's own exit
        handlers find no worker left to stop."""
        with self._lock:
            pool, self._pool, self._started = self._pool, None, None
            if pool is None:
                return
            pool.stop()  # its manager threads (daemons) end at their next tick
            workers = self._worker_processes()
            for process in workers:
                with contextlib.suppress(OSError):
                    process.kill()
            for process in workers:
                process.join(timeout=1)

    def _stop_locked(self) -> None:
        self._started = None
        if self._pool is not None:
            self._pool.stop()
            self._pool.join(timeout=10)
            self._pool = None

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        return [p.pid for p in self._worker_processes()]

    @staticmethod
    def _worker_processes() -> list[Any]:
        import multiprocessing

        from pebble.pool.process import WORKERS_NAME

        return [p for p in multiprocessing.active_children() if p.name == WORKERS_NAME]


def _outcome(future: Future) -> Verdict:
    from concurrent.futures import TimeoutError as DeadlineExceeded

    try:
        return future.result()
    except DeadlineExceeded:
        return None, "timeout"
    except Exception:  # the check raised (MemoryError under the cap, a bug) or the worker died
        return None, "error"


POOL = WorkerPool()
