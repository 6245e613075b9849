"""Reports: the runs table, the Pareto front, the PNGs and the self-contained HTML page."""

from __future__ import annotations

import base64
import re

import pytest

from rewardkit.eval import write_eval
from rewardkit.eval.report import compare, markdown_table, pareto_front, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

RUNS = [
    # name, accuracy, mean_tokens: "long" is dominated by "short-accurate" (more tokens, less acc)
    {"name": "start", "accuracy": 0.20, "mean_tokens": 50.0, "budgets": {"32": 0.1, "64": 0.2}},
    {"name": "long", "accuracy": 0.50, "mean_tokens": 400.0, "budgets": {"32": 0.0, "64": 0.1}},
    {"name": "short-accurate", "accuracy": 0.55, "mean_tokens": 120.0,
     "budgets": {"32": 0.2, "64": 0.4}},
    {"name": "no-tokens", "accuracy": 0.3},  # a row without mean_tokens: skipped in the plot
]


def test_pareto_front_hand_checked():
    # start (0.20, 50): nothing has fewer tokens -> on the front
    # long (0.50, 400): short-accurate has more accuracy with fewer tokens -> dominated
    # short-accurate (0.55, 120): nothing is more accurate -> on the front
    assert pareto_front(RUNS) == [0, 2]
    # equal points do not dominate each other
    assert pareto_front([{"accuracy": 0.5, "mean_tokens": 10}] * 2) == [0, 1]


def test_markdown_table_marks_front_and_skips_empty_columns():
    table = markdown_table(RUNS).splitlines()
    assert table[0] == "| run | accuracy | mean tokens |"
    assert table[2] == "| start * | 0.200 | 50.0 |"
    assert table[3] == "| long | 0.500 | 400.0 |"
    assert table[5] == "| no-tokens | 0.300 | – |"


def test_markdown_table_uses_largest_k():
    row = {"name": "r", "accuracy": 0.5, "pass@1": 0.5, "pass@2": 0.7, "pass@8": 0.9,
           "maj@8": 0.6}
    head, _, line = markdown_table([row]).splitlines()
    assert "pass@n" in head and "maj@n" in head
    assert line.endswith("| 0.600 | 0.900 |")  # maj@8, then pass@8 (not pass@2)


def test_write_report_files_and_embedded_images(tmp_path):
    samples = {"start": [{"problem_id": "p", "prompt": "1+1?", "completion": "2", "tokens": 3,
                          "finish_reason": "stop", "correct": True, "answer": "2", "gold": "2"}]}
    paths = write_report(tmp_path, RUNS, samples, title="T")
    for key in ("pareto", "budgets"):
        assert paths[key].read_bytes().startswith(PNG_MAGIC)
    page = paths["report"].read_text()
    # each PNG is inlined byte for byte as a data URI; no reference to a file on disk
    uris = dict(re.findall(r'<img id="(\w+)" alt="[^"]*" src="data:image/png;base64,([^"]+)"',
                           page))
    assert set(uris) == {"pareto", "budgets"}
    for key, b64 in uris.items():
        assert base64.b64decode(b64) == paths[key].read_bytes()
    assert 'src="pareto.png"' not in page
    assert "<td>short-accurate ★</td>" in page and "<td>long</td>" in page
    assert (tmp_path / "table.md").read_text() == markdown_table(RUNS) + "\n"


def test_report_without_budgets_has_no_budget_plot(tmp_path):
    paths = write_report(tmp_path, [{"name": "a", "accuracy": 0.5, "mean_tokens": 10.0}])
    assert "budgets" not in paths and not (tmp_path / "budgets.png").exists()
    assert 'id="pareto"' in paths["report"].read_text()


