"""Sandbox throughput (issue 15): runs/s and per-run overhead for print(1)-sized programs and a
10-test I/O problem with 1 and 2 parallel sandboxes, and SQL queries/s on the bundled database.

    sudo .venv/bin/python benchmarks/sandbox_throughput.py [--runs 40]

Overhead = wall time of a sandboxed run minus the same program run directly with the same
interpreter (p50/p95 of each). Goals (RELIABILITY §7, G3): p95 overhead <= 150 ms, >= 20 short
runs/s with 2 workers on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rewardkit.sandbox import Limits, Sandbox, default_python  # noqa: E402
from rewardkit.sandbox.sqlite import run_query  # noqa: E402
from rewardkit.tasks import get_task  # noqa: E402
from rewardkit.tasks.sql import BUNDLED  # noqa: E402

IO_PROGRAM = "n = int(input())\nprint(n * n)"
IO_TESTS = [{"stdin": f"{i}\n", "stdout": f"{i * i}\n"} for i in range(10)]


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def direct_ms(runs: int) -> float:
    """p50 of print(1) run directly (no sandbox) with the sandbox's interpreter."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([default_python(), "-I", "-c", "print(1)"], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def timed(fn, jobs: list, workers: int) -> tuple[float, list[float]]:
    def one(job):
        start = time.perf_counter()
        fn(job)
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        each = list(ex.map(one, jobs))
    return time.perf_counter() - start, each


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    sandbox = Sandbox(Limits(wall_s=5))
    base_ms = direct_ms(max(5, args.runs // 4))
    report: dict = {"direct print(1) p50 ms": round(base_ms, 1)}
    code = get_task("code")
    problem = code.problem_from_row({"question": "square", "tests": IO_TESTS}, 0)
    key = json.dumps({"spec": code.gold_of(problem), "program": IO_PROGRAM})
    for workers in (1, 2):
        wall, each = timed(lambda _: sandbox.run_python("print(1)"), list(range(args.runs)),
                           workers)
        over = [1000 * t - base_ms for t in each]
        report[f"print(1), {workers} parallel"] = {
            "runs/s": round(args.runs / wall, 1), "overhead p50 ms": round(percentile(over, .5), 1),
            "overhead p95 ms": round(percentile(over, .95), 1)}
        n = max(2, args.runs // 10)
        wall, each = timed(lambda _: code.decide("", key), list(range(n)), workers)
        report[f"10-test I/O problem, {workers} parallel"] = {
            "problems/s": round(n / wall, 2), "p50 s": round(statistics.median(each), 3)}
    queries = [json.loads(line)["answer"] for line in (BUNDLED / "shop.jsonl").open()]
    db = BUNDLED / "shop.sqlite"
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < 2.0:
        for q in queries:
            assert run_query(db, q).status == "ok"
            count += 1
    report["sql queries/s (bundled golds, 1 thread)"] = round(count / (time.perf_counter() - start))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
