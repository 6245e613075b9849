"""`rewardkit demo`: the whole story on a CPU in minutes (see rewardkit/demo.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rewardkit.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    from rewardkit import demo

    p = sub.add_parser("demo", help="train a tiny overthinking model with and without length "
                       "rewards; compare accuracy and tokens", description=demo.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="default: runs/demo")
    p.add_argument("--quick", action="store_true", help="a few steps only (for tests)")
    p.add_argument("--model", type=Path, help="starting model (default: the packaged one)")
    defaults = demo.DemoSettings()
    p.add_argument("--steps", type=int, help=f"RL steps per run (default: {defaults.steps})")
    p.add_argument("--seed", type=int, default=0,
                   help="the training runs' seed (default 0); the held-out problems stay fixed")
    p.add_argument("--eval-problems", type=int,
                   help=f"held-out problems (default: {defaults.eval_problems})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from rewardkit import demo

    settings = demo.DemoSettings()
    if args.quick:
        settings = settings.quick()
    if args.steps is not None:
        settings = replace(settings, steps=args.steps)
    if args.eval_problems is not None:
        settings = replace(settings, eval_problems=args.eval_problems)
    settings = replace(settings, train_seed=args.seed)
    if args.out.exists() and any(args.out.iterdir()):
        raise UserError("output folder is not empty; pass another --out or remove it",
                        where=str(args.out))
    if args.model is not None and not (args.model / "config.json").is_file():
        raise UserError("not a model folder (no config.json)", where=str(args.model))
    demo.run_demo(args.out, settings, start_model=args.model)
    return 0