def test_html_escapes_model_text(tmp_path):
    evil = '</pre><script>alert("x")</script><img src=x onerror=alert(1)>'
    runs = [{"name": "<b>run</b>", "accuracy": 0.5, "mean_tokens": 10.0}]
    samples = {"<b>run</b>": [{"problem_id": "p", "prompt": evil, "completion": evil,
                               "tokens": 3, "finish_reason": "stop", "correct": False,
                               "answer": evil, "gold": "1"}]}
    page = write_report(tmp_path, runs, samples)["report"].read_text()
    assert "<script>" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;b&gt;run&lt;/b&gt;" in page and "<b>run</b>" not in page


def _eval_dir(path, accuracy_pattern, tokens):
    # two problems x 2 samples; correctness and tokens as given
    samples = [
        {"problem_id": f"p{i // 2}", "sample": i % 2, "prompt": f"Q{i // 2}",
         "completion": f"reply {i} of {path.name}", "tokens": t, "finish_reason": "stop",
         "correct": ok, "status": "ok", "answer": str(i), "gold": "0"}
        for i, (ok, t) in enumerate(zip(accuracy_pattern, tokens))
    ]
    acc = sum(accuracy_pattern) / len(accuracy_pattern)
    mean = sum(tokens) / len(tokens)
    summary = {"accuracy": acc, "pass@1": acc, "mean_tokens": mean, "n": 2, "num_problems": 2,
               "budgets": {"8": 0.0, "64": acc}}
    write_eval(path, samples, summary)
    return path


def test_compare_eval_dirs(tmp_path):
    a = _eval_dir(tmp_path / "a" / "base", [True, False, False, False], [40, 60, 50, 50])
    b = _eval_dir(tmp_path / "b" / "base", [True, True, False, True], [20, 30, 20, 30])
    table, paths = compare([a, b], tmp_path / "cmp")
    # same folder name twice: both get their parents' names too
    assert "| a/base | 0.250 | 0.250 | 50.0 | 2 | 2 |" in table
    assert "| b/base * | 0.750 | 0.750 | 25.0 | 2 | 2 |" in table
    page = paths["report"].read_text()
    assert "reply 0 of base" in page and page.count("<pre>reply") == 4  # 2 problems x 2 runs


def test_compare_reads_demo_summary_rows(tmp_path):
    demo = tmp_path / "demo"
    write_eval(demo, [], {"runs": [{"name": "start", "accuracy": 0.1, "mean_tokens": 90.0},
                                   {"name": "dler", "accuracy": 0.4, "mean_tokens": 30.0}]})
    table, _ = compare([demo], tmp_path / "cmp")
    assert "| start | 0.100 | 90.0 |" in table and "| dler * | 0.400 | 30.0 |" in table


def test_compare_missing_summary_is_a_user_error(tmp_path):
    from rewardkit.errors import UserError

    with pytest.raises(UserError, match="no summary.json"):
        compare([tmp_path], tmp_path / "cmp")


def test_report_warns_when_settings_differ(tmp_path):
    runs = [{"name": "a", "accuracy": 0.5, "mean_tokens": 10.0, "data": "gsm8k", "n": 4},
            {"name": "b", "accuracy": 0.6, "mean_tokens": 20.0, "data": "math", "n": 4}]
    page = write_report(tmp_path, runs)["report"].read_text()
    assert '<p class="warn">These runs differ in data:' in page
    same = write_report(tmp_path / "same", [dict(runs[0], name="c"), runs[0]])["report"]
    assert 'class="warn"' not in same.read_text()


def test_accuracy_judged_column_only_when_some_samples_are_unjudged():
    # issue 11 #17: both accuracies are listed where they differ
    from rewardkit.eval.report import markdown_table

    clean = {"name": "a", "accuracy": 0.5, "accuracy_judged": 0.5, "unjudged_frac": 0.0}
    timeouts = {"name": "b", "accuracy": 0.5, "accuracy_judged": 0.625, "unjudged_frac": 0.2}
    assert "judged" not in markdown_table([clean])
    table = markdown_table([clean, timeouts])
    assert table.startswith("| run | accuracy | accuracy (judged) |")
    assert "| 0.500 | 0.625 |" in table  # b: 0.5 of all, 0.625 = 0.5 / 0.8 of the judged
