"""Verification throughput: `rewardkit score` against a plain math-verify loop (issue 12).

    python benchmarks/verify_throughput.py [--n 1500] [--runs 3] [--workers 1,2] [--quick]

The same N mixed GSM8K/MATH-style replies (golds from the shipped test sets in
src/rewardkit/data: GSM8K numbers and MATH-500 answers; replies boxed, after </think>, right
or wrong, in the forms models write:
`\\$1,234`, `\\frac{a}{b}` vs decimals, `\\dfrac`, units, repeated answers within a group)
are judged

  (a) by `rewardkit score --task math --reward accuracy` with 1 and with 2 workers, and
  (b) by a plain loop over `math_verify.parse`/`verify` written as TRL 1.16's `accuracy_reward`
      (the gold, boxed, parsed for every completion; its extraction config and timeouts),

both as whole processes (start-up and imports included), alternating a/b, `--runs` times each;
the median wall time is reported with throughput, the speed-up, and the number of items on which
(a) and (b) disagree. In-process it also reports p50/p95 latency per completion of both and the
pool's per-batch overhead (a batch of no-op tasks). No adversarial items: those are the tests'.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics as st
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe  # benchmarks/machine.py

DATA = Path(__file__).resolve().parents[1] / "src" / "rewardkit" / "data"  # shipped copies
GROUP = 4  # completions per problem


def _gsm8k_golds() -> list[str]:
    rows = [json.loads(x) for x in (DATA / "gsm8k" / "test.jsonl").read_text().splitlines()]
    return [r["answer"].rpartition("####")[2].strip() for r in rows]


def _math_golds() -> list[str]:
    rows = [json.loads(x) for x in (DATA / "math500" / "test.jsonl").read_text().splitlines()]
    return [r["answer"] for r in rows]


def _reply(gold: str, kind: int, rng: random.Random) -> str:
    think = "<think>" + "Let me compute this step by step. " * rng.randint(1, 6) + "</think>"
    if kind == 0:  # right, as given
        return f"{think} The answer is \\boxed{{{gold}}}."
    if kind == 1:  # right, another common form
        num = gold.replace(",", "")
        if num.lstrip("-").isdigit():
            return f"{think} So the total is \\boxed{{\\${int(num):,}}}"
        return f"{think} Therefore $\\boxed{{{gold.replace('frac', 'dfrac')}}}$"
    if kind == 2:  # wrong number
        return f"{think} \\boxed{{{rng.randint(1, 999)}}}"
    return f"{think} \\boxed{{{gold} + 1}}"  # wrong expression


def make_rollouts(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    golds = [("gsm8k", g) for g in _gsm8k_golds()] + [("math", g) for g in _math_golds()]
    rows = []
    for p in range(n // GROUP):
        _, gold = golds[rng.randrange(len(golds))]
        kinds = [rng.choice([0, 0, 1, 2, 3]) for _ in range(GROUP)]
        texts = [_reply(gold, k, rng) for k in kinds]
        rows.append({"id": f"b{p}", "prompt": "q", "answer": gold, "max_new_tokens": 1024,
                     "completions": [{"text": t, "num_tokens": len(t) // 4} for t in texts]})
    return rows


PLAIN_LOOP = r"""
import json, sys
from math_verify import LatexExtractionConfig, parse, verify
from latex2sympy2_extended import NormalizationConfig
# trl.rewards.accuracy_reward (TRL 1.16) line for line, over one whole file: the gold parsed
# for every completion, the completion with TRL's extraction config, math-verify's own
# (SIGALRM) timeouts on, as TRL sets them in the main thread. The one change: the gold is
# given boxed, as a solution string would hold it (a bare `\frac{a}{b}` or `(3,4]` does not
# parse in math-verify's default configuration and would be skipped).
out = []
for line in open(sys.argv[1]):
    row = json.loads(line)
    for c in row["completions"]:
        gold = parse("\\boxed{" + row["answer"] + "}", parsing_timeout=10)
        if len(gold) == 0:
            out.append(None)
            continue
        answer = parse(c["text"], extraction_config=[LatexExtractionConfig(
            normalization_config=NormalizationConfig(units=True), boxed_match_priority=0,
            try_extract_without_anchor=False)], extraction_mode="first_match",
            parsing_timeout=10)
        out.append(float(verify(gold, answer, timeout_seconds=5)) == 1.0)
