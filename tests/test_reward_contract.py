"""The reward contract (ARCHITECTURE §2), checked for every registered reward.

A reward with required parameters needs an entry in EXAMPLE_PARAMS; a reward that does not read
the verdict (so is never NaN for an unjudged completion) is listed in VERDICT_FREE.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import math
import pickle

import numpy as np
import pytest

import rewardkit.rewards  # noqa: F401  (registers every built-in reward)
from rewardkit.registry import REWARDS
from rewardkit.rewards import RewardContext, RewardScorer, RewardSpec
from rewardkit.testing import make_group

EXAMPLE_PARAMS = {
    "laser": {"target_length": 8},
    "laser_d": {"grid_start": 4, "grid_step": 4},
    "laser_de": {"grid_start": 4, "grid_step": 4, "ngram": 2},
    "dapo_overlong": {"buffer": 4},
    "grpo_lambda": {"top_fraction": 0.5},
    "budget_curriculum": {"start": 16, "end": 4, "decay": 0.5, "every": 1},
    "sar": {"alpha": 0.5},
    "pear": {"alpha": 0.1},
}

# Parameters the paper gives no verified default for: they must stay required.
REQUIRED = {
    "laser": {"target_length"},
    "dapo_overlong": {"buffer"},
    "grpo_lambda": {"top_fraction"},
    "budget_curriculum": {"start", "end", "decay", "every"},
    "sar": {"alpha"},
    "pear": {"alpha"},
}

# Terms that do not read the verdict: they apply (are not NaN) when the verifier could not judge.
VERDICT_FREE = {"format", "dapo_overlong", "truncation", "repetition", "toolrl", "sar", "pear"}

GOLD_CALL = json.dumps([{"name": "f", "parameters": {"x": 1}}])


PER_TOKEN = {  # what the trainer fills when a reward declares it needs it (`@needs`)
    "logprobs": [[-0.5] * 3, [-1.0] * 7, [-2.0] * 12],
    "unconditional_logprobs": [[-1.0] * 3, [-1.0] * 7, [-1.5] * 12],
    "entropies": [[0.5] * 3, [1.0] * 7, [2.0] * 12],
}


def example_group(name: str | None = None):
    """Three completions: correct, wrong, unjudged (verdict None). Like the trainer's: the
    per-token fields are set only when reward `name` declares them (`needs`), else None."""
    needs = getattr(REWARDS.get(name), "needs", frozenset()) if name else frozenset()
    return make_group(
        lengths=[3, 7, 12],
        correct=[True, False, None],
        texts=[
            '<think>a</think>\n<tool_call>\n{"name": "f", "parameters": {"x": 1}}\n</tool_call>',
            "<think>b b b</think> \\boxed{41}",
            "c d c d c d",
        ],
        max_new_tokens=16,
        answer=GOLD_CALL,
        meta={"target_tokens": 8},
        **{k: v for k, v in PER_TOKEN.items() if k in needs},
    )


NAMES = REWARDS.names()


@pytest.mark.parametrize("name", NAMES)
def test_reward_contract(name):
    fn = functools.partial(REWARDS.get(name), **EXAMPLE_PARAMS.get(name, {}))
    group = example_group(name)
    before = copy.deepcopy(group)
    scores = fn(group)

    assert len(scores) == len(group)
    assert all(type(s) is float for s in scores), [type(s) for s in scores]
    np.testing.assert_equal(fn(group), scores)  # deterministic (NaN-safe comparison)
    np.testing.assert_equal(pickle.loads(pickle.dumps(fn))(group), scores)  # picklable
    assert group == before and group.problem.meta == before.problem.meta  # not mutated

    # judged completions always get a number; the unjudged one gets NaN unless verdict-free
    assert all(math.isfinite(s) for s in scores[:2]), scores
    if name in VERDICT_FREE:
        assert math.isfinite(scores[2]), scores
    else:
        assert math.isnan(scores[2]), scores


@pytest.mark.parametrize("name", NAMES)
def test_reward_signature_and_docstring(name):
    fn = REWARDS.get(name)
    doc = inspect.getdoc(fn) or ""
    assert "https://" in doc and ">>>" in doc, "docstring needs a paper link and an example"
    params = list(inspect.signature(fn).parameters.values())
    kinds = [p.kind for p in params]
    assert inspect.Parameter.VAR_KEYWORD not in kinds  # a misspelled parameter must fail
    assert inspect.Parameter.VAR_POSITIONAL not in kinds
    assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD  # the group
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:])
    assert params[-1].name == "ctx" and params[-1].default is None
    required = {p.name for p in params[1:] if p.default is inspect.Parameter.empty}
    assert required == REQUIRED.get(name, set())


@pytest.mark.parametrize("name", NAMES)
def test_reward_through_the_scorer(name):
    """The path the trainer and `score` use: bound at construction, ctx filled, state JSON."""
    scorer = RewardScorer([RewardSpec(name, params=EXAMPLE_PARAMS.get(name, {}))])
    group = example_group(name)
    (scores,) = scorer.score([group], step=0)
    assert scores.shape == (3, 1)
    ctx = RewardContext(step=0, batch=(group,), state={})
    direct = REWARDS.get(name)(group, **EXAMPLE_PARAMS.get(name, {}), ctx=ctx)
    np.testing.assert_equal(scores[:, 0], direct)
    scorer.end_step([group], step=0)
    assert json.loads(json.dumps(scorer.state_dict())) == scorer.state


def test_primary_rewards_read_the_verdict():
    # A primary reward's NaN drops the completion from training, so it must be NaN exactly when
    # the verifier could not judge (test_reward_contract checks that for every verdict reader).
    primary = {n for n in NAMES if getattr(REWARDS.get(n), "primary", False)}
    assert primary == {"accuracy", "cosine_length", "l1_exact", "l1_max", "efficiency"}
    assert not primary & VERDICT_FREE


def test_check_problem_reports_what_the_data_lacks_before_any_step():
    from rewardkit.errors import UserError
    from rewardkit.types import Problem

    scorer = RewardScorer([RewardSpec("accuracy"), RewardSpec("l1_exact")])
    scorer.check_problem(Problem("q1", "p", "3", meta={"target_tokens": 100}), where="d.jsonl")
    with pytest.raises(UserError, match=r"^d\.jsonl: reward 'l1_exact': problem 'q1'"):
        scorer.check_problem(Problem("q1", "p", "3"), where="d.jsonl")
