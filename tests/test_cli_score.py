"""`rewardkit score` end to end, through main(argv) as a user would call it."""

import json
import subprocess
import sys

import pytest

from rewardkit.cli.main import main

from .conftest import REPO


def group(answer, texts, lengths=None, **extra):
    lengths = lengths or [10] * len(texts)
    return {"prompt": "p", "answer": answer, "max_new_tokens": 100, **extra,
            "completions": [{"text": t, "num_tokens": n, "finish_reason": "stop"}
                            for t, n in zip(texts, lengths)]}


def score(args):
    return main(["score", *args])


def test_issue_example_weighted_totals(write_jsonl, tmp_path):
    src = write_jsonl([group("42", ["<think>6*7</think> \\boxed{42}", "<think>6*8</think> \\boxed{48}",
                                    "I am not sure."])])
    out = tmp_path / "out.jsonl"
    assert score(["--task", "math", "--reward", "accuracy", "--reward", "format:weight=0.5",
                  "--input", str(src), "--output", str(out)]) == 0
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    got = [(c["correct"], c["status"], c["rewards"], c["reward"]) for c in line["completions"]]
    assert got == [
        (True, "ok", {"accuracy": 1.0, "format": 1.0}, 1.5),   # 1 + 0.5 * 1
        (False, "ok", {"accuracy": 0.0, "format": 1.0}, 0.5),  # 0 + 0.5 * 1
        (False, "ok", {"accuracy": 0.0, "format": 0.0}, 0.0),  # no answer: wrong, no format
    ]
    assert line["answer"] == "42" and line["prompt"] == "p"  # the input is echoed back


@pytest.mark.parametrize(("accuracy", "total"), [
    ("accuracy", None),  # primary (default): unjudged -> no total, not format's 1.0 alone
    ("accuracy:primary=false", 1.0),  # NaN skipped: format's 1.0 alone
])
def test_unjudgeable_is_null_and_primary_decides_the_total(write_jsonl, tmp_path, accuracy, total):
    src = write_jsonl([group("", ["\\boxed{1}"])])  # empty gold: cannot judge
    out = tmp_path / "o.jsonl"
    assert score(["--task", "math", "--reward", accuracy, "--reward", "format:think_tags=false",
                  "--input", str(src), "--output", str(out)]) == 0
    (c,) = json.loads(out.read_text())["completions"]
    assert (c["correct"], c["status"], c["rewards"]["accuracy"], c["reward"]) == (
        None, "unparseable_gold", None, total)


