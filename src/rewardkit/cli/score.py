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
from collections import Counter
from pathlib import Path

import numpy as np

from rewardkit.errors import UserError
from rewardkit.fileio import atomic_write, read_json
from rewardkit.rewards import RewardScorer, parse_spec
from rewardkit.rewards.combine import nan_to_none
from rewardkit.rollouts import batches_by_step, read_rollouts
from rewardkit.tasks import get_task
from rewardkit.verify import start_workers, status_fractions, verify_groups, warn_if_failing


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
    start_workers(task)  # the pool starts while the input is read and triaged
    scorer = RewardScorer([_spec(s, "--reward") for s in args.reward])
    advantage = _advantage(args.advantage) if args.advantage else None
    if args.load_state:
        scorer.load_state_dict(_read_state(args.load_state))

    out_lines: list[str] = []
    summary = _Summary(scorer.labels)
    for batch in batches_by_step(read_rollouts(args.input, task=args.task)):
        step = batch[0].step
        groups = verify_groups(task, [rec.group for rec in batch])
        warn_if_failing(status_fractions(groups), where=f"step {step}")
        scores = scorer.score(groups, step=step)  # P arrays of (G, K)
        totals = [scorer.total(s) for s in scores]  # P arrays of (G,)
        advs = advantage(groups, totals) if advantage else None
        scorer.end_step(groups, step=step)
        for p, (rec, group) in enumerate(zip(batch, groups)):
            line = dict(rec.raw)
            line["completions"] = [
                {**raw_c,
                 "correct": group.correct[i],
                 "status": group.status[i],
                 "rewards": {lab: nan_to_none(v) for lab, v in zip(scorer.labels, scores[p][i])},
                 "reward": nan_to_none(totals[p][i]),
                 **({"advantage": float(advs[p][i])} if advs is not None else {})}
                for i, raw_c in enumerate(rec.raw["completions"])
            ]
            out_lines.append(json.dumps(line, ensure_ascii=False))
            summary.add(group, scores[p], totals[p])

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


def _spec(text: str, flag: str):
    try:
        return parse_spec(text)
    except UserError as e:
        raise UserError(f"{flag}: {e}") from None


def _advantage(text: str):
    """A function (groups, totals) -> per-group advantages, padding ragged groups with NaN."""
    from rewardkit.advantages import compute_advantages

    spec = _spec(text, "--advantage")
    # Fail on an unknown name or parameter before reading any input.
    compute_advantages(spec.name, np.zeros((1, 2)), lengths=np.ones((1, 2)), max_new_tokens=1,
                       params=spec.params)

    def apply(groups, totals):
        width = max(len(g) for g in groups)
        rewards = np.full((len(groups), width), np.nan)  # (P, G), NaN-padded
        lengths = np.ones((len(groups), width))
        for p, (g, t) in enumerate(zip(groups, totals)):
            rewards[p, : len(g)] = t
            lengths[p, : len(g)] = g.lengths
        budgets = np.array([g.max_new_tokens for g in groups])  # (P,): CANON divides per group
        adv = compute_advantages(spec.name, rewards, lengths=lengths, max_new_tokens=budgets,
                                 params=spec.params)
        return [adv[p, : len(g)] for p, g in enumerate(groups)]

    return apply


def _read_state(path: Path) -> dict:
    state = read_json(path)
    if not isinstance(state, dict):
        raise UserError("expected a JSON object of reward states", where=str(path))
    return state


class _Summary:
    """Running totals for the table printed on stderr."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels
        self.columns: list[np.ndarray] = []
        self.totals: list[np.ndarray] = []
        self.correct: list[bool | None] = []
        self.lengths: list[int] = []
        self.status: Counter = Counter()
        self.groups = 0

    def add(self, group, scores: np.ndarray, totals: np.ndarray) -> None:
        self.groups += 1
        self.columns.append(scores)
        self.totals.append(totals)
        self.correct.extend(group.correct)
        self.lengths.extend(group.lengths)
        self.status.update(group.status)

    def print(self, output: Path | None) -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console(stderr=True)
        if not self.groups:
            console.print("no groups in the input")
            return
        scores = np.concatenate(self.columns)  # (N, K)
        table = Table(title=f"{self.groups} groups, {len(scores)} completions")
        for col in ("reward", "mean", "min", "max", "applies"):
            table.add_column(col, justify="left" if col == "reward" else "right")
        rows = [(lab, scores[:, k]) for k, lab in enumerate(self.labels)]
        rows.append(("total", np.concatenate(self.totals)))
        for name, col in rows:
            ok = col[~np.isnan(col)]
            stats = [f"{f(ok):.4f}" for f in (np.mean, np.min, np.max)] if len(ok) else ["-"] * 3
            table.add_row(name, *stats, f"{len(ok)}/{len(col)}")
        console.print(table)
        judged = [c for c in self.correct if c is not None]
        acc = f"{np.mean(judged):.3f}" if judged else "n/a"
        total = sum(self.status.values())
        statuses = ", ".join(f"{k}: {v} ({v / total:.1%})" for k, v in sorted(self.status.items()))
        console.print(f"accuracy {acc} | mean tokens {np.mean(self.lengths):.1f} | "
                      f"verifier {statuses}" + (f" | wrote {output}" if output else ""))
