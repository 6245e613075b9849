r"""`rewardkit score`: score a file of saved rollouts with any rewards, as training would.

    rewardkit score --task math --reward accuracy --reward kimi_length:weight=0.4 \
        --advantage grpo --input rollouts.jsonl --output scored.jsonl

Reward names: `rewardkit rewards list` (and `rewardkit rewards show NAME` for the formula,
paper, parameters and defaults), or a dotted path to your own function (my_pkg.rewards.brevity).

Input: JSONL, one group per line (README, "Scoring saved rollouts"):

    {"id": "q1", "prompt": "...", "answer": "42", "max_new_tokens": 4096, "step": 0,
     "completions": [{"text": "...", "num_tokens": 812, "finish_reason": "stop"}, ...]}

`max_new_tokens` is required; `id`, `answer`, `meta` and `step` (0-based) are optional;
`finish_reason` ("stop" | "length") may be left out only below the budget.

Lines with the same `step` form one batch (GRPO-λ ranks a batch; stateful rewards such as HAPO
update after each batch), so a multi-step file replays training's reward semantics exactly.
`--load-state/--save-state` carry that memory across runs: one file scored in two halves gives
the same numbers as in one go.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rewardkit.errors import UserError
from rewardkit.tasks import get_task
from rewardkit.verify import start_workers


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score saved rollouts (JSONL) with rewards and advantages",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="task whose verifier judges correctness")
    p.add_argument("--reward", action="append", required=True, metavar="SPEC",
                   help="NAME or NAME:key=value,...,weight=w (repeatable)")
    p.add_argument("--advantage", metavar="SPEC", help="estimator NAME[:key=value,...]")
    p.add_argument("--input", required=True, type=Path, help="JSONL, one group per line")
    p.add_argument("--output", type=Path, help="JSONL out (default: stdout)")
    p.add_argument("--load-state", type=Path, help="reward state saved by an earlier run")
    p.add_argument("--save-state", type=Path, help="write the reward state after the last step")
    add_verify_flags(p)
    p.set_defaults(run=run)


def add_verify_flags(p: argparse.ArgumentParser) -> None:
    """--verify-workers / --verify-timeout: the verification pool (rewardkit.verify)."""
    p.add_argument("--verify-workers", type=int, metavar="N",
                   help="worker processes for slow checks (default: this machine's cores)")
    p.add_argument("--verify-timeout", type=float, metavar="S",
                   help="deadline per completion in seconds (default 5); overruns: 'timeout'")


def configure_verify(args: argparse.Namespace) -> None:
    from rewardkit.verify import configure

    for flag, value in (("--verify-workers", args.verify_workers),
                        ("--verify-timeout", args.verify_timeout)):
        if value is not None and not value > 0:
            raise UserError(f"{flag} must be > 0, got {value}")
    configure(workers=args.verify_workers, timeout_s=args.verify_timeout)


def run(args: argparse.Namespace) -> int:
    try:
        task = get_task(args.task)
    except KeyError as e:
        raise UserError(f"--task: {e}") from None
    configure_verify(args)
    start_workers(task)  # the pool starts while the rest loads and the input is triaged
    from rewardkit.fileio import atomic_write
    from rewardkit.rewards import RewardScorer
    from rewardkit.scoring import advantage_from_spec, parse_flag_spec, read_state, score_file

    scorer = RewardScorer([parse_flag_spec(s, "--reward") for s in args.reward])
    advantage = advantage_from_spec(args.advantage) if args.advantage else None
    if args.load_state:
        scorer.load_state_dict(read_state(args.load_state))
    out_lines, summary = score_file(args.input, task=task, task_name=args.task, scorer=scorer,
                                    advantage=advantage)
    if args.output:
        with atomic_write(args.output) as f:
            f.write("".join(line + "\n" for line in out_lines))
    else:
        sys.stdout.write("".join(line + "\n" for line in out_lines))
    if args.save_state:
        with atomic_write(args.save_state) as f:
            json.dump(scorer.state_dict(), f, indent=1)
    summary.print(args.output)
    return 0
