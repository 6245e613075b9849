"""`rewardkit demo`: length-aware rewards cut an overthinking model's tokens, not its accuracy.

The story of the efficient-reasoning papers, in miniature and on a laptop CPU:

1. `start`: a tiny model that rewardkit trained itself (`rewardkit sft configs/sft_arith.yaml`,
   shipped in the package) solves `arith` problems, but mostly in a verbose style: it restates
   the problem, re-checks steps and says "wait, let me verify" before answering.
2. `accuracy-only`: GRPO with the correctness reward alone. Accuracy holds or rises; nothing asks
   for fewer tokens, so the verbose style stays.
3. length-aware recipes: the same GRPO run plus a published length reward. They keep the
   accuracy and drop most of the tokens.

Every run is evaluated on the same 200 distinct held-out problems, sampling 4 replies per problem
at temperature 0.6 as the reasoning papers do. The folder gets `summary.json`,
`pareto.png`, `report.html` (tables, plots, sample completions before and after), one
`<run>/eval/` folder per run (usable with `rewardkit compare`) and the training runs themselves.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rewardkit.config import (
    AdvantageConfig,
    CheckpointConfig,
    LossConfig,
    OptimConfig,
    RewardConfig,
    SamplingConfig,
    TrainConfig,
)
from rewardkit.fileio import atomic_write_text
from rewardkit.models.tiny import start_model_path


@dataclass(frozen=True)
class Recipe:
    name: str
    rewards: tuple[RewardConfig, ...]
    about: str
    max_new_tokens: int | None = None
    """a tighter sampling budget than the demo's (DLER-style truncation)"""


ACCURACY = RewardConfig("accuracy")
RECIPES: tuple[Recipe, ...] = (
    Recipe("accuracy-only", (ACCURACY,), "GRPO with the correctness reward alone"),
    Recipe("kimi_length", (ACCURACY, RewardConfig("kimi_length", 0.4)),
           "Kimi k1.5's group-relative length reward, weight 0.4"),
    Recipe("laser_d", (ACCURACY, RewardConfig("laser_d", 1.0, {
        "alpha": 0.5, "update_every": 5, "grid_start": 16, "grid_step": 8})),
        "LASER-D: +0.5 for correct answers under a per-difficulty target length, re-estimated "
        "from recent rollouts"),
    Recipe("dler_truncation", (ACCURACY,),
           "DLER: accuracy only, sampled with a tight budget, so a cut-off reply scores 0",
           max_new_tokens=64),
)


@dataclass(frozen=True)
class DemoSettings:
    """Everything that sizes the demo; `quick()` is the version the tests run."""

    steps: int = 80
    prompts_per_step: int = 8
    group_size: int = 8
    max_new_tokens: int = 256
    lr: float = 1e-4
    temperature: float = 0.6
    """rollout temperature during RL (LASER's setting, PAPERS.md 3A.2)"""
    eval_problems: int = 200
    eval_samples: int = 4
    eval_temperature: float = 0.6
    """sampled as the reasoning papers evaluate (DeepSeek-R1: T=0.6, several samples); greedy
    decoding would hide the verbose half of the starting model's distribution"""
    seed: int = 0
    """draws the held-out problems and the evaluation's samples: fixed, so that runs trained
    with different `train_seed`s are compared on the same problems"""
    train_seed: int = 0
    """the training runs' seed (their problem order and sampling): a second value tells a
    recipe's effect from one draw's luck"""
    recipes: tuple[Recipe, ...] = RECIPES

    def quick(self) -> DemoSettings:
        return replace(self, steps=2, prompts_per_step=2, group_size=4, eval_problems=8)


def train_config(settings: DemoSettings, recipe: Recipe, model: Path) -> TrainConfig:
    return TrainConfig(
        model=str(model),
        task="arith",
        seed=settings.train_seed,
        steps=settings.steps,
        prompts_per_step=settings.prompts_per_step,
        device="cpu",
        sampling=SamplingConfig(group_size=settings.group_size,
                                max_new_tokens=recipe.max_new_tokens or settings.max_new_tokens,
                                temperature=settings.temperature),
        rewards=list(recipe.rewards),
        advantage=AdvantageConfig("grpo"),
        # One on-policy update per batch (fast on a CPU): every ratio is 1, so no clip bound acts
        # and none is set beyond the loss's own.
        loss=LossConfig(name="clip", aggregation="token_mean"),
        optim=OptimConfig(lr=settings.lr, minibatch_size=settings.prompts_per_step
                          * settings.group_size, max_grad_norm=1.0),
        checkpoint=CheckpointConfig(every=0, keep=1),
    )


