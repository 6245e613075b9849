"""reasoning-gym tasks: verdicts are reasoning-gym's own, splits never overlap, mistakes are
UserErrors, and train/eval/config accept `reasoning_gym:NAME`."""

from __future__ import annotations

import json
import sys

import pytest

from rewardkit.errors import UserError
from rewardkit.tasks import get_task
from rewardkit.types import Completion, Group
from rewardkit.verify import verify_groups

rg = pytest.importorskip("reasoning_gym", reason="needs the extra rewardkit[tasks]")
from reasoning_gym.utils import extract_answer as rg_extract  # noqa: E402


def _group(problem, texts):
    return Group(problem, [Completion(t, 5) for t in texts], 64)


def test_hand_checked_verdicts_and_scores():
    task = get_task("reasoning_gym:basic_arithmetic")
    problem = next(task.problems("train", 1, 0))
    assert (problem.prompt, problem.answer) == ("Calculate -1 / 1 + -8 / 4.", "-3")
    # -1/1 + -8/4 = -1 + -2 = -3: the boxed and the tagged right answers score 1; "-4" scores 0
    # (reasoning-gym's default scorer: exact match 1, else len(gold)/len(reply) if gold is a
    # substring: "-3" in "x = -3" gives 2/6); no answer at all scores 0.
    texts = ["<think>-1-2</think>\\boxed{-3}", "<answer>-3</answer>", "<answer>-4</answer>",
             "<answer>x = -3</answer>", "I don't know"]
    [g] = verify_groups(task, [_group(problem, texts)])
    assert g.status == ("ok",) * 5
    assert g.scores == (1.0, 1.0, 0.0, pytest.approx(2 / 6), 0.0)
    assert g.correct == (True, True, False, False, False)
    assert g.answers == ("-3", "-3", "-4", "x = -3", None)


GENERATORS = ["basic_arithmetic", "chain_sum", "leg_counting", "propositional_logic",
              "prime_factorization", "graph_color"]


@pytest.mark.parametrize("name", GENERATORS)
def test_verdicts_equal_reasoning_gyms_own_score_answer(name):
    """Right, wrong and malformed replies: rewardkit's score, verdict and status equal what
    reasoning-gym's score_answer says on its own extraction of the same reply (a scorer that
    raises on junk: status "error", correct None)."""
    task = get_task(f"reasoning_gym:{name}")
    scorer = rg.create_dataset(name, seed=0, size=1)
    problems = list(task.problems("train", 4, 7))
    groups = []
    for p in problems:
        gold = json.loads(p.meta["entry"])["entry"]["answer"]
        texts = [f"<think>sure</think><answer>{gold}</answer>", "<answer>wrong</answer>",
                 "<answer>}{</answer>", "<answer>unterminated", "", "\\boxed{"]
        groups.append(_group(p, texts))
    verified = verify_groups(task, groups, timeout_s=30)
    for p, g in zip(problems, verified):
        entry = json.loads(p.meta["entry"])["entry"]
        for text, score, ok, status in zip([c.text for c in g.completions], g.scores, g.correct,
                                           g.status):
            try:
                expected = float(scorer.score_answer(rg_extract(text), entry))
            except Exception:
                assert (score, ok, status) == (None, None, "error"), text
                continue
            assert (score, ok, status) == (pytest.approx(expected), expected >= 1, "ok"), text


def test_a_raising_scorer_is_status_error():
    # prime_factorization's scorer raises ValueError on "}{" (reasoning-gym 0.1.25)
    task = get_task("reasoning_gym:prime_factorization")
    p = next(task.problems("train", 1, 0))
    [g] = verify_groups(task, [_group(p, ["<answer>}{</answer>"])])
    assert (g.correct, g.status, g.scores) == ((None,), ("error",), ())


def test_splits_are_deterministic_and_disjoint():
    task = get_task("reasoning_gym:basic_arithmetic", {"min_terms": 2, "max_terms": 2,
                                                       "min_digits": 1, "max_digits": 1})
    # a small space: 2 one-digit terms and an operator, so train and test would collide by chance
    train = [p.prompt for p in task.problems("train", 2000, 3)]
    test = [p.prompt for p in task.problems("test", 100, 3)]
    assert not set(train) & set(test)
    assert test == [p.prompt for p in get_task("reasoning_gym:basic_arithmetic", {
        "min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}).problems("test", 100, 3)]
    assert test != [p.prompt for p in task.problems("test", 100, 4)]


def test_mix_draws_by_weight_and_keeps_generator_and_difficulty():
    task = get_task("reasoning_gym:chain_sum=3,leg_counting=1", {"chain_sum": {"max_terms": 3}})
    problems = list(task.problems("train", 400, 0))
    share = sum(p.meta["generator"] == "chain_sum" for p in problems) / len(problems)
    assert 0.65 < share < 0.85  # 3/(3+1) = 0.75, +-4 standard errors (sqrt(.75*.25/400)=0.022)
    chain = next(p for p in problems if p.meta["generator"] == "chain_sum")
    entry = json.loads(chain.meta["entry"])["entry"]["metadata"]
    assert chain.meta["difficulty"] == f"num_digits={entry['num_digits']} num_terms={entry['num_terms']}"


@pytest.mark.parametrize("spec, params, message", [
    ("reasoning_gym:no_such_gen", None, "unknown reasoning-gym generator 'no_such_gen'; known:"),
    ("reasoning_gym:chain_sum", {"max_termz": 3}, "max_termz"),
    ("reasoning_gym:chain_sum", {"min_terms": 5, "max_terms": 2}, "task_params"),
    ("reasoning_gym:chain_sum", {"seed": 3}, "'seed' comes from the run's seed"),
    ("reasoning_gym:chain_sum=0", None, "positive weight"),
    ("reasoning_gym:chain_sum,leg_counting", {"max_terms": 3}, "task_params.max_terms"),
    ("arith", {"x": 1}, "task 'arith' takes prompt_key, answer_key, instruction"),
])
def test_mistakes_are_user_errors(spec, params, message):
    with pytest.raises(UserError, match=None) as e:
        get_task(spec, params)
    assert message in str(e.value)


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)  # import fails
    with pytest.raises(UserError, match=r"pip install 'rewardkit\[tasks\]'"):
        get_task("reasoning_gym:chain_sum")


def test_config_checks_task_params_at_load(tmp_path):
    from rewardkit.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("model: m\ntask: reasoning_gym:chain_sum\ntask_params:\n  max_termz: 3\n")
    with pytest.raises(UserError) as e:
        load_config(path)
    assert str(e.value).startswith(f"{path}:3: task_params:") and "max_termz" in str(e.value)


def test_eval_data_makes_test_problems():
    from rewardkit.eval.data import load_eval_data

    task, problems, label = load_eval_data("reasoning_gym:chain_sum", limit=5, seed=1)
    assert (label, len(problems)) == ("reasoning_gym:chain_sum", 5)
    assert all(p.id.startswith("test-") for p in problems)


def test_problem_without_entry_is_scored_from_its_answer():
    """A rollouts row for `rewardkit score` has prompt and answer only: the generator's scorer
    still judges it (basic_arithmetic's needs no metadata)."""
    from rewardkit.types import Problem

    task = get_task("reasoning_gym:basic_arithmetic")
    p = Problem("q1", "Calculate 2 + 3.", "5", task.name)
    [g] = verify_groups(task, [_group(p, ["<answer>5</answer>", "<answer>6</answer>"])])
    assert (g.correct, g.status) == ((True, False), ("ok", "ok"))
