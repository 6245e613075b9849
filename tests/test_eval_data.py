"""Where eval problems come from: local task data, JSONL files with any keys, clear errors."""

from __future__ import annotations

import json
import sys
import types

import pytest

from rewardkit.errors import UserError
from rewardkit.eval import data as eval_data
from rewardkit.eval.data import load_eval_data
from rewardkit.registry import TASKS
from rewardkit.tasks import sources
from rewardkit.tasks.base import Task
from rewardkit.types import Problem


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_gsm8k_by_name_reads_local_test_split():
    task, problems, label = load_eval_data("gsm8k", limit=3)
    assert task.name == "gsm8k" and label == "gsm8k" and len(problems) == 3
    assert problems[0].prompt.startswith("Janet")  # first line of the GSM8K test split
    assert problems[0].answer == "18"  # the number after '####'


def test_math_by_name_reads_math500():
    task, problems, _ = load_eval_data("math", limit=2)
    assert task.name == "math" and len(problems) == 2
    assert "solution" in problems[0].meta  # other columns are kept in meta


def test_data_dir_env_override(tmp_path, monkeypatch):
    (tmp_path / "gsm8k").mkdir()
    write_jsonl(tmp_path / "gsm8k" / "test.jsonl", [{"question": "q?", "answer": "x #### 7"}])
    monkeypatch.setenv("REWARDKIT_DATA_DIR", str(tmp_path))
    _, problems, _ = load_eval_data("gsm8k")
    assert [(p.prompt, p.answer) for p in problems] == [("q?", "7")]


def test_jsonl_with_custom_keys_and_limit(tmp_path):
    f = write_jsonl(tmp_path / "aime.jsonl", [{"q": f"Problem {i}", "a": str(i), "year": 2024}
                                              for i in range(5)])
    task, problems, label = load_eval_data(str(f), task="math", prompt_key="q", answer_key="a",
                                           limit=2)
    assert task.name == "math" and label == str(f)
    assert [(p.prompt, p.answer, p.meta["year"]) for p in problems] == [
        ("Problem 0", "0", 2024), ("Problem 1", "1", 2024)]
    # the key override lives on this instance only
    assert type(task).prompt_key == "problem"


def test_missing_answer_key_names_file_line_and_key(tmp_path):
    f = write_jsonl(tmp_path / "bad.jsonl", [{"problem": "a", "answer": "1"},
                                             {"problem": "b", "solution": "2"}])
    with pytest.raises(UserError) as e:
        load_eval_data(str(f), task="math")
    assert e.value.where == f"{f}:2"
    assert "'answer'" in e.value.message and "--answer-key" in e.value.message


def test_missing_prompt_key_and_bad_json(tmp_path):
    f = write_jsonl(tmp_path / "bad.jsonl", [{"question": "a", "answer": "1"}])
    with pytest.raises(UserError, match=r"bad\.jsonl:1: missing prompt key 'problem'"):
        load_eval_data(str(f), task="math")
    g = write_jsonl(tmp_path / "bad2.jsonl", [{"problem": "a", "answer": "1"}, "{oops", "[1]"])
    with pytest.raises(UserError, match=r"bad2\.jsonl:2: invalid JSON"):
        load_eval_data(str(g), task="math")


def test_file_errors(tmp_path):
    with pytest.raises(UserError, match="--task"):
        load_eval_data(str(write_jsonl(tmp_path / "x.jsonl", [{"problem": "p", "answer": "1"}])))
    for task in ("math", None):  # a missing file is reported as missing, --task or not
        with pytest.raises(UserError, match="missing.jsonl: no such file"):
            load_eval_data(str(tmp_path / "missing.jsonl"), task=task)
    with pytest.raises(UserError, match="no problems"):
        load_eval_data(str(write_jsonl(tmp_path / "empty.jsonl", [])), task="math")
    with pytest.raises(UserError, match="unknown task 'nope'"):
        load_eval_data(str(tmp_path / "x.jsonl"), task="nope")


def test_names_we_do_not_ship_explain_how_to_bring_them():
    with pytest.raises(UserError, match=r"--data aime24\.jsonl --task math"):
        load_eval_data("aime24")
    with pytest.raises(UserError, match="neither a file, nor a task"):
        load_eval_data("no_such_benchmark")


def test_hub_id_without_hub_access_fails_fast(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(sources, "hub_reachable", lambda timeout=3.0: False)
    # `datasets` is an optional extra: stand in for it so this test checks the hub path only.
    fake = types.ModuleType("datasets")
    fake.config = types.SimpleNamespace(HF_DATASETS_CACHE="/cache/here")
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(UserError, match="cannot be reached") as e:
        load_eval_data("openai/gsm8k", task="gsm8k")
    # names the cache and the offline alternatives
    assert "/cache/here" in str(e.value) and "save_to_disk" in str(e.value)
    with pytest.raises(UserError, match="--task"):
        load_eval_data("openai/gsm8k")


def test_hub_id_without_datasets_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(UserError, match="needs the `datasets` package"):
        load_eval_data("openai/gsm8k", task="gsm8k")


class GeneratedTask(Task):
    """A task that makes its own problems, as the synthetic `arith` does."""

    name = "generated"

    def problems(self, split, n, seed):
        return [Problem(id=f"{split}-{seed}-{i}", prompt=f"{i}+{i}=?", answer=str(2 * i),
                        task=self.name) for i in range(n)]


def test_task_with_problems_method_generates(monkeypatch):
    monkeypatch.setitem(TASKS._fns, "generated", GeneratedTask)
    task, problems, label = load_eval_data("generated", limit=3, seed=5)
    assert isinstance(task, GeneratedTask) and label == "generated"
    assert [p.id for p in problems] == ["test-5-0", "test-5-1", "test-5-2"]
    _, problems, _ = load_eval_data("generated")
    assert len(problems) == eval_data.DEFAULT_GENERATED


@pytest.mark.parametrize("name, rel", [("gsm8k", "gsm8k/test.jsonl"),
                                       ("math", "math500/test.jsonl")])
def test_gold_echo_scores_one_on_local_data(name, rel):
    """The real files, prompts and verifiers fit together: echoing the gold answer is correct and
    a wrong number is not (so every gold in the first 30 rows parses and verifies against itself)."""
    from rewardkit.eval import evaluate
    from rewardkit.types import Completion

    task, problems, _ = load_eval_data(name, limit=30)
    gold_by_prompt = {task.prompt(p): p.answer for p in problems}

    class GoldEcho:
        def sample(self, prompts, params):
            return [[Completion(f"<think>.</think> \\boxed{{{gold_by_prompt[q]}}}", 5),
                     Completion("<think>.</think> \\boxed{-987654}", 5)] for q in prompts]

    samples, summary = evaluate(GoldEcho(), task, problems, n=2, max_new_tokens=8,
                                temperature=0.0, seed=0)
    assert [s["correct"] for s in samples] == [True, False] * 30
    assert summary["pass@2"] == 1.0 and summary["accuracy"] == 0.5


def test_file_task_from_its_name_or_an_error(tmp_path):
    folder = tmp_path / "gsm8k"
    folder.mkdir()
    (folder / "test.jsonl").write_text('{"question": "1+1?", "answer": "#### 2"}\n')
    task, problems, _ = load_eval_data(str(folder / "test.jsonl"))
    assert task.name == "gsm8k" and problems[0].answer == "2"
    (tmp_path / "mine.jsonl").write_text('{"question": "q", "answer": "1"}\n')
    with pytest.raises(UserError, match="say which verifier judges it with --task"):
        load_eval_data(str(tmp_path / "mine.jsonl"))
