"""`rewardkit tiny-model --out DIR`: write a randomly initialised tiny causal LM + tokenizer."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tiny-model",
        help="write a small randomly initialised model + tokenizer (no downloads)",
        description="Write a randomly initialised Qwen2-style causal LM with a character-level "
        "tokenizer in Hugging Face format, loadable with AutoModelForCausalLM.from_pretrained.",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--layers", type=int, default=2, help="transformer layers (default 2)")
    p.add_argument("--hidden", type=int, default=64, help="hidden size (default 64)")
    p.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed (default 0)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from transformers import AutoModelForCausalLM

    from rewardkit.errors import UserError
    from rewardkit.models.tiny import build_tiny_model, count_parameters

    for name in ("layers", "hidden", "heads"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.hidden % args.heads:
        raise UserError(f"--hidden ({args.hidden}) must be divisible by --heads ({args.heads})")
    out = build_tiny_model(
        args.out, layers=args.layers, hidden=args.hidden, heads=args.heads, seed=args.seed
    )
    n = count_parameters(AutoModelForCausalLM.from_pretrained(out))
    print(f"wrote {out} ({n:,} parameters: {args.layers} layers, hidden {args.hidden}, "
          f"{args.heads} heads, seed {args.seed})")
    return 0
