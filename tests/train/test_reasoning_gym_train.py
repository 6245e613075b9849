"""`rewardkit train` and `rewardkit eval` accept reasoning-gym tasks end to end (tiny model)."""

from __future__ import annotations

import json

import pytest

from rewardkit.cli.main import main

pytest.importorskip("reasoning_gym", reason="needs the extra rewardkit[tasks]")


def test_train_on_a_reasoning_gym_task_with_task_score(make_config, tmp_path):
    path = make_config(steps=1, rewards=[{"name": "task_score"}])
    out = tmp_path / "run"
    assert main(["train", str(path), "--set", "task=reasoning_gym:basic_arithmetic",
                 "--set", "task_params={min_terms: 2, max_terms: 2, size: 50}",
                 "--out", str(out)]) == 0
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    # every reply was judged by reasoning-gym's scorer (none timed out or errored)
    assert (row["unjudged_frac"], row["reward/task_score/mean"]) == (0.0, 0.0)


def test_eval_cli_on_a_reasoning_gym_task(tiny_model, tmp_path):
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(tiny_model), "--data", "reasoning_gym:chain_sum",
                 "--limit", "3", "--max-new-tokens", "4", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["data"], summary["num_problems"]) == ("reasoning_gym:chain_sum", 3)


def test_eval_cli_task_params(tiny_model, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(tiny_model), "--data", "reasoning_gym:basic_arithmetic",
                 "--task-params", "{min_terms: 2, max_terms: 2, operators: ['+'], instruction: ''}",
                 "--limit", "2", "--max-new-tokens", "2", "--out", str(out)]) == 0
    row = json.loads((out / "samples.jsonl").read_text().splitlines()[0])
    # two terms joined by one '+', and no instruction after the question
    assert row["prompt"].count("+") == 1 and row["prompt"].endswith(".\n")
    assert main(["eval", "--model", str(tiny_model), "--data", "reasoning_gym:chain_sum",
                 "--task-params", "[1, 2]"]) == 2
    assert "--task-params: expected a mapping" in capsys.readouterr().err