json.dump(out, open(sys.argv[2], "w"))
"""


def run_rewardkit(src: Path, out: Path, workers: int) -> tuple[float, list]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rewardkit", "score", "--task", "math", "--reward",
                    "accuracy", "--input", str(src), "--output", str(out), "--verify-workers",
                    str(workers)], check=True, capture_output=True)
    wall = time.perf_counter() - start
    verdicts = [c["correct"] for line in out.read_text().splitlines()
                for c in json.loads(line)["completions"]]
    return wall, verdicts


def run_plain(src: Path, out: Path) -> tuple[float, list]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", PLAIN_LOOP, str(src), str(out)], check=True,
                   capture_output=True)
    return time.perf_counter() - start, json.loads(out.read_text())


def latencies(rows: list[dict], k: int = 200) -> dict[str, tuple[float, float]]:
    """p50/p95 seconds per completion, in-process, each completion alone (cache cleared)."""
    from math_verify import parse, verify

    from rewardkit.testing import make_group
    from rewardkit.verify import CACHE, verify_groups

    items = [(r["answer"], c["text"]) for r in rows for c in r["completions"]][:k]
    verify_groups("math", [make_group(texts=["\\boxed{x^2}"], answer="x", task="math")])  # warm
    ours, plain = [], []
    for gold, text in items:
        CACHE.clear()
        t = time.perf_counter()
        verify_groups("math", [make_group(texts=[text], answer=gold, task="math")])
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        verify(parse("\\boxed{" + gold + "}"), parse(text))
        plain.append(time.perf_counter() - t)

    def p(xs: list[float], q: float) -> float:
        return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]

    return {"rewardkit": (p(ours, 0.5), p(ours, 0.95)), "plain": (p(plain, 0.5), p(plain, 0.95))}


def deferred(rows: list[dict]) -> tuple[int, int]:
    """(replies, distinct (gold, answer) checks) that need math-verify, i.e. reach a worker:
    what the caller's fast paths leave over."""
    from rewardkit.tasks.base import Defer
    from rewardkit.tasks.math import MathTask

    task, replies, keys = MathTask(), 0, set()
    for r in rows:
        gold = task.parse_gold(r["answer"])
        for c in r["completions"]:
            _, verdict = task.triage(gold, c["text"])
            if isinstance(verdict, Defer):
                replies += 1
                keys.add((r["answer"], verdict.key))
    return replies, len(keys)


def pool_overhead(batch: int = 100) -> tuple[float, float]:
    """Seconds for one batch of `batch` no-op tasks through the pool, and per task."""
    from rewardkit.verify.pool import POOL

    POOL.run(tuple, [((True, "ok"),)], None)  # start the pool
    t = time.perf_counter()
    POOL.run(tuple, [((True, "ok"),)] * batch, None)
    wall = time.perf_counter() - t
    return wall, wall / batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--quick", action="store_true", help="N=200, 1 run: checks that it works")
    args = ap.parse_args()
    if args.quick:
        args.n, args.runs = 200, 1
    rows = make_rollouts(args.n)
    workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out"
        src.write_text("".join(json.dumps(r) + "\n" for r in rows))
        times: dict[str, list[float]] = {"plain": [], **{f"rewardkit-{w}w": [] for w in workers}}
        verdicts: dict[str, list] = {}
        for _ in range(args.runs):  # alternate a and b, so load drift hits both alike
            for w in workers:
                wall, verdicts[f"rewardkit-{w}w"] = run_rewardkit(src, out, w)
                times[f"rewardkit-{w}w"].append(wall)
                wall, verdicts["plain"] = run_plain(src, out)
                times["plain"].append(wall)
    n = sum(len(r["completions"]) for r in rows)
    base = st.median(times["plain"])
    print(f"{n} completions, {args.runs} runs each, machine: {describe()}")
    for name, ts in times.items():
        med = st.median(ts)
        print(f"  {name:14s} median {med:6.2f}s  {n / med:7.0f} completions/s  "
              f"speed-up {base / med:4.2f}x  (runs: {', '.join(f'{t:.2f}' for t in ts)})")
    for name in verdicts:
        if name != "plain":
            differ = [i for i, (a, b) in enumerate(zip(verdicts[name], verdicts["plain"]))
                      if a != b]
            print(f"  disagreements {name} vs plain: {len(differ)}")
    items = [(r["answer"], c["text"][-60:]) for r in rows for c in r["completions"]]
    for i in differ[:10]:
        print(f"    gold {items[i][0]!r} reply ...{items[i][1]!r}: rewardkit "
              f"{verdicts[name][i]}, plain {verdicts['plain'][i]}")
    for name, (p50, p95) in latencies(rows).items():
        print(f"  latency per completion, {name:9s}: p50 {p50 * 1e3:.2f} ms, "
              f"p95 {p95 * 1e3:.2f} ms")
    replies, checks = deferred(rows)
    print(f"  reach a worker: {replies} of {n} replies ({checks} distinct checks); the rest "
          f"are judged in the caller")
    batch_s, per_task = pool_overhead()
    print(f"  pool overhead: {batch_s * 1e3:.1f} ms per batch of 100 no-op tasks "
          f"({per_task * 1e3:.3f} ms per task)")


if __name__ == "__main__":
    main()
