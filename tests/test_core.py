"""Types, registry and reward composition."""

import math
import pickle
import subprocess
import sys

import numpy as np
import pytest

from rewardkit.errors import UserError
from rewardkit.registry import Registry, UnknownName
from rewardkit.rewards import RewardScorer, RewardSpec, parse_spec, total_reward
from rewardkit.rewards.base import RewardContext, batch_level, stateful
from rewardkit.testing import make_group
from rewardkit.types import Completion, Group, Problem


def test_group_is_frozen_and_checks_verdict_count():
    g = make_group(lengths=[3, 4], correct=[True, False])
    with pytest.raises(AttributeError):
        g.max_new_tokens = 5
    with pytest.raises(ValueError, match="2 completions"):
        Group(Problem("p", "q"), (Completion("a", 1), Completion("b", 1)), 8, correct=(True,))
    assert pickle.loads(pickle.dumps(g)) == g


def test_with_verdicts_returns_a_copy():
    g = make_group(lengths=[3, 4])
    v = g.with_verdicts([True, None], ["ok", "timeout"])
    assert g.correct == () and not g.verified
    assert v.correct == (True, None) and v.status == ("ok", "timeout") and v.verified


def test_truncated_follows_finish_reason():
    g = make_group(lengths=[5, 10], max_new_tokens=10)
    assert [c.truncated for c in g.completions] == [False, True]


def test_registry_register_get_and_errors():
    reg = Registry("widget")

    @reg.register("a")
    def a():
        return 1

    assert reg.get("a") is a and reg.names() == ["a"] and "a" in reg
    reg.register("a")(a)  # re-registering the same function is harmless
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(lambda: 2)
    with pytest.raises(UnknownName, match="unknown widget 'b'; known: a"):
        reg.get("b")
    assert reg.get("math.sqrt") is math.sqrt  # dotted path: user code
    with pytest.raises(UnknownName, match="cannot import"):
        reg.get("no_such_module_xyz.fn")


def test_plain_import_rewardkit_has_the_builtins_and_no_torch():
    # U2: `import rewardkit` used to leave every registry empty ("known: " and nothing after)
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import rewardkit\n"
        "assert rewardkit.REWARDS.get('accuracy').__name__ == 'accuracy', 'reward'\n"
        "assert 'math' in rewardkit.TASKS and 'grpo' in rewardkit.ADVANTAGES.names()\n"
        "assert 'format' in rewardkit.REWARDS.names()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_parse_spec():
    assert parse_spec("accuracy") == RewardSpec("accuracy")
    s = parse_spec("hapo:mode=linear,floor=-0.5,weight=2")
    assert s == RewardSpec("hapo", 2.0, {"mode": "linear", "floor": -0.5})
    with pytest.raises(UserError, match="expected key=value"):
        parse_spec("hapo:mode")
    with pytest.raises(UserError, match="weight must be a number"):
        parse_spec("accuracy:weight=abc")


def test_total_reward_is_nan_aware():
    scores = np.array([[1.0, 0.5], [np.nan, -1.0], [np.nan, np.nan], [0.0, 0.0]])
    # row 0: 1*1 + 0.4*0.5 = 1.2; row 1: NaN skipped, 0.4*-1 = -0.4; row 2: nothing applies
    np.testing.assert_allclose(total_reward(scores, np.array([1.0, 0.4])), [1.2, -0.4, np.nan, 0.0])


def test_scorer_rejects_unknown_reward_and_bad_param():
    with pytest.raises(UserError, match="unknown reward 'acuracy'"):
        RewardScorer([RewardSpec("acuracy")])
    with pytest.raises(UserError, match="reward 'format'.*its parameters are: think_tags"):
        RewardScorer([RewardSpec("format", params={"think_tag": False})])
    with pytest.raises(UserError, match="no reward"):
        RewardScorer([])


def _count_steps(state, batch, *, step, scale=1.0):
    return {"seen": state.get("seen", 0) + len(batch), "last_step": step}


