"""The synthetic `arith` task: determinism, splits, verification, warm-start traces."""

from __future__ import annotations

import itertools
import json
import logging
import random

import pytest

from rewardkit.errors import UserError
from rewardkit.tasks import get_task
from rewardkit.tasks.synthetic import (
    ArithTask,
    concise_trace,
    operands,
    split_of,
    verbose_trace,
    warm_start_examples,
)
from rewardkit.types import Completion, Group, Problem


def test_registered():
    assert isinstance(get_task("arith"), ArithTask)


def test_deterministic_and_seed_dependent():
    t = ArithTask()
    a = t.problems("train", 50, seed=3)
    assert a == t.problems("train", 50, seed=3)
    assert [p.prompt for p in a] != [p.prompt for p in t.problems("train", 50, seed=4)]
    # A longer request starts with the shorter one (the stream does not depend on n).
    assert t.problems("train", 80, seed=3)[:50] == a


def test_difficulty_in_meta_and_answer_is_the_sum():
    probs = ArithTask().generate(30, seed=0, difficulties=[1, 2, 4])
    assert [p.meta["difficulty"] for p in probs[:6]] == [1, 2, 4, 1, 2, 4]
    for p in probs:
        nums = operands(p.prompt)
        assert len(nums) == p.meta["difficulty"] + 1  # difficulty = number of additions
        assert all(1 <= x <= 9 for x in nums)  # the default max_operand
        assert p.answer == str(sum(nums))
        assert p.task == "arith"
    assert len({p.id for p in probs}) == len(probs)


@pytest.mark.parametrize("max_operand", [9, 99])
def test_splits_never_overlap(max_operand):
    t = ArithTask()
    t.max_operand = max_operand
    # Same seed for every split: the split bucket alone must keep them apart.
    train = {p.prompt for p in t.problems("train", 3000, seed=0)}
    test = {p.prompt for p in t.problems("test", 600, seed=0)}
    val = {p.prompt for p in t.problems("validation", 600, seed=0)}
    assert not train & test and not train & val and not test & val
    assert {split_of(q) for q in test} == {"test"}
    assert {split_of(q) for q in val} == {"validation"}
    # Difficulty 3 (9**4 = 6561 questions with single digits, ~650 in "test") has room for
    # 200 distinct test questions, so no repeats there.
    d3 = [p.prompt for p in t.problems("test", 200, seed=0, difficulties=[3])]
    assert len(set(d3)) == 200


def test_bad_split_and_small_spaces():
    t = ArithTask()
    with pytest.raises(UserError, match="unknown split"):
        t.problems("dev", 3)
    t.max_operand = 9  # 81 questions of difficulty 1 in all, about 8 of them in "test"
    test = t.problems("test", 40, difficulties=[1], distinct=False)
    distinct = {p.prompt for p in test}
    assert len(distinct) < 20  # the bucket is used up, then repeats are drawn
    # All distinct ones come first; every question still belongs to the test split.
    assert len({p.prompt for p in test[: len(distinct)]}) == len(distinct)
    assert {split_of(q) for q in distinct} == {"test"}
    t.max_operand = 1  # one question of difficulty 1 in all ("1+1=?"), in one split only
    empty = next(s for s in ("train", "validation", "test") if s != split_of("1+1=?"))
    with pytest.raises(UserError, match="has no problems"):
        t.problems(empty, 1, difficulties=[1])


def _verify(answer: str, texts: list[str]) -> Group:
    problem = Problem("p", "12+7+35=?", answer, "arith", {"difficulty": 2})
    comps = [Completion(text=x, num_tokens=len(x)) for x in texts]
    return ArithTask().verify(Group(problem, comps, max_new_tokens=512))


def test_verify_right_wrong_and_no_answer():
    g = _verify("54", [
        "<think>12+7=19 19+35=54</think>\\boxed{54}",    # right
        "<think>12+7=19 19+35=55</think>\\boxed{55}",    # wrong number
        "<think>12+7=19 19+35=54</think> 54",            # no box after </think>
        "<think>\\boxed{54}</think>",                     # box only inside the thinking
        "<think>12+7=19 19+35=54</think>\\boxed{54.0}",  # not an integer: exact format
        "<think>12+7=19 19+35=54",                        # cut off
        "<think>x</think>\\boxed{5}\\boxed{54}",          # the last box counts
    ])
    assert g.correct == (True, False, False, False, False, False, True)
    assert set(g.status) == {"ok"}


