"""Per-step metrics (stable names, ARCHITECTURE section 5) and where they go: metrics.jsonl,
samples/step-N.jsonl, a rich progress bar, and TensorBoard when it is installed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections import defaultdict
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardkit.fileio import atomic_write_text
from rewardkit.rewards.combine import nan_to_none, total_reward
from rewardkit.train.checkpoint import append_jsonl
from rewardkit.train.filters import zero_variance_fraction
from rewardkit.types import Group

if TYPE_CHECKING:
    from rewardkit.config import TrainConfig

log = logging.getLogger("rewardkit.train")

SAMPLES_PER_STEP = 4


PER_TOKEN_ARRAYS = ("token_ids", "logprobs", "entropies", "unconditional_logprobs")


def slim_group(group: Group, *, keep: Collection[str] = ()) -> Group:
    """The group as metrics, samples and stateful rewards see it after a step: text, lengths,
    finish reasons, verdicts and answers, without the per-token arrays (token ids, log-probs,
    entropies) except those named in `keep` (what batch-level rewards declared with `@needs`),
    so ranks exchange kilobytes rather than every token of every completion. The same in one
    process, so a reward sees the same groups at any world size.
    """
    dropped = {f: None for f in PER_TOKEN_ARRAYS if f not in keep}
    slim = tuple(dataclasses.replace(c, **dropped) for c in group.completions)
    return dataclasses.replace(group, completions=slim)


def _mean(values: Sequence[float] | np.ndarray) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else math.nan


def accuracies(correct: Sequence[bool | None]) -> dict[str, float]:
    """`accuracy` (share of all completions judged correct: an unjudged `None` counts as not
    correct, as in `rewardkit eval`) and `accuracy_judged` (share of the judged ones); NaN when
    there is nothing to average.

    >>> accuracies([True, False, None, True])  # 2 of 4; 2 of the 3 judged
    {'accuracy': 0.5, 'accuracy_judged': 0.6666666666666666}
    """
    judged = [c for c in correct if c is not None]
    return {
        "accuracy": sum(c is True for c in correct) / len(correct) if correct else math.nan,
        "accuracy_judged": sum(judged) / len(judged) if judged else math.nan,
    }


def rollout_metrics(groups: Sequence[Group], scores: Sequence[np.ndarray], labels: Sequence[str],
                    weights: np.ndarray, primary: np.ndarray | None = None) -> dict[str, float]:
    """Reward, accuracy and length statistics over every completion sampled this step.

    >>> from rewardkit.testing import make_group
    >>> g = make_group(lengths=[4, 10], correct=[True, False], max_new_tokens=10)
    >>> m = rollout_metrics([g], [np.array([[1.0], [0.0]])], ["accuracy"], np.array([1.0]))
    >>> m["accuracy"], m["length/correct_mean"], m["length/truncated_frac"], m["reward/mean"]
    (0.5, 4.0, 0.5, 0.5)
    """
    totals = [total_reward(s, weights, primary) for s in scores]  # P arrays (G,)
    flat = np.concatenate(totals) if totals else np.zeros(0)
    lengths = np.array([n for g in groups for n in g.lengths], dtype=np.float64)
    correct = [c for g in groups for c in g.correct]
    ok = np.array([c is True for c in correct])
    wrong = np.array([c is False for c in correct])
    judged = [c for c in correct if c is not None]
    truncated = [c.truncated for g in groups for c in g.completions]
    out = {"reward/mean": _mean(flat),
           "reward/std": float(np.nanstd(flat)) if flat.size else math.nan}
    stacked = np.concatenate(scores) if scores else np.zeros((0, len(labels)))  # (P*G, K)
    for k, label in enumerate(labels):
        out[f"reward/{label}/mean"] = _mean(stacked[:, k])
    out.update(accuracies(correct))
    out["unjudged_frac"] = 1.0 - len(judged) / len(correct) if correct else math.nan
    out["length/mean"] = _mean(lengths)
    out["length/correct_mean"] = _mean(lengths[ok]) if ok.any() else math.nan
    out["length/wrong_mean"] = _mean(lengths[wrong]) if wrong.any() else math.nan
    out["length/truncated_frac"] = float(np.mean(truncated)) if truncated else math.nan
    out["groups/zero_variance_frac"] = zero_variance_fraction(totals)
    return out


def sample_rows(step: int, groups: Sequence[Group], scores: Sequence[np.ndarray],
                labels: Sequence[str], weights: np.ndarray, prompts: Sequence[str],
                n: int = SAMPLES_PER_STEP, primary: np.ndarray | None = None
                ) -> list[dict[str, Any]]:
    """The first `n` completions of the step, with their verdicts and rewards, for samples/."""
    rows = []
    for group, score, prompt in zip(groups, scores, prompts):
        totals = total_reward(score, weights, primary)
        for i, c in enumerate(group.completions):
            if len(rows) == n:
                return rows
            rows.append({
                "step": step, "id": group.problem.id, "prompt": prompt,
                "answer": group.problem.answer, "text": c.text, "num_tokens": c.num_tokens,
                "finish_reason": c.finish_reason, "correct": group.correct[i],
                "rewards": {lab: nan_to_none(float(v)) for lab, v in zip(labels, score[i])},
                "reward": nan_to_none(float(totals[i])),
            })
    return rows


def clean(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: undefined metrics (no correct completion, ...) are written as null."""
    return {k: nan_to_none(v) if isinstance(v, float) else v for k, v in row.items()}