@stateful(_count_steps)
def seen_before(group, *, scale=1.0, ctx: RewardContext | None = None):
    """Test reward: how many groups earlier steps saw (https://example.org, not a paper)."""
    return [scale * ctx.state.get("seen", 0)] * len(group)


def test_scorer_columns_labels_and_state_after_the_step():
    scorer = RewardScorer([RewardSpec("accuracy"), RewardSpec(f"{__name__}.seen_before"),
                           RewardSpec("accuracy", weight=0.5)])
    assert scorer.labels == ["accuracy", f"{__name__}.seen_before", "accuracy#2"]
    groups = [make_group(lengths=[1, 2], correct=[True, None]) for _ in range(3)]
    (first, *_) = scorer.score(groups, step=0)
    # state is only updated after the step: the reward saw 0 during step 0
    np.testing.assert_equal(first, [[1.0, 0.0, 1.0], [np.nan, 0.0, np.nan]])
    scorer.end_step(groups, step=0)
    assert scorer.score(groups[:1], step=1)[0][0, 1] == 3.0
    saved = scorer.state_dict()
    other = RewardScorer(scorer.specs)
    other.load_state_dict(saved)
    np.testing.assert_equal(other.score(groups, step=1), scorer.score(groups, step=1))


def test_primary_reward_makes_the_total_nan():
    # B10: accuracy (primary by default) + format-like term 0.5. Completion 2 is unjudged:
    # without the primary rule its total would be 0.5 (the other term alone), now NaN.
    scorer = RewardScorer([RewardSpec("accuracy"), RewardSpec(f"{__name__}.half")])
    assert scorer.primary.tolist() == [True, False]
    (scores,) = scorer.score([make_group(lengths=[1, 2, 3], correct=[True, False, None])], step=0)
    np.testing.assert_equal(scorer.total(scores), [1.5, 0.5, np.nan])  # 1 + 0.5, 0 + 0.5, NaN
    # a spec can turn it off (config `primary: false`, score `accuracy:primary=false`)
    off = RewardScorer([parse_spec("accuracy:primary=false"), RewardSpec(f"{__name__}.half")])
    np.testing.assert_equal(off.total(scores), [1.5, 0.5, 0.5])
    with pytest.raises(UserError, match="primary must be true or false"):
        parse_spec("accuracy:primary=1")


def half(group, *, ctx=None):
    """Test reward: 0.5 for every completion, judged or not."""
    return [0.5] * len(group)


@batch_level
def rank_in_batch(group, *, ctx=None):
    """Test reward: the group's position in ctx.batch (depends on the whole batch)."""
    return [float(next(i for i, g in enumerate(ctx.batch) if g is group))] * len(group)


def test_batch_level_rewards_are_scored_in_their_own_phase():
    scorer = RewardScorer([RewardSpec("accuracy"), RewardSpec(f"{__name__}.rank_in_batch")])
    groups = [make_group(lengths=[1, 2], correct=[True, False]) for _ in range(3)]
    first = scorer.score_groups(groups, step=0)
    assert all(np.isnan(s[:, 1]).all() for s in first)  # left for the batch phase
    np.testing.assert_equal(scorer.group_total(first[0]), [1.0, 0.0])  # per-group terms only
    filled = scorer.score_batch_level(groups, first, step=0)
    assert [s[0, 1] for s in filled] == [0.0, 1.0, 2.0]
    assert np.isnan(first[0][0, 1])  # the inputs are not modified
    np.testing.assert_equal(filled, scorer.score(groups, step=0))  # `score` = both phases


def test_scorer_collects_what_its_rewards_need():
    scorer = RewardScorer([RewardSpec("accuracy"), RewardSpec("sar", params={"alpha": 0.5}),
                           RewardSpec("pear", params={"alpha": 0.5})])
    assert scorer.needs == {"logprobs", "unconditional_logprobs", "entropies"}
    assert RewardScorer([RewardSpec("accuracy")]).needs == frozenset()
