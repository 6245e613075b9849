"""Tasks: answer extraction and verification with statuses."""

import pytest

from rewardkit.errors import UserError
from rewardkit.tasks import get_task
from rewardkit.tasks.base import last_boxed
from rewardkit.testing import make_group

from .conftest import SHARED_DATA


def verdicts(task, texts, answer):
    g = get_task(task).verify(make_group(texts=texts, answer=answer, task=task))
    return list(g.correct), list(g.status)


def test_math_boxed_wrong_and_missing():
    texts = ["<think>6*7</think> \\boxed{42}", "\\boxed{48}", "I don't know"]
    assert verdicts("math", texts, "42") == ([True, False, False], ["ok"] * 3)


def test_math_equivalent_forms_and_last_box_after_think():
    texts = ["\\boxed{\\frac{1}{2}}", "\\boxed{0.5}", "<think>maybe \\boxed{3}</think> \\boxed{1/2}",
             "<think>\\boxed{1/2}</think> \\boxed{3}"]
    assert verdicts("math", texts, "\\frac{1}{2}")[0] == [True, True, True, False]


def test_math_unparseable_gold_is_none_not_wrong():
    correct, status = verdicts("math", ["\\boxed{1}", "\\boxed{2}"], "")
    assert correct == [None, None] and status == ["unparseable_gold"] * 2


def test_last_boxed_nested_and_unbalanced():
    assert last_boxed("\\boxed{\\frac{a}{b}}") == "\\frac{a}{b}"
    assert last_boxed("\\boxed{12") is None


def test_gsm8k_gold_and_numeric_compare():
    texts = ["so #### 1,234", "<think>..</think>\\boxed{1234.0}", "the total is $1234.", "1233"]
    assert verdicts("gsm8k", texts, "1234")[0] == [True, True, True, False]
    task = get_task("gsm8k")
    p = task.problem_from_row({"question": "q?", "answer": "work\n#### 72"}, 0)
    assert p.answer == "72" and p.prompt == "q?"


def test_task_load_errors_name_file_and_line(write_jsonl):
    path = write_jsonl(['{"question": "a", "answer": "#### 1"}', "{not json"])
    with pytest.raises(UserError, match=r"in\.jsonl:2: invalid JSON"):
        get_task("gsm8k").load(path)
    path = write_jsonl(['{"problem": "a", "answer": "1"}'], name="m.jsonl")
    with pytest.raises(UserError, match=r"m\.jsonl:1: missing prompt key 'question'"):
        get_task("gsm8k").load(path)


@pytest.mark.skipif(not (SHARED_DATA / "gsm8k").exists(), reason="shared/data not present")
def test_real_files_load():
    gsm = get_task("gsm8k").load(SHARED_DATA / "gsm8k" / "test.jsonl", limit=5)
    assert len(gsm) == 5 and all(p.answer and p.answer.lstrip("-").isdigit() for p in gsm)
    math500 = get_task("math").load(SHARED_DATA / "math500" / "test.jsonl", limit=5)
    assert len(math500) == 5 and all(p.answer for p in math500)
    # The gold of every loaded MATH-500 problem parses, so no group is silently unjudgeable.
    assert all(get_task("math").parse_gold(p.answer) is not None for p in math500)
