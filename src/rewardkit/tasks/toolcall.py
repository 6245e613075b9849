"""`toolcall`: the reply's tool calls against the gold calls.

A reply's calls are JSON objects `{"name": ..., "arguments"|"parameters": {...}}` (arguments
may also be a JSON string, as OpenAI-style calls write them), found after </think> in
`<tool_call>...</tool_call>` blocks (Hermes/Qwen: one object per block; ToolRL: one object per
line inside one block), else in ```json fenced blocks (an object or a list of objects).

The gold is `meta.tool_calls` (a list of calls) when the row has it, else `answer` in the format
the `toolrl` reward reads (ToolRL's target text with `<tool_call>` / `<response>`, or a JSON
list of calls). Correct when the reply makes the same calls: the same multiset of (name,
arguments), order ignored, argument values compared as JSON values (1 and 1.0 are equal, "1" is
not). A gold with a `<response>` and no calls is matched by a reply that makes no call. A block
that is not valid JSON makes the reply wrong (status "ok").
"""

from __future__ import annotations

import json
import re
from typing import Any

from rewardkit.registry import TASKS
from rewardkit.tasks.base import Task, Verdict, answer_region
from rewardkit.types import Problem

_TAGGED = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_FENCED = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)
Call = tuple[str, str]  # (name, arguments as canonical JSON)


def _canonical(obj: Any) -> Call | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return obj["name"], json.dumps(args, sort_keys=True)


def _calls_in(block: str) -> list[Call] | None:
    """The calls in one block: one JSON value (object or list), else one object per line."""
    try:
        values = [json.loads(block)]
    except json.JSONDecodeError:
        try:
            values = [json.loads(line) for line in block.splitlines() if line.strip()]
        except json.JSONDecodeError:
            return None
    items = [x for v in values for x in (v if isinstance(v, list) else [v])]
    calls = [_canonical(x) for x in items]
    return None if any(c is None for c in calls) else calls  # type: ignore[return-value]


def reply_calls(text: str) -> list[Call] | None:
    """The calls a reply makes, sorted; [] for none; None if a call block is not valid.

    >>> reply_calls('<think>x</think><tool_call>\\n{"name": "f", "arguments": {"a": 1}}\\n'
    ...             '</tool_call>')
    [('f', '{"a": 1}')]
    >>> reply_calls('```json\\n[{"name": "g", "parameters": {}}]\\n```'), reply_calls("hi")
    ([('g', '{}')], [])
    """
    region = answer_region(text)
    blocks = _TAGGED.findall(region) or _FENCED.findall(region)
    calls: list[Call] = []
    for block in blocks:
        found = _calls_in(block.strip())
        if found is None:
            return None
        calls += found
    return sorted(calls)


class ToolCallTask(Task):
    """Tool calling (see the module docstring).

    >>> t = ToolCallTask()
    >>> g = t.gold_of(Problem("p", "q", '[{"name": "f", "parameters": {"a": 1}}]'))
    >>> t.check(g, '<tool_call>{"name": "f", "arguments": "{\\\\"a\\\\": 1.0}"}</tool_call>')
    (True, 'ok')
    >>> t.check(g, '<tool_call>{"name": "f", "arguments": {"a": "1"}}</tool_call>')
    (False, 'ok')
    """

    name = "toolcall"
    prompt_key = "question"

    def gold_of(self, problem: Problem) -> Any:
        listed = problem.meta.get("tool_calls")
        if not isinstance(listed, list):
            from rewardkit.rewards.toolrl import parse_gold

            parsed = parse_gold(problem.answer)
            if parsed is None:
                return None
            listed = parsed[0] or []  # (calls, has_response)
        calls = [_canonical(c) for c in listed]
        return None if any(c is None for c in calls) else sorted(calls)  # type: ignore

    def extract_answer(self, text: str) -> str | None:
        return _as_answer(reply_calls(text))

    def triage(self, gold: Any, text: str) -> tuple[str | None, Verdict]:
        calls = reply_calls(text)  # once for both the answer and the verdict
        return _as_answer(calls), (calls is not None and _same(calls, gold), "ok")

    def check(self, gold: Any, text: str) -> Verdict:
        return self.triage(gold, text)[1]


def _as_answer(calls: list[Call] | None) -> str | None:
    return None if not calls else json.dumps([[n, json.loads(a)] for n, a in calls])

def _same(pred: list[Call], gold: list[Call]) -> bool:
    # Canonical JSON strings differ for 1 and 1.0; compare the decoded values instead.
    return [(n, json.loads(a)) for n, a in pred] == [(n, json.loads(a)) for n, a in gold]


TASKS.register("toolcall")(ToolCallTask)
