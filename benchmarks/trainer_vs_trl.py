"""rewardkit's trainer against TRL's GRPOTrainer: the same work, as whole processes, alternating.

Both sides train the same tiny model (built once with `rewardkit tiny-model`) on the same arith
prompts per step, with the same group size, token budget, number of steps, learning rate,
temperature 1, beta 0 (no reference model), one update per batch, and the same rewards
(rewardkit's `arith` verifier, plus Kimi k1.5's length term with weight 0.4 so that groups have
reward variance and both sides do real updates). The learning rate is small (1e-7) so that
neither policy drifts within the run: both keep sampling the untrained model's lengths, and a
step's work is the same on both sides (the arithmetic of an update does not depend on lr).

Precision: `--precision bf16` (default) is each side's default on a CPU with native bf16: TRL's
`bf16=True`, rewardkit's `autocast: auto`; `--precision fp32` turns both off. Threads: each side
runs in the environment it would get by default (TRL: libgomp's spinning threads; rewardkit:
the same on an idle machine, see rewardkit/openmp.py); `--passive` runs both with
OMP_WAIT_POLICY=PASSIVE, the setting for a shared, busy CPU.

Each repeat runs rewardkit then TRL (or the reverse on odd repeats), so drifts in machine load
hit both. Reported per side: process wall time (imports and model loading included),
training-loop time, median steady-state step time (first step dropped), mean completion length,
loop time per 1k generated tokens (the two sides sample independently, so their lengths
differ a little; per-token time corrects that) and peak memory (on a GPU the CUDA allocator's
peak, `--device cuda`; on a CPU the process's peak resident set).

    .venv/bin/python benchmarks/trainer_vs_trl.py --repeats 5 --precision bf16
    python3 benchmarks/trainer_vs_trl.py --device cuda --layers 24 --hidden 896 --heads 14 \
        --group 16 --max-new-tokens 512 --lr 1e-6  # one GPU: Qwen2-0.5B's depth and width
                                                   # (0.3B parameters with a character vocabulary)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe  # benchmarks/machine.py

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def environment(args) -> dict[str, str]:
    return {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"} if args.passive else dict(os.environ)


def run_rewardkit(model: Path, args, out: Path) -> dict:
    cmd = [PY, "-m", "rewardkit", "train", str(ROOT / "configs" / "grpo.yaml"),
           "--out", str(out),
           "--set", f"model={model}", "--set", "task=arith", "--set", f"seed={args.seed}",
           "--set", f"steps={args.steps}", "--set", f"prompts_per_step={args.prompts}",
           "--set", f"sampling.group_size={args.group}",
           "--set", f"sampling.max_new_tokens={args.max_new_tokens}",
           "--set", "rewards=[{name: accuracy}, {name: kimi_length, weight: 0.4}]",
           "--set", "sampling.temperature=1.0", "--set", f"optim.lr={args.lr}",
           # One optimizer step per batch of P x G on both sides; rewardkit runs the forward/
           # backward in length-sorted micro-batches of 16 (same gradient, less padding).
           "--set", "optim.minibatch_size=16",
           "--set", "optim.epochs=1", "--set", "loss.kl_coef=0.0",
           "--set", "checkpoint.every=0", "--set", f"device={args.device}",
           "--set", f"autocast={'bf16' if args.precision == 'bf16' else 'none'}", "--quiet"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=environment(args))
    wall = time.perf_counter() - t0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r["time/step_s"] for r in rows]
    peak = rows[-1].get("memory/cuda_peak_gib" if args.device == "cuda" else "memory/rss_peak_gib")
    return {"process_s": wall, "train_s": sum(steps), "step_s": steps,
            "mean_length": statistics.mean(r["length/mean"] for r in rows), "peak_gib": peak}


def run_trl(model: Path, args) -> dict:
    cmd = [PY, str(ROOT / "benchmarks" / "trl_grpo_run.py"), "--model", str(model),
           "--steps", str(args.steps), "--prompts", str(args.prompts), "--group", str(args.group),
           "--max-new-tokens", str(args.max_new_tokens), "--lr", str(args.lr),
           "--seed", str(args.seed), "--device", args.device] + (
               ["--bf16"] if args.precision == "bf16" else [])
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env=environment(args)).stdout
    wall = time.perf_counter() - t0
    result = json.loads(out.strip().splitlines()[-1])
    return {"process_s": wall, "train_s": result["train_s"], "step_s": result["step_s"],
            "mean_length": result["mean_length"], "peak_gib": result.get("peak_gib")}


def steady(step_s: list[float]) -> float:
    return statistics.median(step_s[1:] if len(step_s) > 1 else step_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--group", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="cuda: both sides on one GPU (peak memory: the CUDA allocator's)")
    ap.add_argument("--lr", type=float, default=1e-7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="bf16",
                    help="bf16 autocast over fp32 weights on both sides (TRL's default bf16=True; "
                         "rewardkit's autocast: bf16), or fp32 everywhere")
    ap.add_argument("--passive", action="store_true",
                    help="both sides with OMP_WAIT_POLICY=PASSIVE (the busy-CPU setting)")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="rk-bench-"))
    model = tmp / "model"
    subprocess.run([PY, "-m", "rewardkit", "tiny-model", "--out", str(model), "--layers",
                    str(args.layers), "--hidden", str(args.hidden), "--heads", str(args.heads),
                    "--seed", "0"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: dict[str, list[dict]] = {"rewardkit": [], "trl": []}
    for r in range(args.repeats):
        order = ["rewardkit", "trl"] if r % 2 == 0 else ["trl", "rewardkit"]
        for side in order:
            res = (run_rewardkit(model, args, tmp / f"rk-{r}") if side == "rewardkit"
                   else run_trl(model, args))
            results[side].append(res)
            print(f"repeat {r} {side:9s} process {res['process_s']:6.1f}s  train "
                  f"{res['train_s']:6.1f}s  step {steady(res['step_s']):5.2f}s  "
                  f"mean length {res['mean_length']:5.1f}", flush=True)

    def med(side: str, key) -> float:
        return statistics.median(key(x) for x in results[side])

    print(f"\nmachine: {describe()}; {args.prompts} prompts x {args.group} "
          f"completions, {args.max_new_tokens} new tokens max, {args.steps} steps, "
          f"tiny model {args.layers} layers x {args.hidden}, {args.precision}"
          f"{', OMP_WAIT_POLICY=PASSIVE' if args.passive else ''}")
    print(f"{'':24s}{'rewardkit':>10s}{'TRL':>10s}{'TRL/rewardkit':>15s}")
    for label, key in [("process wall (s)", lambda x: x["process_s"]),
                       ("training loop (s)", lambda x: x["train_s"]),
                       ("steady step (s)", lambda x: steady(x["step_s"])),
                       ("mean length (tokens)", lambda x: x["mean_length"]),
                       ("loop s per 1k tokens", lambda x: 1000 * x["train_s"] / (
                           x["mean_length"] * args.prompts * args.group * args.steps)),
                       ("peak memory (GiB)", lambda x: x["peak_gib"] or math.nan)]:
        rk, trl = med("rewardkit", key), med("trl", key)
        print(f"{label:24s}{rk:10.2f}{trl:10.2f}{trl / rk:15.2f}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)},
                                         "results": results}, indent=1))


if __name__ == "__main__":
    main()
