"""`format`: does the reply have the structure the task asks for?"""

from __future__ import annotations

from rewardkit.registry import REWARDS, TASKS
from rewardkit.rewards.base import RewardContext
from rewardkit.tasks.base import Task
from rewardkit.types import Group


def has_think_block(text: str) -> bool:
    """Exactly one <think>...</think>, opened before it is closed, with something inside.

    An empty block (`<think></think>`) does not count: it is the cheapest way to game the check.

    >>> has_think_block("<think>2+2=4</think> \\\\boxed{4}"), has_think_block("<think></think>4")
    (True, False)
    """
    if text.count("<think>") != 1 or text.count("</think>") != 1:
        return False
    start, end = text.index("<think>"), text.index("</think>")
    return start < end and text[start + len("<think>") : end].strip() != ""


@REWARDS.register("format")
def format_reward(
    group: Group, *, think_tags: bool = True, ctx: RewardContext | None = None
) -> list[float]:
    """1.0 if the reply has a closed, non-empty <think>...</think> block (when `think_tags`)
    followed by a final answer that the task's extractor finds (\\boxed{} for math), else 0.0.
    Never NaN: structure can always be judged, even when correctness cannot.

    The format reward of DeepSeek-R1 ("DeepSeek-R1: Incentivizing Reasoning Capability in LLMs via
    Reinforcement Learning", https://arxiv.org/abs/2501.12948), which rewards the think tags.
    Recipes weight it 0.1 to 0.5 next to `accuracy`.

    >>> from rewardkit.testing import make_group
    >>> texts = ["<think>6*7</think> \\\\boxed{42}", "<think>6*7</think> 42", "\\\\boxed{42}"]
    >>> format_reward(make_group(texts=texts, correct=[True, False, True]))
    [1.0, 0.0, 0.0]
    >>> format_reward(make_group(texts=texts, correct=[True, False, True]), think_tags=False)
    [1.0, 0.0, 1.0]
    """
    name = group.problem.task
    task: Task = TASKS.get(name)() if name else Task()
    out = []
    for c in group.completions:
        ok = (not think_tags or has_think_block(c.text)) and task.extract_answer(c.text) is not None
        out.append(float(ok))
    return out
