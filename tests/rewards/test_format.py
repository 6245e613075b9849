"""`format` (rewards/format.py): the task's own extraction, and think blocks opened by templates."""

from __future__ import annotations

import pytest

from rewardkit.registry import REWARDS
from rewardkit.tasks.base import Task, last_number
from rewardkit.testing import make_group


class CountTask(Task):
    """A user task outside the registry (as `task: my_pkg.CountTask` would load it)."""

    name = "count"  # what Problem.task holds: the short name, never registered

    def extract_answer(self, text: str) -> str | None:
        return last_number(text)


def test_format_with_a_task_given_by_dotted_path():
    # B6: format used to look "count" up in TASKS and raise UnknownName
    texts = ["<think>1, 2, 3</think> there are 3", "<think>hm</think> no idea", "3"]
    group = CountTask().verify(make_group(texts=texts, task="count", answer="3"))
    # the task's extractor (last number), not \boxed: 1 (think + number), 0 (no number),
    # 0 (number but no think block)
    assert REWARDS.get("format")(group) == [1.0, 0.0, 0.0]
    assert REWARDS.get("format")(group, think_tags=False) == [1.0, 0.0, 1.0]


def test_format_reads_group_answers_not_the_text():
    # the verifier found no answer in the first reply although it has a \boxed: format follows it
    texts = ["<think>a</think> \\boxed{1}", "<think>a</think> \\boxed{2}"]
    group = make_group(texts=texts, correct=[False, True], answers=[None, "2"])
    assert REWARDS.get("format")(group) == [0.0, 1.0]


@pytest.mark.parametrize(
    "text, opened_by_reply, opened_by_prompt",
    [
        ("<think>6*7</think> \\boxed{42}", 1.0, 0.0),  # the reply opens the block itself
        ("6*7</think> \\boxed{42}", 0.0, 1.0),  # R1-Distill / Qwen3: "<think>\n" in the prompt
        ("</think> \\boxed{42}", 0.0, 0.0),  # nothing inside the block
        ("6*7 \\boxed{42}", 0.0, 0.0),  # never closed
        ("6*7</think> 42", 0.0, 0.0),  # closed, but no \boxed answer
        ("a</think> b</think> \\boxed{42}", 0.0, 0.0),  # closed twice
    ],
)
def test_format_think_block_opened_in_the_prompt(text, opened_by_reply, opened_by_prompt):
    group = make_group(texts=[text], correct=[True])
    assert REWARDS.get("format")(group) == [opened_by_reply]
    assert REWARDS.get("format")(group, think_open_in_prompt=True) == [opened_by_prompt]


def test_format_needs_a_verified_group():
    with pytest.raises(ValueError, match="Task.verify"):
        REWARDS.get("format")(make_group(texts=["<think>a</think> \\boxed{1}"]))
