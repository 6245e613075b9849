"""One reader for every data format: JSONL, Parquet, CSV, a `datasets.save_to_disk` folder and a
hub id; column mapping with prompt_key/answer_key; bad rows named by file and row."""

from __future__ import annotations

import json

import pytest

from rewardkit.errors import UserError
from rewardkit.eval.data import load_eval_data
from rewardkit.tasks import get_task
from rewardkit.tasks.sources import read_rows

ROWS = [{"q": "1+1?", "a": "2", "level": 1}, {"q": "2+3?", "a": "5", "level": 2}]
EXPECTED = [("1+1?", "2", 1), ("2+3?", "5", 2)]


def _triples(problems, cast=int):
    return [(p.prompt, p.answer, cast(p.meta["level"])) for p in problems]


def test_jsonl(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    task = get_task("gsm8k", {"prompt_key": "q", "answer_key": "a"})
    assert _triples(task.load(path)) == EXPECTED


def test_csv_values_are_strings_and_bad_rows_name_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('q,a,level\n1+1?,2,1\n"2+3?",5,2\n')
    task = get_task("gsm8k", {"prompt_key": "q", "answer_key": "a"})
    assert _triples(task.load(path)) == EXPECTED
    path.write_text("q,a,level\n1+1?,2,1\n2+3?,5\n")  # line 3 has 2 fields, the header 3
    with pytest.raises(UserError, match=r"d\.csv:3: the row's fields do not match the header's 3"):
        task.load(path)


pa = pytest.importorskip("pyarrow", reason="Parquet needs the extra rewardkit[tasks]")


def test_parquet_and_a_bad_row(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    task = get_task("gsm8k", {"prompt_key": "q", "answer_key": "a"})
    assert _triples(task.load(path)) == EXPECTED
    with pytest.raises(UserError, match=r"d\.parquet row 1: missing prompt key 'question'"):
        get_task("gsm8k").load(path)
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(UserError, match="junk.parquet: not a readable Parquet file"):
        get_task("gsm8k").load(tmp_path / "junk.parquet")


def test_saved_dataset_folder_and_its_splits(tmp_path):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "saved"
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS),
                               "test": datasets.Dataset.from_list(ROWS[:1])})
    dd.save_to_disk(str(folder))
    task = get_task("gsm8k", {"prompt_key": "q", "answer_key": "a"})
    assert _triples(task.load(folder)) == EXPECTED  # train split for training
    t, problems, _ = load_eval_data(str(folder), task="gsm8k", prompt_key="q", answer_key="a")
    assert _triples(problems) == EXPECTED[:1]  # the test split for eval
    with pytest.raises(UserError, match=r"no split 'validation' \(has: train, test\)"):
        list(read_rows(folder, split="validation"))
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match="not one written by datasets' save_to_disk"):
        load_eval_data(str(tmp_path / "plain"), task="gsm8k")


def test_eval_reads_parquet_and_csv_by_suffix(tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "d.parquet")
    (tmp_path / "d.csv").write_text("q,a,level\n1+1?,2,1\n2+3?,5,2\n")
    for name, cast in (("d.parquet", int), ("d.csv", int)):
        _, problems, label = load_eval_data(str(tmp_path / name), task="gsm8k", prompt_key="q",
                                            answer_key="a")
        assert _triples(problems, cast) == EXPECTED and label.endswith(name)


def test_training_reads_any_format(tmp_path):
    from rewardkit.train.data import load_problems

    (tmp_path / "d.csv").write_text("question,answer\n1+1?,#### 2\n")
    problems = load_problems(get_task("gsm8k"), data=str(tmp_path / "d.csv"), split="train",
                             seed=0)
    assert [(p.prompt, p.answer) for p in problems] == [("1+1?", "2")]
