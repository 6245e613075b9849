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
- Any JSONL file, with `task` naming the verifier and optional prompt/answer keys. AIME 24/25 and
  AMC 23 are read this way (`--data aime24.jsonl --task math`).
- A hub id (`owner/name`) through `datasets`, only where the machine can reach the hub.

Every line must be a JSON object holding the prompt key and the answer key; a line that is not
gives a UserError naming the file, the line and the key.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from rewardkit.errors import UserError
from rewardkit.registry import TASKS, UnknownName
from rewardkit.tasks import get_task, is_reasoning_gym
from rewardkit.tasks.base import Task
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


def make_task(name: str, *, prompt_key: str | None = None, answer_key: str | None = None) -> Task:
    """An instance of a registered task, with the data keys overridden on the instance."""
    try:
        task = get_task(name)
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
) -> tuple[Task, list[Problem], str]:
    """(task, problems, label for the summary's `data` field) for `rewardkit eval --data DATA`."""
    path = Path(data)
    if path.suffix in (".jsonl", ".json") or path.is_file():
        task = task or guess_task(path)
        if task is None:
            raise UserError(f"--data {data} is a file: say which verifier judges it with --task "
                            f"(one of: {', '.join(TASKS.names())})")
        t = make_task(task, prompt_key=prompt_key, answer_key=answer_key)
        return t, load_jsonl(t, path, limit=limit), str(path)

    name = data.lower()
    if is_reasoning_gym(name):
        if task is not None:
            raise UserError(f"--data {data} is judged by reasoning-gym's own scorer: drop --task")
        t = get_task(data)
        return t, list(t.problems("test", limit or DEFAULT_GENERATED, seed)), data
    if name in BRING_YOUR_OWN:
        raise UserError(f"{data} is not shipped: pass its JSONL with the MATH schema "
                        f"(problem, answer): --data {name}.jsonl --task math")
    if name in TASKS or name in LOCAL_DEFAULTS:
        task_name, rel = LOCAL_DEFAULTS.get(name, (name, None))
        if task is not None and task != task_name:
            raise UserError(f"--data {data} is judged by task {task_name!r}; "
                            f"to use {task!r}, pass a JSONL file")
        t = make_task(task_name, prompt_key=prompt_key, answer_key=answer_key)
        generate = getattr(t, "problems", None)
        if callable(generate):
            return t, list(generate("test", limit or DEFAULT_GENERATED, seed)), name
        if rel is None:
            raise UserError(f"task {data!r} has no built-in test data: pass --data FILE.jsonl "
                            f"--task {data}")
        for d in data_dirs():
            if (d / rel).exists():
                return t, load_jsonl(t, d / rel, limit=limit), name
        looked = ", ".join(str(d / rel) for d in data_dirs())
        raise UserError(f"no local copy of {data} (looked in {looked}); set REWARDKIT_DATA_DIR "
                        f"or pass --data FILE.jsonl --task {task_name}")
    if path.is_dir():
        raise UserError("is a folder; --data takes a JSONL file or a task name", where=data)
    if "/" in data:
        return load_hub(data, task=task, limit=limit, prompt_key=prompt_key, answer_key=answer_key)
    raise UserError(f"--data {data!r} is neither a file, nor a task ({', '.join(TASKS.names())}), "
                    f"nor a hub id (owner/name)")


def load_jsonl(task: Task, path: Path, *, limit: int | None = None) -> list[Problem]:
    """Problems from a JSONL file; each line needs the task's prompt and answer keys."""
    if not path.exists():
        raise UserError("no such file", where=str(path))
    problems: list[Problem] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if limit is not None and len(problems) >= limit:
                break
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"invalid JSON: {e.msg}", where=where) from None
            if not isinstance(row, dict):
                raise UserError(f"expected a JSON object, got {type(row).__name__}", where=where)
            for role, key in (("prompt", task.prompt_key), ("answer", task.answer_key)):
                if key not in row:
                    raise UserError(
                        f"missing {role} key {key!r} (has: {', '.join(sorted(row)) or 'none'}); "
                        f"choose another with --{role}-key", where=where)
            try:
                problems.append(task.problem_from_row(row, lineno - 1))
            except UserError as e:
                raise e.at(where) from None
    if not problems:
        raise UserError("no problems in file", where=str(path))
    return problems


def hub_host() -> str:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    return urlsplit(endpoint).hostname or "huggingface.co"


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub's host opens within `timeout` seconds."""
    try:
        socket.create_connection((hub_host(), 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def load_hub(
    dataset_id: str,
    *,
    task: str | None,
    limit: int | None,
    prompt_key: str | None,
    answer_key: str | None,
) -> tuple[Task, list[Problem], str]:
    """Test split of a hub dataset via `datasets`; a clear error where the hub cannot be reached."""
    if task is None:
        raise UserError(f"--data {dataset_id} is a hub id: name its verifier with --task")
    t = make_task(task, prompt_key=prompt_key, answer_key=answer_key)
    try:
        import datasets
    except ImportError:
        raise UserError(f"--data {dataset_id}: loading from the hub needs the `datasets` package "
                        f"(pip install datasets); or pass a local JSONL file") from None
    offline = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("HF_DATASETS_OFFLINE")
    if not offline and not hub_reachable():  # fail now, not after datasets' minute of retries
        raise UserError(f"--data {dataset_id}: the hub ({hub_host()}) cannot be reached from this "
                        f"machine. Export the dataset to JSONL where it can, then pass "
                        f"--data FILE.jsonl --task {task}")
    try:
        ds = datasets.load_dataset(dataset_id, split="test")
    except Exception as e:  # offline machine, unknown id, no test split, ...
        raise UserError(f"--data {dataset_id}: could not load it from the hub "
                        f"({type(e).__name__}: {str(e)[:200]}). On a machine without hub access, "
                        f"export it to JSONL elsewhere and pass --data FILE.jsonl --task {task}"
                        ) from None
    problems = []
    for i, row in enumerate(ds):
        if limit is not None and i >= limit:
            break
        for role, key in (("prompt", t.prompt_key), ("answer", t.answer_key)):
            if key not in row:
                raise UserError(f"missing {role} key {key!r} (has: {', '.join(sorted(row))})",
                                where=f"{dataset_id}[{i}]")
        problems.append(t.problem_from_row(row, i))
    return t, problems, dataset_id
