"""Hand-computed cases for the ToolRL reward (rewards/toolrl.py)."""

from __future__ import annotations

import json
import math

import pytest

from rewardkit.registry import REWARDS
from rewardkit.rewards.toolrl import call_match_score, multiset_jaccard, parse_gold
from rewardkit.testing import make_group


def call(name, **params):
    return json.dumps({"name": name, "parameters": params})


def calls_block(*calls):
    return "<tool_call>\n" + "\n".join(calls) + "\n</tool_call>"


GOLD = calls_block(call("weather", city="Paris", day=1), call("time", tz="CET"))
# S_max = 1 + (1 + 2) + (1 + 1) = 6; R_correct = 6 * S / 6 - 3 = S - 3


def toolrl(texts, answer=GOLD, **params):
    g = make_group(texts=texts, answer=answer, correct=[None] * len(texts))
    return REWARDS.get("toolrl")(g, **params)


def test_exact_match_with_format():
    text = "<think>plan</think>\n" + GOLD
    assert toolrl([text]) == [1.0 + 3.0]


def test_partial_matches():
    texts = [
        # one wrong value: names 1 + weather (keys 1 + values 1) + time (1 + 1) = 5 -> 5 - 3 = 2
        "<think>t</think>\n"
        + calls_block(call("weather", city="Rome", day=1), call("time", tz="CET")),
        # missing the time call: names J({w, t}, {w}) = 1/2, weather 1 + 2 -> 3.5 - 3 = 0.5
        "<think>t</think>\n" + calls_block(call("weather", city="Paris", day=1)),
        # right calls, wrong order: not the exact list, but every part matches: S = 6 -> 3
        "<think>t</think>\n"
        + calls_block(call("time", tz="CET"), call("weather", city="Paris", day=1)),
        # extra key: weather keys J({city, day}, {city, day, unit}) = 2/3, values 2 -> 8/3
        # names 1, time 2 -> S = 1 + 8/3 + 2 = 17/3 -> 17/3 - 3 = 8/3
        "<think>t</think>\n"
        + calls_block(call("weather", city="Paris", day=1, unit="C"), call("time", tz="CET")),
    ]
    assert toolrl(texts) == pytest.approx([1 + 2.0, 1 + 0.5, 1 + 3.0, 1 + 8 / 3])


def test_format_failures_and_unparseable_calls():
    good = calls_block(call("weather", city="Paris", day=1), call("time", tz="CET"))
    texts = [
        # no think block: format 0, calls exact -> 3
        good,
        # text after the calls: format 0 (the layout must end with </tool_call>)
        "<think>t</think>\n" + good + "\nbye",
        # two tool_call blocks: format 0; the first block is parsed and matches exactly -> 3
        "<think>t</think>\n" + good + "\n" + good,
        # not JSON inside the block: format 1 but R_correct = -3
        "<think>t</think>\n<tool_call>\nweather(Paris)\n</tool_call>",
        # no tool call at all: -3
        "<think>t</think>\nIt is sunny.",
    ]
    assert toolrl(texts) == pytest.approx([3.0, 3.0, 3.0, 1 - 3.0, -3.0])


def test_response_gold_and_both():
    reply_gold = "<response>Hello!</response>"
    texts = ["<think>t</think>\n<response>Hi</response>", "<response>Hi</response>"]
    # response-only gold: only the format counts (R_correct = 0)
    assert toolrl(texts, answer=reply_gold) == [1.0, 0.0]
    both_gold = calls_block(call("f", x=1)) + "\n<response>done</response>"
    both = "<think>t</think>\n" + calls_block(call("f", x=1)) + "\n<response>ok</response>"
    calls_only = "<think>t</think>\n" + calls_block(call("f", x=1))
    # both expected: the layout with both parts gets format 1; calls-only misses the response
    assert toolrl([both, calls_only], answer=both_gold) == [4.0, 3.0]


def test_json_list_gold_and_arguments_key():
    gold = json.dumps([{"name": "f", "arguments": {"x": 1}}])
    text = "<think>t</think>\n" + calls_block(call("f", x=1))
    assert toolrl([text], answer=gold) == [4.0]


def test_custom_scale():
    # exact: format 0.5 + 1; no call: 0 + (-1)
    text = "<think>t</think>\n" + GOLD
    got = toolrl([text, "nothing"], format_max=0.5, correct_max=1.0, correct_min=-1.0)
    assert got == [1.5, -1.0]


@pytest.mark.parametrize(
    "answer", [None, "plain text", "<tool_call>\nnot json\n</tool_call>", "<tool_call>\n{}", "[]"]
)
def test_unreadable_gold_is_nan(answer):
    assert parse_gold(answer) is None
    assert all(math.isnan(x) for x in toolrl(["<think>t</think>\nx"], answer=answer))


def test_helpers():
    assert multiset_jaccard([], []) == 1.0
    assert multiset_jaccard(["a"], []) == 0.0
    # {a, a, b} vs {a, b, b}: overlap a + b = 2, union 3 + 3 - 2 = 4
    assert multiset_jaccard(["a", "a", "b"], ["a", "b", "b"]) == 0.5
    gold = [{"name": "f", "parameters": {"x": 1}}, {"name": "f", "parameters": {"x": 2}}]
    pred = [{"name": "f", "parameters": {"x": 2}}, {"name": "f", "parameters": {"x": 1}}]
    # names 1; gold 1 -> best unused: pred 0 scores 1 (keys) + 0, pred 1 scores 1 + 1 -> pred 1
    # gold 2 -> pred 0 is left: 1 + 1 -> S = 1 + 2 + 2 = 5 of 1 + 2 + 2
    assert call_match_score(gold, pred) == (5.0, 5.0)
    # a predicted call is used at most once, greedily in gold order: one predicted f(x=2)
    # names J({f, f}, {f}) = 0.5; gold f(x=1) takes it first (keys 1 + values 0 = 1);
    # gold f(x=2) finds nothing left -> S = 0.5 + 1 = 1.5 (ToolRL's greedy matching)
    assert call_match_score(gold, pred[:1]) == (1.5, 5.0)
