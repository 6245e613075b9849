"""`format`: does the reply have the structure the task asks for?"""

from __future__ import annotations

from rewardkit.registry import REWARDS
from rewardkit.rewards._common import extracted_answers
from rewardkit.rewards.base import RewardContext
from rewardkit.types import Group


def has_think_block(text: str, *, open_in_prompt: bool = False) -> bool:
    """A closed, non-empty think block: exactly one <think>...</think>, opened before it closes.

    With `open_in_prompt` the chat template already opened the block (DeepSeek-R1-Distill and
    Qwen3 end the generation prompt with "<think>\\n"), so the reply must not open it again: no
    <think>, exactly one </think>, and something before it.
    An empty block (`<think></think>`) does not count: it is the cheapest way to game the check.

    >>> has_think_block("<think>2+2=4</think> \\\\boxed{4}"), has_think_block("<think></think>4")
    (True, False)
    >>> has_think_block("2+2=4</think> \\\\boxed{4}", open_in_prompt=True)
    True
    """
    if text.count("</think>") != 1:
        return False
    end = text.index("</think>")
    if open_in_prompt:
        start = 0
        if "<think>" in text:
            return False
    else:
        if text.count("<think>") != 1:
            return False
        start = text.index("<think>") + len("<think>")
    return start <= end and text[start:end].strip() != ""


@REWARDS.register("format")
def format_reward(
    group: Group,
    *,
    think_tags: bool = True,
    think_open_in_prompt: bool = False,
    ctx: RewardContext | None = None,
) -> list[float]:
    """1.0 if the reply has a closed, non-empty <think>...</think> block (when `think_tags`)
    followed by a final answer that the task's extractor found (\\boxed{} for math), else 0.0.

    The answer is the one the verifier extracted (`Group.answers`, filled by `Task.verify`), so
    every task, registered or given by dotted path, is judged by its own extractor. The group
    must therefore be verified: an unverified group raises ValueError (only its task knows what
    an answer looks like). Never NaN: a reply the verifier could not judge (verdict None) still
    has a structure. Set `think_open_in_prompt: true` when the chat template opens the think
    block in the prompt (DeepSeek-R1-Distill, Qwen3 in thinking mode): the reply then holds only
    the block's content and "</think>" (see `has_think_block`).

    The format reward of DeepSeek-R1 ("DeepSeek-R1: Incentivizing Reasoning Capability in LLMs via
    Reinforcement Learning", https://arxiv.org/abs/2501.12948), which rewards the think tags.
    Recipes weight it 0.1 to 0.5 next to `accuracy`. Defaults: think_tags = true,
    think_open_in_prompt = false.

    >>> from rewardkit.testing import make_group
    >>> texts = ["<think>6*7</think> \\\\boxed{42}", "<think>6*7</think> 42", "\\\\boxed{42}"]
    >>> format_reward(make_group(texts=texts, correct=[True, False, True]))
    [1.0, 0.0, 0.0]
    >>> format_reward(make_group(texts=texts, correct=[True, False, True]), think_tags=False)
    [1.0, 0.0, 1.0]
    >>> opened = ["6*7</think> \\\\boxed{42}", "<think>6*7</think> \\\\boxed{42}"]
    >>> format_reward(make_group(texts=opened, correct=[True, True]), think_open_in_prompt=True)
    [1.0, 0.0]
    """
    answers = extracted_answers(group, "format")
    return [
        float(
            (not think_tags or has_think_block(c.text, open_in_prompt=think_open_in_prompt))
            and answer is not None
        )
        for c, answer in zip(group.completions, answers)
    ]
