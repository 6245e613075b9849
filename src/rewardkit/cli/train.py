"""`rewardkit train CONFIG.yaml [--set key=value ...] [--out DIR] [--resume] [--print-config]`"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="GRPO-family RL training from a YAML recipe",
                       description="Train a policy with the rewards, estimator and loss of a "
                                   "config file (see configs/). Runs write into --out.")
    p.add_argument("config", help="YAML config (e.g. configs/grpo.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key by dotted path, e.g. --set optim.lr=1e-5")
    p.add_argument("--out", help="run directory (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest complete checkpoint in --out")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar and no warnings (metrics are still written)")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config and exit")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rewardkit.config import dump_config, load_config

    cfg = load_config(args.config, args.overrides)
    if args.print_config:
        print(dump_config(cfg), end="")
        return 0
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.INFO,
                        format="rewardkit: %(message)s", stream=sys.stderr)
    from rewardkit.train.loop import train
    from rewardkit.train.optimizer import TrainingError

    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    try:
        train(cfg, out, resume=args.resume, progress=not args.quiet)
    except TrainingError as e:
        print(f"rewardkit: training stopped: {e}", file=sys.stderr)
        return 1
    from accelerate import PartialState  # the process state the run set up

    if PartialState().is_main_process:  # once under `accelerate launch`
        print(f"rewardkit: run written to {out}", file=sys.stderr)
    return 0
