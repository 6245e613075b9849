"""Peak memory and time of one training update against completion length, for a model with a
realistic vocabulary: a randomly initialised Qwen2-shaped model with Qwen2's 151,936-token
vocabulary, built locally (hidden 128, 2 layers, so that it runs on a 2-core CPU; the output
head, where long sequences run out of memory, has the real vocabulary).

One update = one row of 32 prompt + L completion tokens: `token_logprobs` with the entropy
logged (as the trainer's minibatch loss calls it), a policy-gradient loss, backward. Each
(source tree, L) runs in a fresh process; memory is the growth of the process's peak resident
set during the update (ru_maxrss after minus resident set before), time the update's wall time.
A process is refused more than `--budget-gb` of new address space, so an update that would
need more is reported as "> budget" instead of taking the machine's memory.

    PYTHONPATH=src python benchmarks/memory.py --before /tmp/rk-main/src --after src

`--before` is another checkout's `src` (e.g. `git worktree add /tmp/rk-main main`). Precision
is the trainer's default (`training_precision("auto", "auto")`: fp32 weights, bf16 autocast on
a CPU with native bf16). Times are indicative only on a shared CPU; memory is the point.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

LENGTHS = (512, 1024, 2048, 4096, 8192)
PROMPT = 32
SHAPE = dict(vocab_size=151_936, hidden_size=128, intermediate_size=352, num_hidden_layers=2,
             num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=16_384,
             tie_word_embeddings=True)  # Qwen2-0.5B's vocabulary and tied head; smaller layers


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def address_space_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def child(length: int, budget_gb: float) -> dict:
    """One update in this process; the result as a dict."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from rewardkit.precision import training_precision
    from rewardkit.train.policy import Row, collate, token_logprobs

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**SHAPE)).eval()
    device = torch.device("cpu")
    _, autocast = training_precision("auto", "auto", device)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, SHAPE["vocab_size"], (PROMPT + length,), generator=gen).tolist()
    batch = collate([Row(ids[:PROMPT], ids[PROMPT:], advantage=1.0)], pad_id=0, device=device)
    limit = address_space_bytes() + int(budget_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    before = rss_bytes()
    t0 = time.perf_counter()
    try:
        logp, _ = token_logprobs(model, batch, temperature=1.0, entropy=True, autocast=autocast)
        loss = -(logp * batch.advantages[:, None] * batch.mask).sum() / batch.mask.sum()
        loss.backward()
    except (RuntimeError, MemoryError) as e:  # the allocator refused: over the budget
        return {"length": length, "over_budget": True, "error": str(e).splitlines()[0][:120]}
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {"length": length, "over_budget": False, "peak_gb": (peak - before) / 2**30,
            "seconds": seconds, "autocast": str(autocast)}


def run(src: str, length: int, budget_gb: float) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(src), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "--child", str(length),
                          "--budget-gb", str(budget_gb)],
                         env=env, capture_output=True, text=True, check=False)
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if not lines:
        return {"length": length, "over_budget": True, "error": out.stderr.strip()[-200:]}
    return json.loads(lines[-1])


def cell(r: dict) -> str:
    return "> budget" if r["over_budget"] else f"{r['peak_gb']:.2f} GB, {r['seconds']:.1f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", help="the `src` directory of the checkout to compare against")
    ap.add_argument("--after", default="src")
    ap.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    ap.add_argument("--budget-gb", type=float, default=6.0)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.budget_gb)))
        return
    trees = {"before": args.before, "after": args.after} if args.before else {"after": args.after}
    results = {name: [] for name in trees}
    for length in args.lengths:
        for name, src in trees.items():
            r = run(src, length, args.budget_gb)
            results[name].append(r)
            print(name, json.dumps(r), flush=True)
    print(f"\n| new tokens | {' | '.join(trees)} |\n|---:|" + "---:|" * len(trees))
    for i, length in enumerate(args.lengths):
        print(f"| {length} | " + " | ".join(cell(results[n][i]) for n in trees) + " |")


if __name__ == "__main__":
    main()
