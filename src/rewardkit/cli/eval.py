r"""`rewardkit eval`: sample a model on a benchmark, verify as training does, write the numbers.

    rewardkit eval --model runs/x/checkpoints/step-200 --data gsm8k --limit 200 --n 4 \
        --max-new-tokens 512 --temperature 0.6 --out runs/eval/x
    rewardkit eval --model DIR --data aime24.jsonl --task math --n 16
    rewardkit eval --model Qwen/Qwen2.5-0.5B-Instruct --data gsm8k --chat-template --top-p 0.95

Writes samples.jsonl (every completion with its verdict) and summary.json (accuracy, pass@k,
maj@k, tokens, truncation, accuracy per 1k tokens, accuracy at each --budgets value). To measure
what training saw, pass the run's sampling settings: --chat-template when the config has
`sampling.chat_template: true`, and its --temperature and --top-p.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rewardkit.cli.score import add_verify_flags, configure_verify
from rewardkit.errors import UserError
from rewardkit.tasks.sources import is_hub_id

DEFAULT_BATCH_SIZE = 32  # prompts per sampler call: bounded memory, and progress to show


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model: accuracy, pass@k, tokens, budgets",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True,
                   help="model folder (Hugging Face format), or hub id owner/name")
    p.add_argument("--data", required=True, help="gsm8k, math500, arith, reasoning_gym:NAME, "
                   "a JSONL/Parquet/CSV file, a datasets.save_to_disk folder, or a hub id")
    p.add_argument("--task", help="verifier for a JSONL file or hub id (gsm8k, math, ...)")
    p.add_argument("--prompt-key", help="column holding the question (default: the task's)")
    p.add_argument("--answer-key", help="column holding the gold answer (default: the task's)")
    p.add_argument("--task-params", metavar="MAPPING", help="the task's settings as in a "
                   "config's task_params, e.g. '{min_terms: 2, instruction: \"\"}'")
    p.add_argument("--limit", type=int, help="first N problems only (a generating task such as "
                   "arith: N distinct ones, fewer with a warning where fewer exist)")
    p.add_argument("--n", type=int, default=1, help="samples per problem (default 1)")
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling (default 1.0: off)")
    p.add_argument("--chat-template", action="store_true",
                   help="wrap each prompt in the tokenizer's chat template, as training does "
                   "with sampling.chat_template: true")
    p.add_argument("--budgets", help="comma-separated token budgets, e.g. 256,512 "
                   "(default: 1/8, 1/4, 1/2, 1 of --max-new-tokens)")
    p.add_argument("--reward", action="append", metavar="SPEC", default=[],
                   help="also score with NAME[:key=value,...] (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    add_verify_flags(p)
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help=f"prompts per sampler call (default {DEFAULT_BATCH_SIZE}); each call has "
                   "its own seed, so the samples depend on it")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")
    p.add_argument("--out", type=Path, help="output folder (default: runs/eval/MODEL-DATA, where "
                   "MODEL names the run too for a checkpoint: RUN-step-N)")
    p.set_defaults(run=run)


def check_model(model: str) -> None:
    """Fail early, in one line, on a --model that names no local folder and cannot be a hub id.

    A hub id is `owner/name`; a path such as `runs/typo` has that shape too, so it is taken as a
    path (and refused) when its first part is a local folder, or it starts like a path.
    """
    if Path(model).expanduser().exists():
        return
    first = model.split("/", 1)[0]
    if not is_hub_id(model) or model.startswith((".", "~", "/")) or Path(first).is_dir():
        raise UserError("no such model folder", where=model)


def load_sampler(model: str, *, device: str, dtype: str, chat_template: bool = False):
    """The Hugging Face sampler (imported here: torch loads only when a model is evaluated)."""
    check_model(model)
    try:
        from rewardkit.sampling.hf import HFSampler
    except ImportError as e:
        raise UserError(f"evaluating a model needs the training extras ({e}); "
                        f"pip install 'rewardkit[train]'") from None
    try:
        return HFSampler.from_pretrained(model, device=device, dtype=dtype,
                                         chat_template=chat_template)
    except (OSError, ValueError) as e:  # what transformers and the hub raise for a bad id/folder
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot load the model: {first_line}", where=model) from None


def default_out(model: str, data_label: str) -> Path:
    """runs/eval/MODEL-DATA; a checkpoint `RUN/checkpoints/step-N` is named `RUN-step-N`, so two
    runs evaluated at the same step do not share a folder.

    >>> default_out("runs/grpo/checkpoints/step-200", "gsm8k").as_posix()
    'runs/eval/grpo-step-200-gsm8k'
    >>> default_out("Qwen/Qwen2.5-0.5B", "data/test.jsonl").as_posix()
    'runs/eval/Qwen2.5-0.5B-test'
    """
    path = Path(model)
    name = path.name
    if path.parent.name == "checkpoints" and path.parent.parent.name:
        name = f"{path.parent.parent.name}-{name}"
    return Path("runs/eval") / f"{name}-{Path(data_label).stem}"


def run(args: argparse.Namespace) -> int:
    from rewardkit.eval import evaluate, write_eval
    from rewardkit.eval.data import load_eval_data
    from rewardkit.rewards.combine import RewardScorer, parse_spec
    from rewardkit.verify import start_workers

    for flag, value in (("--n", args.n), ("--max-new-tokens", args.max_new_tokens),
                        ("--limit", args.limit or 1), ("--batch-size", args.batch_size)):
        if value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}")
    if not 0.0 < args.top_p <= 1.0:
        raise UserError(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.temperature < 0:
        raise UserError(f"--temperature must be >= 0, got {args.temperature}")
    check_model(args.model)
    configure_verify(args)
    budgets = _budgets(args.budgets) if args.budgets else None
    task, problems, label = load_eval_data(args.data, task=args.task, limit=args.limit,
                                           prompt_key=args.prompt_key,
                                           answer_key=args.answer_key, seed=args.seed,
                                           task_params=_task_params(args.task_params))
    start_workers(task)  # the verification pool starts while the model loads and samples
    # built (which checks each reward's parameters) now, before the model loads
    rewards = RewardScorer([parse_spec(s) for s in args.reward]) if args.reward else None
    if rewards is not None and problems:  # what the rewards need from the data, e.g. meta keys
        rewards.check_problem(problems[0], where=f"--data {label}")
    sampler = load_sampler(args.model, device=args.device, dtype=args.dtype,
                           chat_template=args.chat_template)
    samples, summary = evaluate(
        sampler, task, problems, n=args.n, max_new_tokens=args.max_new_tokens,
        temperature=args.temperature, top_p=args.top_p, seed=args.seed, rewards=rewards,
        budgets=budgets, batch_size=args.batch_size, model=str(args.model), data=label,
        progress=_progress)
    summary["chat_template"] = args.chat_template
    out = args.out or default_out(args.model, label)
    write_eval(out, samples, summary)
    _print_summary(summary, out)
    return 0


def _progress(done: int, total: int) -> None:
    # one line per sampler call, on stderr so that stdout stays the summary table
    print(f"eval: sampled {done}/{total} problems", file=sys.stderr, flush=True)


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
    for key in ["accuracy", "accuracy_judged", "unjudged_frac", *keys]:
        v = s.get(key)
        table.add_row(key, "–" if v is None or v != v else f"{v:.4g}")
    for b, v in s.get("budgets", {}).items():
        table.add_row(f"accuracy @ {b} tokens", "–" if v is None or v != v else f"{v:.4g}")
    console = Console()
    console.print(table)
    console.print(f"wrote {out / 'samples.jsonl'} and {out / 'summary.json'}")
