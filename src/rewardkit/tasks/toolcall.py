"""`toolcall`: the reply's tool calls against the gold calls.

A reply's calls are JSON objects `{"name": ..., "arguments"|"parameters": {...}}` (arguments
may also be a JSON string, as OpenAI-style calls write them), found after </think> in
`<tool_call>...</tool_call>` blocks (Hermes/Qwen: one object per block; ToolRL: one object per
line inside one block), else in ```json (or bare ```) fenced blocks (an object or a list of
objects; blocks fenced for another language are skipped). Both are found in linear time.

The gold is `meta.tool_calls` (a list of calls) when the row has it, else `answer`: calls in
`<tool_call>` blocks (all of them, Hermes or ToolRL layout; a `<response>` alone means no call),
or a JSON list of calls. Correct when the reply makes the same calls: the same multiset of
(name, arguments), order ignored, argument values compared as JSON values (1 and 1.0 are equal;
"1" is not, and neither is true). A gold with a `<response>` and no calls is matched by a reply
that makes no call. A block that is not valid JSON (also one nested too deep to decode, or with
an integer of over 4,300 digits) makes the reply wrong (status "ok").
"""

from __future__ import annotations

import json
from typing import Any

from rewardkit.registry import TASKS
from rewardkit.tasks.base import Task, Verdict, answer_region
from rewardkit.types import Problem

_OPEN, _CLOSE, _FENCE = "<tool_call>", "</tool_call>", "```"
Call = tuple[str, str]  # (name, arguments as canonical JSON)
# json.loads raises ValueError (JSONDecodeError, or an int of 4,300+ digits) or RecursionError
_UNREADABLE = (ValueError, RecursionError)


def tagged_blocks(text: str) -> list[str]:
    """The contents of the `<tool_call>...</tool_call>` blocks in `text`, in order.

    >>> tagged_blocks("<tool_call>a</tool_call> x <tool_call>b</tool_call><tool_call>c")
    ['a', 'b']
    """
    out, pos = [], 0
    while (start := text.find(_OPEN, pos)) >= 0:
        end = text.find(_CLOSE, start + len(_OPEN))
        if end < 0:  # nothing closes after here: no later block can either
            break
        out.append(text[start + len(_OPEN):end])
        pos = end + len(_CLOSE)
    return out


def fenced_blocks(text: str) -> list[str]:
    """The contents of the ```json and bare ``` fenced blocks in `text`, in order; blocks
    fenced for another language are skipped whole.

    >>> fenced_blocks("```python\\nprint(1)\\n```\\nthen\\n```JSON\\n{}\\n```")
    ['{}\\n']
    """
    out, pos = [], 0
    while (start := text.find(_FENCE, pos)) >= 0:
        line_end = text.find("\n", start)
        info = text[start + len(_FENCE):line_end if line_end >= 0 else len(text)]
        if _FENCE in info:  # opened and closed on one line: no block
            pos = start + len(_FENCE) + info.index(_FENCE) + len(_FENCE)
            continue
        end = text.find(_FENCE, line_end) if line_end >= 0 else -1
        if end < 0:
            break
        if info.strip().lower() in ("", "json"):
            out.append(text[line_end + 1:end])
        pos = end + len(_FENCE)
    return out


def _json_value(value: Any) -> Any:
    """`value` as JSON compares it: 1.0 is the number 1; true stays apart from 1 (Python's
    True == 1 would not)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _canonical(obj: Any) -> Call | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    try:
        if isinstance(args, str):
            args = json.loads(args)
        if not isinstance(args, dict):
            return None
        return obj["name"], json.dumps(_json_value(args), sort_keys=True)
    except _UNREADABLE:
        return None


def _calls_in(block: str) -> list[Call] | None:
    """The calls in one block: one JSON value (object or list), else one object per line."""
    try:
        values = [json.loads(block)]
    except _UNREADABLE:
        try:
            values = [json.loads(line) for line in block.splitlines() if line.strip()]
        except _UNREADABLE:
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
    blocks = tagged_blocks(region) or fenced_blocks(region)
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
        answer = problem.answer or ""
        if not isinstance(listed, list) and _OPEN in answer:  # every block, not the first only
            calls = reply_calls(answer)
            return calls or None  # a block without calls: unreadable
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
    return pred == gold  # both sorted, arguments canonical (`_json_value`)


TASKS.register("toolcall")(ToolCallTask)
