"""`rewardkit compare`: one table, a Pareto plot and an HTML report across eval runs.

    rewardkit compare runs/eval/base runs/eval/grpo runs/eval/dler --out runs/compare

Each DIR is an `eval` output folder (summary.json, samples.jsonl) or a `demo` folder. Writes
table.md, pareto.png (accuracy vs mean tokens, Pareto front marked), budgets.png and a
self-contained report.html into --out, and prints the table as markdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare eval runs: table, Pareto plot, HTML report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="eval output folders")
    p.add_argument("--out", type=Path, default=Path("runs/compare"),
                   help="output folder (default: runs/compare)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rewardkit.eval.report import differing_settings, load_runs, markdown_table, write_report

    runs, samples_by_run = load_runs(args.dirs)
    paths = write_report(args.out, runs, samples_by_run, title="rewardkit compare")
    print(markdown_table(runs))
    differing = differing_settings(runs)
    if differing:
        print(f"\nnote: these runs differ in {', '.join(differing)}: compare with care")
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    return 0
