"""Scoring saved rollouts as training would: verdicts, rewards (stateful ones batch by batch),
optional advantages, and the summary `rewardkit score` prints. The CLI (`cli/score.py`) imports
this only once the verification pool is starting, so numpy, the rewards and rich load while the
forkserver imports math-verify on the other core.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from rewardkit.errors import UserError
from rewardkit.fileio import read_json
from rewardkit.rewards import RewardScorer, parse_spec
from rewardkit.rewards.combine import nan_to_none
from rewardkit.rollouts import batches_by_step, read_rollouts
from rewardkit.tasks.base import Task
from rewardkit.verify import status_fractions, verify_groups, warn_if_failing

Advantage = Callable[[Sequence, Sequence[np.ndarray]], list[np.ndarray]]


def score_file(path: Path, *, task: Task, task_name: str, scorer: RewardScorer,
               advantage: Advantage | None) -> tuple[list[str], Summary]:
    """Each input line with `correct`, `status`, `rewards`, `reward` (and `advantage`) added to
    its completions, as JSON lines; and the running summary. Lines with one `step` form a
    batch; stateful rewards learn from a batch after it is scored."""
    out_lines: list[str] = []
    summary = Summary(scorer.labels)
    for batch in batches_by_step(read_rollouts(path, task=task_name)):
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
    return out_lines, summary


def parse_flag_spec(text: str, flag: str):
    """`parse_spec(text)`, its error naming the command-line flag it came from."""
    try:
        return parse_spec(text)
    except UserError as e:
        raise UserError(f"{flag}: {e}") from None


def advantage_from_spec(text: str) -> Advantage:
    """A function (groups, totals) -> per-group advantages, padding ragged groups with NaN."""
    from rewardkit.advantages import compute_advantages

    spec = parse_flag_spec(text, "--advantage")
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


def read_state(path: Path) -> dict:
    """Reward state saved by `score --save-state` (also read by `serve --load-state`)."""
    state = read_json(path)
    if not isinstance(state, dict):
        raise UserError("expected a JSON object of reward states", where=str(path))
    return state


class Summary:
    """Running totals for the table `rewardkit score` prints on stderr."""

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
