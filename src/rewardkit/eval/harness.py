"""The eval harness: sample n completions per problem, verify them as training does, summarise.

    samples, summary = evaluate(sampler, task, problems, n=4, max_new_tokens=512,
                                temperature=0.6, seed=0, rewards=[RewardSpec("kimi_length")])
    write_eval("runs/eval/x", samples, summary)   # samples.jsonl + summary.json

Correctness comes from the same `task.verify` that training uses and prompts from the same
`task.prompt` (nanochat's reward = evaluate), and `accuracy` has one definition in both places:
the share of all completions judged correct, an unjudged one (`None`) counting as not correct;
`accuracy_judged` beside it leaves the unjudged out. The two accuracies still differ where the
settings do (an eval at another temperature, with or without the chat template). The sampler is
anything with the `Sampler` protocol, so tests pass a scripted one and no model is needed.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardkit.eval.metrics import difficulty_of, summarize, vote_keys
from rewardkit.fileio import atomic_write_text, iter_jsonl, read_json
from rewardkit.rewards.combine import RewardScorer, RewardSpec, nan_to_none
from rewardkit.sampling.base import Sampler, SamplingParams
from rewardkit.tasks.base import Task
from rewardkit.types import Group, Problem
from rewardkit.verify import status_fractions, verify_groups, warn_if_failing


def default_budgets(max_new_tokens: int) -> list[int]:
    """Budgets for the accuracy-vs-budget curve: 1/8, 1/4, 1/2 and all of max_new_tokens.

    >>> default_budgets(1024)
    [128, 256, 512, 1024]
    """
    return sorted({b for b in (max_new_tokens // 8, max_new_tokens // 4, max_new_tokens // 2,
                               max_new_tokens) if b > 0})


def evaluate(
    sampler: Sampler,
    task: Task,
    problems: Sequence[Problem],
    *,
    n: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    rewards: Sequence[RewardSpec] | RewardScorer | None = None,
    budgets: Iterable[int] | None = None,
    top_p: float = 1.0,
    batch_size: int | None = None,
    model: str = "",
    data: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Sample `n` completions for each problem, verify, score; return (samples, summary).

    `samples` has one JSON-ready dict per completion, in problem order then sample order:
    problem_id, group (the index of the problem in `problems`), sample, prompt, completion,
    tokens, finish_reason, correct, status, answer (the task's extracted answer, or None), vote
    (the maj@k cluster: `vote_keys` with the task's `same_answer`), gold, difficulty (when the
    problem's meta has one), and with `rewards` also `rewards` {name: value or None} and `reward`
    (the weighted total as training computes it, `RewardScorer.total`: None where a primary
    reward is None).
    `summary` holds the metrics of `rewardkit.eval.metrics.summarize` plus the run's settings.

    Prompts go to the sampler in chunks of `batch_size` (all at once by default); chunk i is
    sampled with seed `seed + i`, so the samples depend on the batch size as well as the seed.
    Rewards see all groups as one batch at step 0 (stateful rewards start empty).
    """
    if n < 1 or max_new_tokens < 1:
        raise ValueError(f"need n >= 1 and max_new_tokens >= 1, got n={n}, "
                         f"max_new_tokens={max_new_tokens}")
    scorer = (rewards if isinstance(rewards, RewardScorer)
              else RewardScorer(list(rewards)) if rewards else None)
    budgets = default_budgets(max_new_tokens) if budgets is None else sorted(set(budgets))
    start = time.perf_counter()

    prompts = [task.prompt(p) for p in problems]
    size = batch_size or max(len(problems), 1)
    groups: list[Group] = []
    for i, lo in enumerate(range(0, len(problems), size)):
        params = SamplingParams(n=n, max_new_tokens=max_new_tokens, temperature=temperature,
                                top_p=top_p, seed=seed + i)
        chunk = sampler.sample(prompts[lo:lo + size], params)
        if len(chunk) != len(prompts[lo:lo + size]):
            raise RuntimeError(f"sampler returned {len(chunk)} groups for "
                               f"{len(prompts[lo:lo + size])} prompts")
        pending = []
        for problem, completions in zip(problems[lo:lo + size], chunk):
            if len(completions) != n:
                raise RuntimeError(f"sampler returned {len(completions)} completions for "
                                   f"problem {problem.id!r}, expected {n}")
            pending.append(Group(problem, tuple(completions), max_new_tokens))
        groups += verify_groups(task, pending)
        if progress is not None:
            progress(len(groups), len(problems))

    scores = scorer.score(groups, step=0) if scorer else None  # P arrays of (G, K)
    # a repeated wrong answer meets the same representatives again: judge each pair once
    same_answer = functools.lru_cache(maxsize=4096)(task.same_answer)
    samples: list[dict[str, Any]] = []
    for p, (group, prompt) in enumerate(zip(groups, prompts)):
        totals = scorer.total(scores[p]) if scorer else None  # (G,), as training totals
        difficulty = difficulty_of(group.problem.meta)
        answers = group.answers  # the verifier's extraction (verify_groups fills one per reply)
        votes = vote_keys(answers, group.correct, same_answer)  # (G,)
        for i, c in enumerate(group.completions):
            row: dict[str, Any] = {
                "problem_id": group.problem.id,
                "group": p,  # the draw: a problem drawn twice is two groups in the metrics
                "sample": i,
                "prompt": prompt,
                "completion": c.text,
                "tokens": c.num_tokens,
                "finish_reason": c.finish_reason,
                "correct": group.correct[i],
                "status": group.status[i],
                "answer": answers[i],
                "vote": votes[i],
                "gold": group.problem.answer,
            }
            if difficulty is not None:
                row["difficulty"] = difficulty
            if scorer:
                row["rewards"] = {
                    lab: nan_to_none(v) for lab, v in zip(scorer.labels, scores[p][i])
                }
                row["reward"] = nan_to_none(float(totals[i]))
            samples.append(row)

    summary = summarize(samples, n=n, budgets=budgets)
    summary.update(status_fractions(groups))  # verify/<status>_frac: counted, not hidden
    warn_if_failing(summary, where="this eval")
    if scorer:
        table = np.concatenate(scores) if scores else np.zeros((0, len(scorer.labels)))  # (S, K)
        summary["rewards"] = {
            lab: _nanmean(table[:, k]) for k, lab in enumerate(scorer.labels)
        }
    summary.update({
        "model": model,
        "data": data,
        "task": task.name,
        "n": n,
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "seed": seed,
        "num_problems": len(problems),
        "seconds": time.perf_counter() - start,
    })
    return samples, summary


