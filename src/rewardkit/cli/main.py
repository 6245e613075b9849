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
from rewardkit.openmp import choose_wait_policy

# Subcommand modules, in the order `rewardkit --help` lists them.
COMMANDS = ["demo", "train", "sft", "eval", "compare", "score", "serve", "rewards", "tiny_model"]
# The ones that keep torch busy for long enough to care how its threads wait.
TORCH_HEAVY = {"demo", "train", "sft", "eval"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with `only` (a subcommand name), just that subcommand's
    module is imported: `rewardkit score` need not import what `eval` or `demo` import."""
    parser = argparse.ArgumentParser(
        prog="rewardkit",
        description="Rewards first: verifiers, length/efficiency rewards, GRPO-family RL, eval.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = [name for name in COMMANDS if name.replace("_", "-") == only]
    for name in chosen or COMMANDS:
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
    # Spinning OpenMP threads: about 2x faster on an idle CPU, pathological on a busy one
    # (rewardkit/openmp.py). Decided before any subcommand module imports torch.
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in TORCH_HEAVY:
        choose_wait_policy()
    args = build_parser(argv[0] if argv else None).parse_args(argv)
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
