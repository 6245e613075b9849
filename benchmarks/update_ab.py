"""Time the trainer's update (forward + backward) with each forward pass it could use.

The trainer's update at the settings of `trainer_vs_trl.py`: 64 completions (15 prompt tokens,
30-96 completion tokens) in length-sorted micro-batches of 16, log-probs and entropy, backward.
Variants, run in turn in one process for `--rounds` rounds so that machine load hits all alike:

- the model's own forward (`FastDecoder.build` disabled), fp32 and under bf16 autocast, with
  SDPA and with `attn_implementation="eager"`;
- the hand-written causal pass (`FastDecoder.hidden`), fp32, bf16 with SDPA everywhere, and
  bf16 with plain-matmul attention for short sequences (the trainer's default).

    PYTHONPATH=src python benchmarks/update_ab.py --rounds 8

bf16 rows are meaningful only on hardware with native bf16 (AVX512-BF16/AMX or CUDA).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import time
from unittest import mock

import torch
from transformers import AutoModelForCausalLM

import rewardkit.sampling._fast_decode as fast_decode
from rewardkit.models.tiny import build_tiny_model
from rewardkit.train.policy import Row, collate, token_logprobs

BF16 = torch.bfloat16
# name -> (autocast dtype, hand-written pass?, attention implementation of the model's forward,
#          longest sequence for the hand-written pass's matmul attention)
VARIANTS = {
    "model forward, fp32": (None, False, "sdpa", 0),
    "hand-written pass, fp32": (None, True, "sdpa", 0),
    "model forward, bf16, sdpa": (BF16, False, "sdpa", 0),
    "hand-written pass, bf16, sdpa": (BF16, True, "sdpa", 0),
    "model forward, bf16, eager": (BF16, False, "eager", 0),
    "hand-written pass, bf16, matmul (default)": (
        BF16, True, "sdpa", fast_decode.MATMUL_ATTENTION_MAX_LEN),
}


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
    args = ap.parse_args()

    path = build_tiny_model(tempfile.mkdtemp(prefix="rk-update-ab-"), layers=args.layers,
                            hidden=args.hidden, seed=0)
    model = AutoModelForCausalLM.from_pretrained(path).train()
    rng = random.Random(0)
    rows = [Row(list(range(2, 17)), [rng.randrange(2, 100) for _ in range(rng.randint(30, 96))],
                weight=1.0, reward=0.0, group=0) for _ in range(64)]
    rows.sort(key=lambda r: len(r.completion_ids))  # as the trainer's length-sorted micro-batches

    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds + 1):  # the first round warms every variant up and is dropped
        for name, (autocast, hand_written, attention, max_len) in VARIANTS.items():
            model.set_attn_implementation(attention)
            model_forward = (contextlib.nullcontext() if hand_written else  # no fused pass
                             mock.patch.object(fast_decode.FastDecoder, "build", return_value=None))
            with mock.patch.object(fast_decode, "MATMUL_ATTENTION_MAX_LEN", max_len), model_forward:
                t0 = time.perf_counter()
                update(model, rows, autocast, args.micro)
                times[name].append(time.perf_counter() - t0)
    print(f"update of 64 completions, micro-batches of {args.micro}, {args.rounds} rounds")
    for name, ts in times.items():
        print(f"{name:45s} median {statistics.median(ts[1:]):.3f} s  min {min(ts[1:]):.3f} s")


if __name__ == "__main__":
    main()
