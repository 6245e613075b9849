"""Where eval problems come from: a task name, a local JSONL file, or (with hub access) a hub id.

    task, problems, label = load_eval_data("gsm8k", limit=100)
    task, problems, label = load_eval_data("aime24.jsonl", task="math")
    task, problems, label = load_eval_data("qa.jsonl", task="gsm8k", prompt_key="q", answer_key="a")

- A registered task name whose task has `problems(split, n, seed)` (the synthetic `arith`) makes
  its own test problems; so does `reasoning_gym:NAME` (reasoning-gym's generator, test split).
- `gsm8k` and `math` (alias `math500`) read the copies shipped inside the package
  (`rewardkit/data/`, MIT, licence files beside them): `gsm8k/test.jsonl` (1,319 problems;
  `question`, `answer` ending in `#### N`) and `math500/test.jsonl` (500; `problem`, `answer` in
  LaTeX); `$REWARDKIT_DATA_DIR/gsm8k/test.jsonl` etc. is read instead where it exists.
- Any JSONL, Parquet or CSV file or `datasets.save_to_disk` folder (its `test` split), with
  `task` naming the verifier and optional prompt/answer keys. AIME 24/25 and AMC 23 are read
  this way (`--data aime24.jsonl --task math`).
- A hub id (`owner/name`) through `datasets` (its `test` split), where the machine can reach
  the hub or has it cached (`tasks.sources`).

Every row must hold the prompt key and the answer key; a row that does not gives a UserError
naming the file, the row and the key.
"""

from __future__ import annotations

import os
from pathlib import Path

from rewardkit.errors import UserError
from rewardkit.registry import TASKS, UnknownName
from rewardkit.tasks import get_task, is_reasoning_gym
from rewardkit.tasks.base import Task
from rewardkit.tasks.sources import is_hub_id, is_local, is_saved_dataset
from rewardkit.types import Problem

# Registered name (or alias) -> (task, path under a data folder: see data_dirs)
LOCAL_DEFAULTS = {
    "gsm8k": ("gsm8k", "gsm8k/test.jsonl"),
    "math": ("math", "math500/test.jsonl"),
    "math500": ("math", "math500/test.jsonl"),
}
# Benchmarks we know by name but do not ship: the user brings the file.
BRING_YOUR_OWN = ("aime24", "aime25", "amc23")
DEFAULT_GENERATED = 200  # problems a generating task makes when --limit is not given


PACKAGED_DATA = Path(__file__).resolve().parents[1] / "data"
"""GSM8K test and MATH-500, shipped inside the package (MIT; LICENSE files beside them)."""


def data_dirs() -> list[Path]:
    """Folders searched for a named benchmark, first match wins: `$REWARDKIT_DATA_DIR` (a
    replacement copy), then the copies shipped in the package."""
    dirs = []
    if os.environ.get("REWARDKIT_DATA_DIR"):
        dirs.append(Path(os.environ["REWARDKIT_DATA_DIR"]))
    dirs.append(PACKAGED_DATA)
    return dirs


def make_task(name: str, *, prompt_key: str | None = None, answer_key: str | None = None,
              task_params: dict | None = None) -> Task:
    """An instance of a registered task (with `task_params`), the data keys overridden on it."""
    try:
        task = get_task(name, task_params)
    except UnknownName as e:
        raise UserError(f"--task: {e}") from None
    if prompt_key:
        task.prompt_key = prompt_key
    if answer_key:
        task.answer_key = answer_key
    return task


def guess_task(path: Path) -> str | None:
    """The task of a file whose name or folder names a known dataset, else None (never a guess
    from the contents).

    >>> guess_task(Path("../shared/data/gsm8k/test.jsonl")), guess_task(Path("math500.jsonl"))
    ('gsm8k', 'math')
    >>> guess_task(Path("data/mine.jsonl")) is None
    True
    """
    for part in reversed([*path.parent.parts, path.stem]):
        name = part.lower()
        if name in LOCAL_DEFAULTS:
            return LOCAL_DEFAULTS[name][0]
        if name in TASKS:
            return name
    return None


def load_eval_data(
    data: str,
    *,
    task: str | None = None,
    limit: int | None = None,
    prompt_key: str | None = None,
    answer_key: str | None = None,
    seed: int = 0,
    task_params: dict | None = None,
) -> tuple[Task, list[Problem], str]:
    """(task, problems, label for the summary's `data` field) for `rewardkit eval --data DATA`."""
    path = Path(data)
    if is_local(path) and not path.is_dir() or is_saved_dataset(path):
        if not path.exists():  # named like a data file, but there is none
            raise UserError("no such file", where=str(path))
        task = task or guess_task(path)
        if task is None:
            raise UserError(f"--data {data} is a file: say which verifier judges it with --task "
                            f"(one of: {', '.join(TASKS.names())})")
        t = make_task(task, prompt_key=prompt_key, answer_key=answer_key, task_params=task_params)
        return t, t.load(path, limit=limit, split="test"), str(path)

    name = data.lower()
    if is_reasoning_gym(name):
        if task is not None:
            raise UserError(f"--data {data} is judged by reasoning-gym's own scorer: drop --task")
        t = get_task(data, task_params)
        return t, list(t.problems("test", limit or DEFAULT_GENERATED, seed)), data
    if name in BRING_YOUR_OWN:
        raise UserError(f"{data} is not shipped: pass its JSONL with the MATH schema "
                        f"(problem, answer): --data {name}.jsonl --task math")
    if name in TASKS or name in LOCAL_DEFAULTS:
        task_name, rel = LOCAL_DEFAULTS.get(name, (name, None))
        if task is not None and task != task_name:
            raise UserError(f"--data {data} is judged by task {task_name!r}; "
                            f"to use {task!r}, pass a JSONL file")
        t = make_task(task_name, prompt_key=prompt_key, answer_key=answer_key,
                      task_params=task_params)
        generate = getattr(t, "problems", None)
        if callable(generate):
            return t, list(generate("test", limit or DEFAULT_GENERATED, seed)), name
        if rel is None:
            raise UserError(f"task {data!r} has no built-in test data: pass --data FILE.jsonl "
                            f"--task {data}")
        for d in data_dirs():
            if (d / rel).exists():
                return t, t.load(d / rel, limit=limit, split="test"), name
        looked = ", ".join(str(d / rel) for d in data_dirs())
        raise UserError(f"no local copy of {data} (looked in {looked}); set REWARDKIT_DATA_DIR "
                        f"or pass --data FILE.jsonl --task {task_name}")
    if path.is_dir():
        raise UserError("is a folder but not one written by datasets' save_to_disk; --data takes "
                        "a JSONL, Parquet or CSV file, such a folder, a task name or a hub id",
                        where=data)
    if is_hub_id(data):
        if task is None:
            raise UserError(f"--data {data} is a hub id: name its verifier with --task")
        t = make_task(task, prompt_key=prompt_key, answer_key=answer_key, task_params=task_params)
        return t, t.load(data, limit=limit, split="test"), data
    raise UserError(f"--data {data!r} is neither a file, nor a task ({', '.join(TASKS.names())}), "
                    f"nor a hub id (owner/name)")
