"""`rewardkit sft CONFIG [--set key=value ...]`: supervised warm start of a tiny arith model."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sft",
        help="supervised warm start of a tiny model on arith traces",
        description="Train a tiny model on generated arith traces (mostly verbose, partly "
        "concise) and write it with its tokenizer in Hugging Face format. Keys: see "
        "rewardkit.train.sft.SFTConfig.",
    )
    p.add_argument("config", help="YAML file (e.g. configs/sft_arith.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable), e.g. --set out=runs/start")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rewardkit.config import load_config
    from rewardkit.train.sft import SFTConfig, sft

    cfg = load_config(args.config, args.overrides, cls=SFTConfig)
    sft(cfg)
    return 0
