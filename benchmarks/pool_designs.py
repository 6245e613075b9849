"""The measurements behind rewardkit/verify/pool.py's choice of pebble's ProcessPool.

    python benchmarks/pool_designs.py

Per-task overhead of pebble's ProcessPool (2 forkserver workers, 2,000 no-op tasks), the time to
kill an overrunning worker and run the next task, and the cost per check of NeMo-Gym's design
(one fresh process per check) with the `fork` and `forkserver` start methods.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from concurrent.futures import TimeoutError as DeadlineExceeded

from pebble import ProcessPool


def noop(x):
    return x


def spin(x):
    while True:
        pass


def main() -> None:
    ctx = mp.get_context("forkserver")
    t = time.perf_counter()
    pool = ProcessPool(max_workers=2, context=ctx)
    [f.result() for f in [pool.schedule(noop, (1,)) for _ in range(2)]]
    print(f"pebble pool start: {time.perf_counter() - t:.3f} s")
    n = 2000
    t = time.perf_counter()
    [f.result() for f in [pool.schedule(noop, (i,), timeout=2) for i in range(n)]]
    dt = time.perf_counter() - t
    print(f"pebble: {n} no-op tasks in {dt:.3f} s = {dt / n * 1e3:.3f} ms per task")
    t = time.perf_counter()
    try:
        pool.schedule(spin, (1,), timeout=0.5).result()
    except DeadlineExceeded:
        print(f"overrun reported after {time.perf_counter() - t:.3f} s (deadline 0.5 s)")
    t = time.perf_counter()
    pool.schedule(noop, (5,)).result()
    print(f"next task after the kill: {(time.perf_counter() - t) * 1e3:.1f} ms")
    pool.stop()
    pool.join()
    for method, count in (("fork", 100), ("forkserver", 30)):
        start_ctx = mp.get_context(method)
        t = time.perf_counter()
        for i in range(count):
            p = start_ctx.Process(target=noop, args=(i,))
            p.start()
            p.join()
        print(f"one process per check ({method}): "
              f"{(time.perf_counter() - t) / count * 1e3:.2f} ms per check")


if __name__ == "__main__":
    main()
