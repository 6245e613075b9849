r"""`rewardkit eval`: sample a model on a benchmark, verify as training does, write the numbers.

    rewardkit eval --model runs/x/checkpoints/step-200 --data gsm8k --limit 200 --n 4 \
        --max-new-tokens 512 --temperature 0.6 --out runs/eval/x
    rewardkit eval --model DIR --data aime24.jsonl --task math --n 16

Writes samples.jsonl (every completion with its verdict) and summary.json (accuracy, pass@k,
maj@k, tokens, truncation, accuracy per 1k tokens, accuracy at each --budgets value).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from rewardkit.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model: accuracy, pass@k, tokens, budgets",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model folder (Hugging Face format)")
    p.add_argument("--data", required=True, help="gsm8k, math500, arith, reasoning_gym:NAME, "
                   "a JSONL/Parquet/CSV file, a datasets.save_to_disk folder, or a hub id")
    p.add_argument("--task", help="verifier for a JSONL file or hub id (gsm8k, math, ...)")
    p.add_argument("--prompt-key", help="column holding the question (default: the task's)")
    p.add_argument("--answer-key", help="column holding the gold answer (default: the task's)")
    p.add_argument("--task-params", metavar="MAPPING", help="the task's settings as in a "
                   "config's task_params, e.g. '{min_terms: 2, instruction: \"\"}'")
    p.add_argument("--limit", type=int, help="first N problems only")
    p.add_argument("--n", type=int, default=1, help="samples per problem (default 1)")
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--budgets", help="comma-separated token budgets, e.g. 256,512 "
                   "(default: 1/8, 1/4, 1/2, 1 of --max-new-tokens)")
    p.add_argument("--reward", action="append", metavar="SPEC", default=[],
                   help="also score with NAME[:key=value,...] (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, help="prompts per sampler call (default: all)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")
    p.add_argument("--out", type=Path, help="output folder (default: runs/eval/MODEL-DATA)")
    p.set_defaults(run=run)


def load_sampler(model: str, *, device: str, dtype: str):
    """The Hugging Face sampler (imported here: torch loads only when a model is evaluated)."""
    if not Path(model).exists() and not re.fullmatch(r"[\w.-]+/[\w.-]+", model):
        raise UserError("no such model folder", where=model)  # and not a hub id (owner/name)
    try:
        from rewardkit.sampling.hf import HFSampler
    except ImportError as e:
        raise UserError(f"evaluating a model needs the training extras ({e}); "
                        f"pip install 'rewardkit[train]'") from None
    return HFSampler.from_pretrained(model, device=device, dtype=dtype)


def run(args: argparse.Namespace) -> int:
    from rewardkit.eval import evaluate, write_eval
    from rewardkit.eval.data import load_eval_data
    from rewardkit.rewards.combine import RewardScorer, parse_spec

    for flag, value in (("--n", args.n), ("--max-new-tokens", args.max_new_tokens),
                        ("--limit", args.limit or 1), ("--batch-size", args.batch_size or 1)):
        if value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}")
    budgets = _budgets(args.budgets) if args.budgets else None
    task, problems, label = load_eval_data(args.data, task=args.task, limit=args.limit,
                                           prompt_key=args.prompt_key,
                                           answer_key=args.answer_key, seed=args.seed,
                                           task_params=_task_params(args.task_params))
    rewards = [parse_spec(s) for s in args.reward] or None
    if rewards:
        RewardScorer(rewards)  # checks each reward's parameters now, before the model loads
    sampler = load_sampler(args.model, device=args.device, dtype=args.dtype)
    samples, summary = evaluate(
        sampler, task, problems, n=args.n, max_new_tokens=args.max_new_tokens,
        temperature=args.temperature, seed=args.seed, rewards=rewards, budgets=budgets,
        batch_size=args.batch_size, model=str(args.model), data=label)
    out = args.out or Path("runs/eval") / f"{Path(args.model).name}-{Path(label).stem}"
    write_eval(out, samples, summary)
    _print_summary(summary, out)
    return 0


def _task_params(text: str | None) -> dict | None:
    if text is None:
        return None
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = None
    if not isinstance(value, dict):
        raise UserError(f"--task-params: expected a mapping like '{{min_terms: 2}}', got {text!r}")
    return value


def _budgets(text: str) -> list[int]:
    try:
        values = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise UserError(f"--budgets: expected integers like 256,512, got {text!r}") from None
    if not values or min(values) < 1:
        raise UserError(f"--budgets: expected positive integers, got {text!r}")
    return values


def _print_summary(s: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{s['model']} on {s['data']} ({s['num_problems']} problems x {s['n']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    keys = [k for k in s if k.startswith(("pass@", "maj@"))]
    keys += ["mean_tokens", "mean_tokens_correct", "mean_tokens_wrong", "truncated_frac",
             "accuracy_per_1k_tokens", "seconds"]
    for key in ["accuracy", *keys]:
        v = s.get(key)
        table.add_row(key, "–" if v is None or v != v else f"{v:.4g}")
    for b, v in s.get("budgets", {}).items():
        table.add_row(f"accuracy @ {b} tokens", "–" if v is None or v != v else f"{v:.4g}")
    console = Console()
    console.print(table)
    console.print(f"wrote {out / 'samples.jsonl'} and {out / 'summary.json'}")