class RunLog:
    """metrics.jsonl + samples/ + optional TensorBoard + a progress bar (rank 0 only)."""

    def __init__(self, out: Path, *, total_steps: int, start_step: int, enabled: bool,
                 progress: bool = True) -> None:
        self.out, self.enabled = Path(out), enabled
        self.tb = self.progress = None
        self._last_warned: dict[str, int] = {}
        if not enabled:
            return
        (self.out / "samples").mkdir(parents=True, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.out / "tensorboard"))
        except ImportError:  # tensorboard is optional
            pass
        if not progress:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("step"), MofNCompleteColumn(), BarColumn(),
            TextColumn("{task.fields[info]}"),
            console=Console(stderr=True), transient=False,
        )
        self.task = self.progress.add_task("train", total=total_steps, completed=start_step,
                                           info="")
        self.progress.start()

    def step(self, row: dict[str, Any], samples: list[dict[str, Any]]) -> None:
        if not self.enabled:
            return
        row = clean(row)
        append_jsonl(self.out / "metrics.jsonl", row)
        atomic_write_text(self.out / "samples" / f"step-{row['step']}.jsonl",
                     "".join(json.dumps(s) + "\n" for s in samples))
        if self.tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "step":
                    self.tb.add_scalar(k, v, row["step"])

        def fmt(key: str, spec: str) -> str:
            return "-" if row.get(key) is None else format(row[key], spec)

        if self.progress is None:
            return
        info = (f"reward {fmt('reward/mean', '.3f')}  acc {fmt('accuracy', '.3f')}  "
                f"len {fmt('length/mean', '.1f')}  {fmt('time/step_s', '.2f')} s/step")
        self.progress.update(self.task, completed=row["step"], info=info)

    def warn(self, key: str, step: int, message: str, *, every: int = 20) -> None:
        """A warning at most once per `every` steps for the same condition."""
        if self.enabled and step - self._last_warned.get(key, -every) >= every:
            self._last_warned[key] = step
            log.warning("step %d: %s", step, message)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self.tb is not None:
            self.tb.close()


class StepStats:
    """Loss statistics over one step's minibatches, updates and ranks: `*_min` keys are a true
    minimum, `*_max` keys a true maximum, every other key a mean weighted by the tokens on the
    mask. NaN values (nothing on a minibatch's mask) are left out, not counted as 0."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.weights: dict[str, float] = defaultdict(float)
        self.extremes: dict[str, float] = {}

    def add(self, values: dict[str, float], *, weight: float) -> None:
        for k, v in values.items():
            if not math.isfinite(v):
                continue
            if k.endswith("_min") or k.endswith("_max"):
                pick = min if k.endswith("_min") else max
                self.extremes[k] = pick(self.extremes.get(k, v), v)
            elif weight > 0:
                self.sums[k] += v * weight
                self.weights[k] += weight

    def reduce(self, dist: Any) -> dict[str, float]:
        """The statistics over every rank (`dist`: a train.dist.Dist, or anything with its
        `gather`), from one exchange of each rank's sums, weights and extremes."""
        parts = dist.gather([(dict(self.sums), dict(self.weights), self.extremes)])  # per rank
        keys = sorted(set().union(*(set(sums) | set(extremes) for sums, _, extremes in parts)))
        out = {}
        for k in keys:
            if k.endswith("_min") or k.endswith("_max"):
                found = [e[k] for _, _, e in parts if k in e]  # finite: `add` keeps no NaN
                pick = min if k.endswith("_min") else max
                out[k] = pick(found) if found else math.nan
            else:
                w = sum(weights.get(k, 0.0) for _, weights, _ in parts)
                total = sum(sums.get(k, 0.0) for sums, _, _ in parts)
                out[k] = total / w if w > 0 else math.nan
        return out


def peak_memory(device: Any) -> dict[str, float]:
    """Peak memory so far, in GiB: the CUDA caching allocator's peak on a GPU
    (`memory/cuda_peak_gib`, what the model, activations and optimizer state took at most) and
    this process's peak resident set (`memory/rss_peak_gib`, where the OS reports it)."""
    out = {}
    if getattr(device, "type", None) == "cuda":
        import torch

        out["memory/cuda_peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    try:
        import resource
        import sys

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS
        out["memory/rss_peak_gib"] = kib / (2**30 if sys.platform == "darwin" else 2**20)
    except (ImportError, OSError):  # not POSIX
        pass
    return out


def warn_if_unhealthy(run_log: RunLog, cfg: TrainConfig, step: int, row: dict[str, Any]
                      ) -> None:
    """Warn (through the run log) when verification fails for more than `verify.max_failed_frac`
    of the verdicts (every step), or, at most every 20 steps per kind, when most groups carry no
    signal or most completions hit the budget."""
    from rewardkit.verify import failed_fraction

    failed = failed_fraction({k: v for k, v in row.items() if k.startswith("verify/")})
    if failed > cfg.verify.max_failed_frac:
        shares = ", ".join(f"{k[7:-5]} {v:.1%}" for k, v in row.items()
                           if k.startswith("verify/") and k != "verify/ok_frac" and v)
        run_log.warn("verify", step, f"VERIFICATION FAILING: {failed:.1%} of verdicts could not "
                     f"be judged ({shares}; limit {cfg.verify.max_failed_frac:.1%})", every=1)
    if row["groups/zero_variance_frac"] > 0.5:
        hint = "" if cfg.filters.dynamic_sampling else "filters.dynamic_sampling, "
        run_log.warn("zero_var", step, f"{row['groups/zero_variance_frac']:.0%} of groups have "
                     f"equal rewards (no signal); try {hint}larger groups or a denser reward")
    if row["length/truncated_frac"] > 0.5:
        run_log.warn("truncated", step, f"{row['length/truncated_frac']:.0%} of completions hit "
                     "max_new_tokens; consider a larger budget or a length/truncation reward")
