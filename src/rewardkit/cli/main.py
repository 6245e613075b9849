"""`rewardkit` command line: thin subcommands over library calls.

Each subcommand module has `register(subparsers)`, which adds its parser and sets `run`, a
function `(args) -> int`. User mistakes raise `UserError` and come out as one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from rewardkit.errors import UserError

# Subcommand modules, in the order `rewardkit --help` lists them.
COMMANDS = ["demo", "train", "sft", "eval", "compare", "score", "rewards", "tiny_model"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rewardkit",
        description="Rewards first: verifiers, length/efficiency rewards, GRPO-family RL, eval.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"rewardkit.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"rewardkit.cli.{name}":
                raise
            continue  # a subcommand not built yet
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # rewardkit draws its own progress; Hugging Face's per-file bars would interleave with it.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # OpenMP threads that spin while waiting make torch on a shared CPU (another job, reward
    # workers) pathologically slow: measured here, a tiny-model training step took 15 s with
    # the default policy and 0.2 s with PASSIVE while another process used both cores. Set
    # before torch loads; an explicit OMP_WAIT_POLICY in the environment wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as e:
        print(f"rewardkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rewardkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rewardkit rewards show x | head`
        sys.stderr.close()
        return 0


def entrypoint() -> None:
    sys.exit(main())