def test_unparseable_gold_is_none():
    g = _verify("fifty", ["<think>x</think>\\boxed{54}"])
    assert g.correct == (None,) and g.status == ("unparseable_gold",)


def test_load_jsonl(tmp_path):
    path = tmp_path / "a.jsonl"
    rows = [{"question": "1+2=?", "answer": "3", "difficulty": 1}, {"question": "4+5+6=?"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    probs = ArithTask().load(path)
    assert [(p.prompt, p.answer, p.meta["difficulty"]) for p in probs] == [
        ("1+2=?", "3", 1),
        ("4+5+6=?", "15", 2),  # answer and difficulty derived from the question: 4+5+6, 2 additions
    ]
    path.write_text(json.dumps({"question": "what is 2+2"}) + "\n")
    with pytest.raises(UserError, match=":1"):
        ArithTask().load(path)


def test_prompt_is_short():
    p = ArithTask().problems("test", 1, difficulties=[3])[0]
    assert ArithTask().prompt(p) == p.prompt + "\n"


def test_traces_all_verify_and_verbose_is_longer():
    t = ArithTask()
    probs = t.problems("train", 300, seed=1, difficulties=[1, 2, 3, 4, 5])
    rng = random.Random(0)
    concise, verbose = [], []
    for p in probs:
        gold = t.parse_gold(p.answer)
        c, v = concise_trace(p.prompt), verbose_trace(p.prompt, rng)
        assert t.check(gold, c) == (True, "ok")
        assert t.check(gold, v) == (True, "ok")
        assert c.startswith("<think>") and v.startswith("<think>")
        concise.append(len(c))
        verbose.append(len(v))
    # The demo needs room for a length reward: verbose at least twice as long on average.
    assert sum(verbose) >= 2 * sum(concise)


def test_warm_start_mix():
    probs = ArithTask().problems("train", 1000, seed=0)
    ex = warm_start_examples(probs, verbose_fraction=0.8, seed=0)
    assert ex == warm_start_examples(probs, verbose_fraction=0.8, seed=0)
    concise = sum(c == concise_trace(p.prompt) for p, (_, c) in zip(probs, ex))
    # Binomial(1000, 0.2): mean 200, sd ~12.6; 150..250 is about +-4 sd.
    assert 150 <= concise <= 250
    assert all(prompt == p.prompt + "\n" for p, (prompt, _) in zip(probs, ex))
    assert {c for _, c in warm_start_examples(probs[:20], verbose_fraction=0.0)} == {
        concise_trace(p.prompt) for p in probs[:20]
    }
    with pytest.raises(UserError):
        warm_start_examples(probs, verbose_fraction=1.5)


def _split_questions(split: str, difficulty: int, max_operand: int = 9) -> set[str]:
    # every question of the space, listed by hand: all operand tuples, kept by split
    return {q for nums in itertools.product(range(1, max_operand + 1), repeat=difficulty + 1)
            if split_of(q := "+".join(map(str, nums)) + "=?") == split}


def test_held_out_problems_are_distinct_and_say_how_many_exist(caplog):
    # issue 11 #15 (B7): the demo's 200 "held-out problems" were 140 distinct ones
    t = ArithTask()
    test = t.problems("test", 200)  # the demo's and `rewardkit eval --data arith`'s request
    assert len({p.prompt for p in test}) == len(test) == 200
    assert t.problems("test", 300)[:200] == test  # a longer request extends the shorter one
    # Difficulties 1 and 2 hold fewer test questions than asked: all of them, once, and a warning.
    exist = _split_questions("test", 1) | _split_questions("test", 2)
    with caplog.at_level(logging.WARNING, logger="rewardkit.tasks"):
        small = t.problems("test", 1000, difficulties=[1, 2])
    assert sorted(p.prompt for p in small) == sorted(exist)
    assert f"only {len(exist)} distinct problems" in caplog.text
    # The first 2 * len(d1) problems still alternate 1, 2 (then only 2 is left).
    d1 = len(_split_questions("test", 1))
    assert [p.meta["difficulty"] for p in small[: 2 * d1]] == [1, 2] * d1
    assert {p.prompt for p in t.problems("validation", 50)}.isdisjoint(p.prompt for p in test)


def test_train_split_still_streams_with_repeats():
    t = ArithTask()
    train = t.problems("train", 200, difficulties=[1])  # about 65 train questions exist
    assert len(train) == 200 and len({p.prompt for p in train}) < 100