def evaluate_model(model: Path, settings: DemoSettings) -> tuple[list[dict], dict]:
    """Sampled completions on the held-out problems, verified as in training."""
    from rewardkit.eval import evaluate
    from rewardkit.sampling.hf import HFSampler
    from rewardkit.tasks import get_task

    task = get_task("arith")
    # distinct problems (the split holds 7 one-step additions, so 200 draws once had repeats)
    problems = task.problems("test", settings.eval_problems, settings.seed, distinct=True)
    sampler = HFSampler.from_pretrained(str(model), device="cpu")
    return evaluate(sampler, task, problems, n=settings.eval_samples,
                    max_new_tokens=settings.max_new_tokens, temperature=settings.eval_temperature,
                    seed=settings.seed, model=str(model), data="arith:test")


def run_demo(out: Path, settings: DemoSettings, *, start_model: Path | None = None,
             say: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train and evaluate every run into `out`; return the summary rows."""
    from rewardkit.eval import write_eval
    from rewardkit.eval.harness import to_json
    from rewardkit.eval.report import markdown_table, write_report
    from rewardkit.train.checkpoint import latest_checkpoint
    from rewardkit.train.loop import train

    start_model = start_model or start_model_path()
    out.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    samples_by_run: dict[str, list[dict]] = {}
    total = len(settings.recipes) + 1
    began = time.perf_counter()

    def record(name: str, about: str, model: Path, seconds_training: float) -> None:
        t0 = time.perf_counter()
        samples, summary = evaluate_model(model, settings)
        write_eval(out / name / "eval", samples, summary)
        runs.append({"name": name, "about": about, **summary,
                     "train_seconds": round(seconds_training, 1)})
        samples_by_run[name] = samples
        say(f"    accuracy {summary['accuracy']:.3f}, mean tokens {summary['mean_tokens']:.1f} "
            f"(eval {time.perf_counter() - t0:.0f}s; {time.perf_counter() - began:.0f}s so far)")

    say(f"[1/{total}] start: the shipped warm-start model, evaluated on "
        f"{settings.eval_problems} held-out problems x {settings.eval_samples} samples")
    record("start", "the supervised warm start, before RL", start_model, 0.0)
    for i, recipe in enumerate(settings.recipes, 2):
        say(f"[{i}/{total}] {recipe.name}: {recipe.about} ({settings.steps} steps of "
            f"{settings.prompts_per_step} prompts x {settings.group_size} completions)")
        run_dir = out / recipe.name
        t0 = time.perf_counter()
        train(train_config(settings, recipe, start_model), run_dir, progress=True)
        found = latest_checkpoint(run_dir)
        if found is None:
            raise RuntimeError(f"training {recipe.name} left no checkpoint in {run_dir}")
        record(recipe.name, recipe.about, found[1], time.perf_counter() - t0)

    summary = {"runs": runs, "settings": {
        "steps": settings.steps, "prompts_per_step": settings.prompts_per_step,
        "group_size": settings.group_size, "max_new_tokens": settings.max_new_tokens,
        "lr": settings.lr, "eval_problems": settings.eval_problems, "seed": settings.seed,
        "train_seed": settings.train_seed,
        "seconds": round(time.perf_counter() - began, 1)}}
    atomic_write_text(out / "summary.json", json.dumps(to_json(summary), indent=1))
    write_report(out, runs, samples_by_run, title="rewardkit demo: fewer tokens, same accuracy")
    say("")
    say(markdown_table(runs))
    say(headline(runs))
    say(f"\nwrote {out}/summary.json, pareto.png and report.html "
        f"in {time.perf_counter() - began:.0f}s")
    return runs


def headline(runs: Sequence[dict[str, Any]]) -> str:
    """One sentence comparing the best length-aware run with the accuracy-only run."""
    by_name = {r["name"]: r for r in runs}
    base = by_name.get("accuracy-only")
    others = [r for r in runs if r["name"] not in ("start", "accuracy-only")]
    if base is None or not others:
        return ""
    best = min(others, key=lambda r: r["mean_tokens"])
    cut = 1 - best["mean_tokens"] / base["mean_tokens"]
    delta = 100 * (best["accuracy"] - base["accuracy"])
    return (f"{best['name']} uses {100 * cut:.0f}% fewer tokens than accuracy-only "
            f"({best['mean_tokens']:.0f} vs {base['mean_tokens']:.0f}) at "
            f"{delta:+.1f} accuracy points")