@pytest.mark.parametrize(
    ("rows", "args", "message"),
    [
        (["{bad"], [], r"in\.jsonl:1: invalid JSON"),
        ([group("1", ["a"]), {"prompt": "p"}], [], r"in\.jsonl:2: missing key 'completions'"),
        ([{"prompt": "p", "max_new_tokens": 9, "completions": [{"text": "a", "num_tokens": "3"}]}],
         [], r"in\.jsonl:1: key 'completions\[0\]\.num_tokens': expected int"),
        ([{"prompt": "p", "max_new_tokens": 9,
           "completions": [{"text": "a", "num_tokens": 3, "finish_reason": "eos"}]}],
         [], r"finish_reason': expected one of"),
        # B14: no budget is an error, not "the longest completion" (which made dapo_overlong
        # give the longest answer -1)
        ([{"prompt": "p", "completions": [{"text": "a", "num_tokens": 10},
                                          {"text": "b", "num_tokens": 60}]}],
         ["--reward", "dapo_overlong:buffer=20"], r"in\.jsonl:1: missing key 'max_new_tokens'"),
        # B14: a reply that reached the budget without a finish_reason may have ended with EOS
        ([{"prompt": "p", "max_new_tokens": 60, "completions": [{"text": "a", "num_tokens": 60}]}],
         [], r"in\.jsonl:1: key 'completions\[0\]\.finish_reason': required when num_tokens"),
        ([group("1", ["a"], step=1), group("1", ["a"], step=0)], [], r"in\.jsonl:2: key 'step'"),
        ([group("1", ["a"])], ["--reward", "lenght"], "unknown reward 'lenght'; known: accuracy"),
        ([group("1", ["a"])], ["--reward", "format:tags=1"], "its parameters are: think_tags"),
    ],
)
def test_bad_input_exit_2_one_line(write_jsonl, capsys, rows, args, message):
    src = write_jsonl(rows)
    code = score(["--task", "math", "--reward", "accuracy", *args, "--input", str(src)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("rewardkit: error: ") and "Traceback" not in err
    assert __import__("re").search(message, err), err


def test_missing_input_file(tmp_path, capsys):
    assert score(["--task", "math", "--reward", "accuracy", "--input", str(tmp_path / "x")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_failed_run_leaves_no_partial_output(write_jsonl, tmp_path):
    out = tmp_path / "o.jsonl"
    out.write_text("previous\n")
    src = write_jsonl([group("1", ["a"]), "{bad"])
    assert score(["--task", "math", "--reward", "accuracy", "--input", str(src),
                  "--output", str(out)]) == 2
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".o.jsonl")] == []


def test_scoring_core_imports_without_torch():
    # The scoring path must run in light processes: block torch and run the example file.
    code = ("import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
            "from rewardkit.cli.main import main\n"
            f"sys.exit(main(['score', '--task', 'math', '--reward', 'accuracy', "
            f"'--input', r'{REPO / 'examples' / 'rollouts.jsonl'}', '--output', '/dev/null']))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_advantage_per_group_and_ragged_groups(write_jsonl, tmp_path):
    # group 1: accuracy [1, 0, 0, 1] -> mean 0.5, sample std sqrt(1/3) = 0.57735
    #          grpo advantage = ±0.5 / 0.57735 = ±0.866025
    # group 2 has 2 completions [1, 0]: mean 0.5, std sqrt(0.5) = 0.70711 -> ±0.707107
    src = write_jsonl([group("1", ["\\boxed{1}", "\\boxed{2}", "\\boxed{3}", "\\boxed{1}"]),
                       group("2", ["\\boxed{2}", "\\boxed{0}"])])
    out = tmp_path / "o.jsonl"
    assert score(["--task", "math", "--reward", "accuracy", "--advantage", "grpo",
                  "--input", str(src), "--output", str(out)]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    advs = [[c["advantage"] for c in r["completions"]] for r in rows]
    assert advs[0] == pytest.approx([0.866025, -0.866025, -0.866025, 0.866025], abs=1e-5)
    assert advs[1] == pytest.approx([0.707107, -0.707107], abs=1e-5)


def test_unknown_advantage_parameter(write_jsonl, capsys):
    src = write_jsonl([group("1", ["a"])])
    assert score(["--task", "math", "--reward", "accuracy", "--advantage", "grpo:epsilon=1",
                  "--input", str(src)]) == 2
    assert "epsilon" in capsys.readouterr().err


def _hapo_file(write_jsonl, steps, name):
    # Problem "a" in every step; "b" only at step 0 (its history must not leak into "a").
    rows = {
        0: [group("1", ["\\boxed{1}", "\\boxed{1}", "\\boxed{2}"], [20, 30, 5], id="a", step=0),
            group("1", ["\\boxed{1}"], [3], id="b", step=0)],
        1: [group("1", ["\\boxed{1}", "\\boxed{2}", "\\boxed{1}"], [10, 40, 30], id="a", step=1)],
        2: [group("1", ["\\boxed{1}", "\\boxed{2}"], [10, 5], id="a", step=2)],
    }
    return write_jsonl([r for s in steps for r in rows[s]], name=name)


def _hapo_scores(path):
    return [[c["rewards"]["hapo"] for c in json.loads(x)["completions"]]
            for x in path.read_text().splitlines()]


def test_hapo_history_across_steps_and_split_runs(write_jsonl, tmp_path):
    base = ["--task", "math", "--reward", "accuracy", "--reward", "hapo"]
    whole = tmp_path / "whole.jsonl"
    assert score([*base, "--input", str(_hapo_file(write_jsonl, [0, 1, 2], "all.jsonl")),
                  "--output", str(whole)]) == 0
    import math
    c = math.cos
    expected = [
        [0.0, 0.0, 0.0],  # step 0: no history for "a" yet -> 0 for everyone
        [0.0],            # "b" at step 0: no history either
        # step 1: h_a = 20 (shortest correct at step 0; "b"'s 3 does not count)
        #   L=10 correct: cos(pi/2 * 10/20) = 0.7071
        #   L=40 wrong:   L >= 2h -> -1, min(0, -1) = -1
        #   L=30 correct: cos(pi/2 * 30/20) = -0.7071, max(-0.7, .) = -0.7
        [c(math.pi / 4), -1.0, -0.7],
        # step 2: h_a = min(20, 10) = 10 (step 1's correct 10)
        #   L=10 correct: cos(pi/2) = 0;  L=5 wrong: cos(pi/4) = 0.7071, min(0, .) = 0
        [c(math.pi / 2), 0.0],
    ]
    got = _hapo_scores(whole)
    assert len(got) == 4 and all(g == pytest.approx(e, abs=1e-12) for g, e in zip(got, expected))

    # The same file in two runs, with the state saved after the first, gives identical numbers.
    state = tmp_path / "state.json"
    part1, part2 = tmp_path / "p1.jsonl", tmp_path / "p2.jsonl"
    assert score([*base, "--input", str(_hapo_file(write_jsonl, [0, 1], "a.jsonl")),
                  "--output", str(part1), "--save-state", str(state)]) == 0
    assert score([*base, "--input", str(_hapo_file(write_jsonl, [2], "b.jsonl")),
                  "--output", str(part2), "--load-state", str(state)]) == 0
    assert _hapo_scores(part1) + _hapo_scores(part2) == got
    # Without the saved state the last step has no history: proof the state carried it.
    assert score([*base, "--input", str(_hapo_file(write_jsonl, [2], "c.jsonl")),
                  "--output", str(part2)]) == 0
    assert _hapo_scores(part2) == [[0.0, 0.0]]


def test_finish_reason_defaults_to_stop_under_the_budget(write_jsonl, tmp_path):
    # 59 < 60 tokens: it stopped on its own, so `truncation` gives 0; 60 with "length": -1
    src = write_jsonl([{"prompt": "p", "answer": "1", "max_new_tokens": 60, "completions": [
        {"text": "a", "num_tokens": 59}, {"text": "b", "num_tokens": 60, "finish_reason": "length"}]}])
    out = tmp_path / "o.jsonl"
    assert score(["--task", "math", "--reward", "truncation", "--input", str(src),
                  "--output", str(out)]) == 0
    assert [c["reward"] for c in json.loads(out.read_text())["completions"]] == [0.0, -1.0]


def test_canon_advantage_uses_each_groups_budget(write_jsonl, tmp_path):
    # B15: two groups with budgets 100 and 1000, accuracy [1, 0] with the short reply correct.
    # CANON (mix 1): short r - m_long = 1 - 0 = 1, long r - m_short = 0 - 1 = -1, divided by the
    # group's own budget: +-0.01 and +-0.001 (it was +-0.001 for both: the step's largest budget)
    src = write_jsonl([
        group("1", ["\\boxed{1}", "\\boxed{2}"], lengths=[10, 20], max_new_tokens=100),
        group("1", ["\\boxed{1}", "\\boxed{2}"], lengths=[10, 20], max_new_tokens=1000),
    ])
    out = tmp_path / "o.jsonl"
    assert score(["--task", "math", "--reward", "accuracy", "--advantage", "canon",
                  "--input", str(src), "--output", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    got = [[c["advantage"] for c in line["completions"]] for line in lines]
    assert [x for row in got for x in row] == pytest.approx([0.01, -0.01, 0.001, -0.001], abs=1e-12)


def test_help_shows_the_example_and_where_names_come_from(capsys):
    # U6: a `\` at a line end in a non-raw docstring joined the example's two lines
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    out = capsys.readouterr().out
    assert "kimi_length:weight=0.4 \\\n" in out
    assert "rewardkit rewards list" in out and '"max_new_tokens"' in out
