"""Time HFSampler against `model.generate` on a tiny random Qwen2 model (CPU or one GPU).

Both sample at the same settings (temperature, top_p, max_new_tokens, EOS) from the same model;
each run draws different tokens, so each prints the mean completion length it produced: a random
model samples EOS about 1% of steps, so lengths vary the way GRPO completions do. Runs alternate
between the methods so that load from other processes hits both; medians are printed.

    PYTHONPATH=src python benchmarks/sampler_speed.py                 # 16 and 64 completions
    PYTHONPATH=src python benchmarks/sampler_speed.py --threads 1 --runs 7 --layers 4 --hidden 256

Timings are wall-clock on whatever else the machine is doing: report them as noisy.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from rewardkit.models.tiny import build_tiny_model, count_parameters
from rewardkit.sampling.base import SamplingParams
from rewardkit.sampling.hf import HFSampler

PROMPTS = [
    "Natalia sold clips to 48 of her friends in April, and then half as many in May. How many?",
    "What is 17 * 23? Put the answer in \\boxed{}.",
    "A train travels 60 km in 45 minutes. What is its speed in km/h?",
    "Compute 1234 + 5678 - 910.",
    "Tom has 3 boxes of 12 eggs and breaks 5. How many eggs are left?",
    "If x + 7 = 19, what is x?",
    "What is the sum of the first 10 positive integers?",
    "A rectangle is 7 by 9. What is its area?",
]


def time_sampler(sampler: HFSampler, prompts: list[str], params: SamplingParams):
    t0 = time.perf_counter()
    groups = sampler.sample(prompts, params)
    dt = time.perf_counter() - t0
    lengths = [c.num_tokens for g in groups for c in g]
    return dt, sum(lengths) / len(lengths)


def time_generate(model, tok, prompts: list[str], params: SamplingParams, cache: str | None):
    enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left").to(model.device)
    torch.manual_seed(params.seed)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            **enc,
            do_sample=params.temperature > 0,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=0,
            max_new_tokens=params.max_new_tokens,
            num_return_sequences=params.n,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            cache_implementation=cache,
        )
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    gen = out[:, enc["input_ids"].shape[1] :]  # (P*n, T)
    # generated tokens up to and including the first EOS (generate pads after it)
    is_eos = gen == tok.eos_token_id
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1) + 1, gen.shape[1])
    return dt, first.float().mean().item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--static", action="store_true", help="also time generate with StaticCache")
    ap.add_argument(
        "--no-compact", action="store_true", help="also time HFSampler without row compaction"
    )
    ap.add_argument(
        "--no-fast", action="store_true", help="also time HFSampler stepping through model(...)"
    )
    ap.add_argument("--sizes", default="2x8,8x8", help="prompts x completions, comma separated")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as d:
        sampler = HFSampler.from_pretrained(
            str(build_tiny_model(d, layers=args.layers, hidden=args.hidden, heads=args.heads)),
            device=args.device,
        )
    model, tok = sampler.model, sampler.tokenizer
    print(
        f"model: {count_parameters(model) / 1e6:.2f}M params, {args.layers} layers, hidden "
        f"{args.hidden}; device {model.device}, {torch.get_num_threads()} threads; "
        f"max_new_tokens {args.max_new_tokens}, temperature {args.temperature}, "
        f"top_p {args.top_p}; {args.runs} alternating runs, median seconds"
    )
    methods = {"HFSampler": lambda p, sp: time_sampler(sampler, p, sp)}
    if args.no_compact:
        no_compact = HFSampler(model, tok, compact_fraction=1.0)
        methods["HFSampler (no compaction)"] = lambda p, sp: time_sampler(no_compact, p, sp)
    if args.no_fast:
        no_fast = HFSampler(model, tok, fast_decode=False)
        methods["HFSampler (model forward)"] = lambda p, sp: time_sampler(no_fast, p, sp)
    methods["generate"] = lambda p, sp: time_generate(model, tok, p, sp, None)
    if args.static:
        methods["generate (static cache)"] = lambda p, sp: time_generate(
            model, tok, p, sp, "static"
        )

    for size in args.sizes.split(","):
        n_prompts, n = (int(x) for x in size.split("x"))
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(n_prompts)]
        times: dict[str, list[float]] = {m: [] for m in methods}
        lengths: dict[str, list[float]] = {m: [] for m in methods}
        params = SamplingParams(
            n=n,
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_p=args.top_p,
        )
        for fn in methods.values():  # warm-up, untimed
            fn(prompts, params)
        order = list(methods)
        for run in range(args.runs):
            params = SamplingParams(
                n=n,
                max_new_tokens=args.max_new_tokens,
                temperature=args.temperature,
                top_p=args.top_p,
                seed=run,
            )
            for name in order if run % 2 == 0 else order[::-1]:
                dt, mean_len = methods[name](prompts, params)
                times[name].append(dt)
                lengths[name].append(mean_len)
        base = statistics.median(times["generate"])
        print(f"\n{n_prompts} prompts x {n} = {n_prompts * n} completions")
        for name in methods:
            med = statistics.median(times[name])
            print(
                f"  {name:28s} {med:7.3f} s  (runs {', '.join(f'{t:.2f}' for t in times[name])})"
                f"  mean tokens {statistics.mean(lengths[name]):5.1f}  "
                f"generate/this = {base / med:4.2f}x"
            )


if __name__ == "__main__":
    main()