def _nanmean(col: np.ndarray) -> float:
    col = col[~np.isnan(col)]
    return float(col.mean()) if col.size else math.nan


# -- writing --------------------------------------------------------------------------------------
def to_json(obj: Any) -> Any:
    """A copy with NaN/inf floats as None (JSON has no NaN) and numpy scalars as Python ones.

    >>> to_json({"a": float("nan"), "b": [np.float64(1.5), np.int64(2)]})
    {'a': None, 'b': [1.5, 2]}
    """
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_eval(out_dir: str | Path, samples: Sequence[dict], summary: dict) -> tuple[Path, Path]:
    """Write samples.jsonl, then summary.json (last, so its presence marks a finished eval)."""
    out = Path(out_dir)
    lines = "".join(json.dumps(to_json(s), ensure_ascii=False, allow_nan=False) + "\n"
                    for s in samples)
    atomic_write_text(out / "samples.jsonl", lines)
    atomic_write_text(out / "summary.json",
                      json.dumps(to_json(summary), indent=2, allow_nan=False) + "\n")
    return out / "samples.jsonl", out / "summary.json"


def read_eval(run_dir: str | Path) -> tuple[list[dict], dict]:
    """(samples, summary) of an eval folder written by write_eval; samples may be absent."""
    run = Path(run_dir)
    summary = read_json(run / "summary.json",
                        missing="no summary.json (not an eval or demo output folder?)")
    spath = run / "samples.jsonl"
    samples = [row for _, row in iter_jsonl(spath)] if spath.exists() else []
    return samples, summary
