"""The bundled code problems and SQL database: reference solutions pass, `rewardkit score
--task code|sql` works on the example files the README shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rewardkit import verify_groups
from rewardkit.tasks import get_task
from rewardkit.types import Completion, Group

REPO = Path(__file__).resolve().parents[2]
PROBLEMS = REPO / "src/rewardkit/data/code/problems.jsonl"


def test_bundled_code_problems_have_both_styles_and_their_solutions_pass(sandbox):
    task = get_task("code")
    problems = task.load(PROBLEMS)
    styles = [("tests" in p.meta, "test_code" in p.meta) for p in problems]
    assert len(problems) >= 30 and styles.count((True, False)) >= 12
    assert styles.count((False, True)) >= 12
    groups = [Group(p, [Completion(f"```python\n{p.meta['solution']}\n```", 9),
                        Completion("```python\nprint(0)\n```", 5)], 64) for p in problems]
    for g in verify_groups(task, groups, timeout_s=20):
        assert g.status == ("ok", "ok"), g.problem.id
        assert g.correct == (True, False), (g.problem.id, g.answers)


@pytest.mark.parametrize("task, rewards, expected", [
    # code_rollouts.jsonl by hand: sum-two = honest (3/3), print(3) (1 of 3 tests), endless
    # loop (0), no program (0); square = honest (3/3), __eq__ trick (0/3), sys.exit(0) after
    # square -> 0 (only square(0) == 0 holds: 1/3), x * 2 (only square(0) == 0: 1/3)
    ("code", ["code_tests_passed"], [[1.0, 1 / 3, 0.0, 0.0], [1.0, 0.0, 1 / 3, 1 / 3]]),
    # sql_rollouts.jsonl: London names (right with aliases), all names (wrong), DROP (wrong,
    # refused), no query; orders per customer: columns swapped (right), LEFT JOIN counts Flo
    # too (wrong), endless CTE (wrong, stopped at the deadline)
    ("sql", ["accuracy"], [[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
])
def test_score_cli_on_examples(sandbox, tmp_path, task, rewards, expected):
    out = tmp_path / "scored.jsonl"
    cmd = [sys.executable, "-m", "rewardkit", "score", "--task", task, "--input",
           str(REPO / f"examples/{task}_rollouts.jsonl"), "--output", str(out)]
    for r in rewards:
        cmd += ["--reward", r]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    got = [[c["rewards"][rewards[0]] for c in line["completions"]] for line in lines]
    assert got == [pytest.approx(row) for row in expected]
    assert all(c["status"] == "ok" for line in lines for c in line["completions"])


def test_score_without_bubblewrap_is_one_line_and_exit_2(tmp_path):
    env = {"PATH": str(tmp_path), "PYTHONPATH": str(REPO / "src")}  # a PATH with no bwrap
    proc = subprocess.run([sys.executable, "-m", "rewardkit", "score", "--task", "code",
                           "--reward", "code_tests_passed", "--input",
                           str(REPO / "examples/code_rollouts.jsonl")],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "apt-get install bubblewrap" in proc.stderr
    assert proc.stdout == ""
