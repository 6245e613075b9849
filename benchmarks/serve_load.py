"""Bounded loopback load test of `rewardkit serve`, and the TRL callables' overhead per batch.

    python benchmarks/serve_load.py [--requests 1000] [--concurrency 32] [--group-size 8]
                                    [--samples-per-request 1] [--time-limit-s 120] [--task arith]

Part 1 starts `rewardkit serve` on 127.0.0.1 (a free port, the tiny character-level tokenizer,
rewards accuracy + kimi_length + hapo) and sends `--requests` POST /get_reward requests exactly
as OpenRLHF does: one sample per request (`--samples-per-request 8` sends a whole group per
request, as a batching client would), `--group-size` samples per prompt (half right, half
wrong answers of varying length), at most `--concurrency` requests in flight. It stops after
the request count or the time limit, whichever comes first, then stops the server (SIGTERM)
and reports requests/s, completions/s, p50/p95/p99 latency and the errors (anything but 200).

Part 2 times, on the same completions in batches of 8 groups x `--group-size`, TRL's own
`accuracy_reward` (Math-Verify in-process, if trl is installed) and rewardkit's TRL callables
(`make_reward_funcs(task, [accuracy, kimi_length])`, all callables of a batch), per batch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def completions(n_prompts: int, group_size: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(prompt, response, label) rows, `group_size` consecutive rows per prompt."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n_prompts):
        a, b = rng.randrange(1, 50), rng.randrange(1, 50)
        prompt = f"{a}+{b}=?\n"
        for g in range(group_size):
            ans = a + b if g % 2 == 0 else a + b + 1
            pad = "check " * rng.randrange(0, 30)
            rows.append((prompt, f"<think>{a}+{b}={ans} {pad}</think>\\boxed{{{ans}}}<eos>",
                         str(a + b)))
    return rows


def start_server(tmp: Path, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    from rewardkit.models.tiny import build_tiny_model

    tok = build_tiny_model(tmp / "tok", layers=1, hidden=16, heads=2)
    port_file = tmp / "port"
    env = os.environ | {"PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rewardkit", "serve", "--task", args.task,
         "--reward", "accuracy", "--reward", "kimi_length:weight=0.4", "--reward", "hapo",
         "--tokenizer", str(tok), "--max-new-tokens", "256", "--group-size",
         str(args.group_size), "--group-wait-s", "30", "--port", "0",
         "--port-file", str(port_file)], env=env)
    deadline = time.monotonic() + 60
    while not (port_file.exists() and port_file.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("server did not start")
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port_file.read_text()}"


async def load(url: str, rows: list, args: argparse.Namespace) -> tuple[list[float], int, float]:
    import httpx

    latencies: list[float] = []
    errors = 0
    sem = asyncio.Semaphore(args.concurrency)
    deadline = time.monotonic() + args.time_limit_s

    async def one(client, chunk):
        nonlocal errors
        if time.monotonic() > deadline:
            return
        async with sem:
            t0 = time.perf_counter()
            try:
                r = await client.post(url + "/get_reward", json={
                    "query": [p + resp for p, resp, _ in chunk],
                    "prompts": [p for p, _, _ in chunk], "labels": [lab for _, _, lab in chunk]})
                ok = r.status_code == 200 and len(r.json()["rewards"]) == len(chunk)
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - t0)
            errors += not ok

    limits = httpx.Limits(max_connections=args.concurrency)
    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        k = args.samples_per_request
        await asyncio.gather(*[one(client, rows[i:i + k]) for i in range(0, len(rows), k)])
    return latencies, errors, time.perf_counter() - start


def trl_overhead(rows: list, args: argparse.Namespace) -> dict:
    try:
        from trl.rewards import accuracy_reward
    except ImportError:
        return {"skipped": "trl not installed"}
    from rewardkit.integrations.trl import make_reward_funcs

    funcs = make_reward_funcs(args.task, ["accuracy", "kimi_length:weight=0.4"],
                              num_generations=args.group_size, max_completion_length=256,
                              eos_token_ids=[1])
    batch = 8 * args.group_size
    out: dict[str, list[float]] = {"trl_accuracy_reward_ms": [], "rewardkit_callables_ms": []}
    for s in range(0, len(rows) - batch + 1, batch):
        chunk = rows[s:s + batch]
        comps = [[{"role": "assistant", "content": r.replace("<eos>", "")}] for _, r, _ in chunk]
        sols = [f"${lab}$" for _, _, lab in chunk]
        t0 = time.perf_counter()
        accuracy_reward(completions=comps, solution=sols)
        out["trl_accuracy_reward_ms"].append(1000 * (time.perf_counter() - t0))
        ids = [[7] * (len(r) - 6) + [1] for _, r, _ in chunk]
        t0 = time.perf_counter()
        for f in funcs:
            f(prompts=[p for p, _, _ in chunk], completions=[c[0]["content"] for c in comps],
              completion_ids=ids, answer=[lab for _, _, lab in chunk],
              trainer_state=type("S", (), {"global_step": s})())
        out["rewardkit_callables_ms"].append(1000 * (time.perf_counter() - t0))
    return {k: round(statistics.median(v), 2) for k, v in out.items() if v} | {"batch": batch}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--samples-per-request", type=int, default=1)
    ap.add_argument("--time-limit-s", type=float, default=120.0)
    ap.add_argument("--task", default="arith")
    args = ap.parse_args()
    n = args.requests * args.samples_per_request
    rows = completions(-(-n // args.group_size), args.group_size)[:n]
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp), args)
        try:
            latencies, errors, wall = asyncio.run(load(url, rows, args))
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    report = {
        "requests": len(latencies), "errors": errors, "server_exit": code,
        "wall_s": round(wall, 2), "requests_per_s": round(len(latencies) / wall, 1),
        "completions_per_s": round(len(latencies) * args.samples_per_request / wall, 1),
        "latency_ms": {"p50": round(1000 * q[49], 1), "p95": round(1000 * q[94], 1),
                       "p99": round(1000 * q[98], 1)},
        "concurrency": args.concurrency, "group_size": args.group_size,
        "samples_per_request": args.samples_per_request,
        "trl_per_batch": trl_overhead(rows, args),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
