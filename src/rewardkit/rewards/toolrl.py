"""ToolRL: format plus fine-grained tool-call matching against the gold calls.

The gold (`problem.answer`) is either ToolRL's own target text, with one JSON call per line
inside `<tool_call>…</tool_call>` and/or a `<response>…</response>`, or a JSON list of calls
(tool calls only). A call is `{"name": …, "parameters": {…}}` (`"arguments"` is accepted too).
The reward judges the calls itself and does not read `group.correct`.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

from rewardkit.registry import REWARDS
from rewardkit.rewards.base import RewardContext
from rewardkit.types import Group

Call = dict[str, Any]  # {"name": str, "parameters": dict}

# The layouts ToolRL's format check accepts, keyed by (gold has calls, gold has a response).
_THINK = r"<think>.*?</think>\n"
_CALLS = r"<tool_call>\n.*?\n</tool_call>"
_REPLY = r"<response>.*?</response>"
_LAYOUTS = {
    (True, False): re.compile(f"^{_THINK}{_CALLS}$", re.DOTALL),
    (False, True): re.compile(f"^{_THINK}{_REPLY}$", re.DOTALL),
    (True, True): re.compile(f"^{_THINK}{_CALLS}\n{_REPLY}$", re.DOTALL),
}


def _normalise(obj: Any) -> Call | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    params = obj.get("parameters", obj.get("arguments", {}))
    return {"name": obj["name"], "parameters": params} if isinstance(params, dict) else None


def parse_calls(block: str) -> list[Call] | None:
    """One JSON call per non-blank line; None if any line is not a call.

    >>> parse_calls('{"name": "f", "arguments": {"x": 1}}\\n\\n{"name": "g"}')
    [{'name': 'f', 'parameters': {'x': 1}}, {'name': 'g', 'parameters': {}}]
    >>> parse_calls('{"name": "f"} trailing') is None
    True
    """
    calls = []
    for line in filter(None, (s.strip() for s in block.split("\n"))):
        try:
            call = _normalise(json.loads(line))
        except json.JSONDecodeError:
            return None
        if call is None:
            return None
        calls.append(call)
    return calls


def _between(text: str, start: str, end: str) -> str | None:
    if start not in text:
        return None
    inner = text.split(start, 1)[1]
    return inner.split(end, 1)[0] if end in inner else None


def parse_gold(answer: str | None) -> tuple[list[Call] | None, bool] | None:
    """(gold calls or None, gold has a response); None if the gold cannot be read."""
    if answer is None:
        return None
    has_reply = "<response>" in answer
    if "<tool_call>" in answer:
        block = _between(answer, "<tool_call>", "</tool_call>")
        calls = parse_calls(block) if block is not None else None
        return (calls, has_reply) if calls else None
    if has_reply:
        return None, True
    try:
        obj = json.loads(answer)
    except json.JSONDecodeError:
        return None
    items = obj if isinstance(obj, list) else [obj]
    calls = [_normalise(x) for x in items]
    return (calls, False) if calls and all(c is not None for c in calls) else None


def multiset_jaccard(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """|A ∩ B| / |A ∪ B| counting repeats; 1 if equal (both empty included), 0 if one is empty.

    >>> multiset_jaccard(["f", "f", "g"], ["f", "h"])  # overlap 1, union 3 + 2 - 1
    0.25
    """
    if list(a) == list(b):
        return 1.0
    if not a or not b:
        return 0.0
    overlap = sum((Counter(a) & Counter(b)).values())
    return overlap / (len(a) + len(b) - overlap)


def call_match_score(gold: list[Call], pred: list[Call]) -> tuple[float, float]:
    """(S, S_max) of ToolRL: S = Jaccard(names) + Σ over gold calls of the best unused predicted
    call with the same name, scored Jaccard(parameter keys) + #parameters with the exact value;
    S_max = 1 + Σ (1 + #gold parameters)."""
    score = multiset_jaccard([c["name"] for c in gold], [c["name"] for c in pred])
    best_possible = 1.0
    used: set[int] = set()
    for g in gold:
        gp = g["parameters"]
        best_possible += 1 + len(gp)
        best, best_i = 0.0, -1
        for i, p in enumerate(pred):
            if i in used or p["name"] != g["name"]:
                continue
            pp = p["parameters"]
            s = multiset_jaccard(list(gp), list(pp)) + sum(
                1.0 for k, v in gp.items() if k in pp and pp[k] == v
            )
            if s > best:  # strictly better: the first of equal candidates wins
                best, best_i = s, i
        if best_i >= 0:
            used.add(best_i)
            score += best
    return score, best_possible


@REWARDS.register("toolrl")
def toolrl(
    group: Group,
    *,
    format_max: float = 1.0,
    correct_max: float = 3.0,
    correct_min: float = -3.0,
    ctx: RewardContext | None = None,
) -> list[float]:
    """ToolRL reward R = R_format + R_correct (a full reward), from correct_min to
    format_max + correct_max.

    R_format = format_max if the reply (stripped) is exactly `<think>…</think>` then, on new
    lines, the parts the gold has: `<tool_call>\\n…\\n</tool_call>` and/or `<response>…</response>`
    (each tag once); else 0.
    R_correct, when the gold has calls: correct_max if the predicted calls equal the gold list;
    correct_min if the reply has no `<tool_call>…</tool_call>` or a line that is not a JSON call;
    otherwise (correct_max − correct_min)·S/S_max + correct_min with S, S_max from
    `call_match_score` (tool names, parameter names, exact parameter values). When the gold is a
    response only, R_correct = 0 (ToolRL scores free text with an LLM judge; a rewardkit `judge`
    reward can be added for that). Unreadable or missing gold: NaN (cannot judge). The verdict
    `group.correct` is not read. Values are compared with Python's `==`, as ToolRL's released
    `compute_tool_call_reward` compares them (`gt_tools == pd_tools`): so JSON `true` equals
    `1` here, unlike in the `toolcall` task's verdict, which compares JSON values strictly.

    Paper settings: R_format ∈ {0, 1}, R_correct ∈ [−3, 3]; the optional length reward
    (favouring longer thinking) is left out. "ToolRL: Reward is All Tool Learning Needs",
    https://arxiv.org/abs/2504.13958 (code: qiancheng0/ToolRL, `rlla.py`).

    >>> from rewardkit.testing import make_group
    >>> call = '{"name": "weather", "parameters": {"city": "Paris", "day": 1}}'
    >>> gold = "<tool_call>\\n" + call + "\\n</tool_call>"
    >>> exact = "<think>ok</think>\\n" + gold
    >>> close = exact.replace('"day": 1', '"day": 2')  # S = 1 + (1 + 1) of S_max = 1 + (1 + 2)
    >>> toolrl(make_group(texts=[exact, close, "no call"], answer=gold, correct=[None] * 3))
    [4.0, 2.5, -3.0]
    """
    gold = parse_gold(group.problem.answer)
    if gold is None:
        return [math.nan] * len(group)
    gold_calls, gold_reply = gold
    layout = _LAYOUTS[(gold_calls is not None, gold_reply)]
    out = []
    for c in group.completions:
        text = c.text.strip()
        ok = bool(layout.match(text))
        for tag in ("<tool_call>", "</tool_call>", "<response>", "</response>") if ok else ():
            if text.count(tag) > 1:
                ok = False
        fmt = format_max if ok else 0.0
        if gold_calls is None:
            out.append(fmt)
            continue
        block = _between(text, "<tool_call>", "</tool_call>")
        pred = parse_calls(block) if block is not None else None
        if pred is None:
            correct = correct_min
        elif pred == gold_calls:
            correct = correct_max
        else:
            s, s_max = call_match_score(gold_calls, pred)
            correct = (correct_max - correct_min) * s / s_max + correct_min
        out.append(fmt + correct)
    return out
