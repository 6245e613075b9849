"""Time the trainer's update (forward + backward) with each forward pass it could use.

The trainer's update at the settings of `trainer_vs_trl.py`: 64 completions (15 prompt tokens,
30-96 completion tokens by default) in length-sorted micro-batches of 16, log-probs and
entropy, backward. Variants, run in turn in one process for `--rounds` rounds so that machine
load hits all alike:

- the model's own decoder + chunked head (the trainer's path), fp32 and under bf16 autocast,
  with attention implementation "sdpa", "eager" and "rewardkit" (`train/attention.py`: plain
  matmuls for CPU bf16 sequences up to 160 positions, SDPA otherwise; the default).

The hand-written causal pass this replaced (`FastDecoder.hidden`) was timed against it with
`--hand-written` at commit 24ddc4f (BENCHMARKS.md).

    PYTHONPATH=src python benchmarks/update_ab.py --rounds 8
    PYTHONPATH=src python benchmarks/update_ab.py --rounds 8 --completion 200 400

bf16 rows are meaningful only on hardware with native bf16 (AVX512-BF16/AMX or CUDA).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from unittest import mock

import torch
from transformers import AutoModelForCausalLM

import rewardkit.train.policy as policy
from rewardkit.models.tiny import build_tiny_model
from rewardkit.train.policy import Row, collate, token_logprobs

BF16 = torch.bfloat16
# name -> (autocast dtype, attention implementation)
VARIANTS = {
    "model forward, fp32, sdpa": (None, "sdpa"),
    "model forward, fp32, rewardkit (default)": (None, "rewardkit"),
    "model forward, bf16, sdpa": (BF16, "sdpa"),
    "model forward, bf16, eager": (BF16, "eager"),
    "model forward, bf16, rewardkit (default)": (BF16, "rewardkit"),
}
DEFAULT = {None: "model forward, fp32, rewardkit (default)",
           BF16: "model forward, bf16, rewardkit (default)"}


def update(model, rows: list[Row], autocast, micro: int) -> None:
    for i in range(0, len(rows), micro):
        mb = collate(rows[i : i + micro], pad_id=0, device=torch.device("cpu"))
        logp, _ = token_logprobs(model, mb, temperature=1.0, entropy=True, autocast=autocast)
        (logp * mb.mask).sum().backward()
    model.zero_grad(set_to_none=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--micro", type=int, default=16)
    ap.add_argument("--completion", type=int, nargs=2, default=(30, 96),
                    help="shortest and longest completion, tokens (after a 15-token prompt)")
    args = ap.parse_args()

    path = build_tiny_model(tempfile.mkdtemp(prefix="rk-update-ab-"), layers=args.layers,
                            hidden=args.hidden, seed=0)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    rng = random.Random(0)
    lo, hi = args.completion
    rows = [Row(list(range(2, 17)), [rng.randrange(2, 100) for _ in range(rng.randint(lo, hi))],
                weight=1.0, reward=0.0, group=0) for _ in range(64)]
    rows.sort(key=lambda r: len(r.completion_ids))  # as the trainer's length-sorted micro-batches

    variants = VARIANTS
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for _ in range(args.rounds + 1):  # the first round warms every variant up and is dropped
        rng.shuffle(order)  # so that no variant always runs after the same one
        for name in order:
            autocast, attention = variants[name]
            model.set_attn_implementation(attention)
            # keep the implementation set here: the trainer would switch "sdpa" to "rewardkit"
            keep = mock.patch.object(policy, "use_rewardkit_attention", lambda m: None)
            with keep:
                t0 = time.perf_counter()
                update(model, rows, autocast, args.micro)
                times[name].append(time.perf_counter() - t0)
    print(f"update of 64 completions of {lo}-{hi} tokens after 15 prompt tokens, model "
          f"{args.layers} x {args.hidden}, micro-batches of {args.micro}, {args.rounds} rounds")
    print("ratio: median over rounds of the variant's time / the default's at its precision "
          "in the same round (load that lasts a round cancels out)")
    for name, ts in times.items():
        default = times[DEFAULT[variants[name][0]]]
        ratio = statistics.median(t / d for t, d in zip(ts[1:], default[1:]))
        print(f"{name:50s} median {statistics.median(ts[1:]):.3f} s  min {min(ts[1:]):.3f} s"
              f"  ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
