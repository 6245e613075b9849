import math

from rewardkit.integrations.core import EngineScorer
from rewardkit.testing import make_group


def test_unjudged_completion_has_no_total_while_accuracy_is_primary():
    # accuracy is primary: where it is NaN (verdict None) the total is NaN, as in training and
    # `rewardkit score`, not the format term alone. format: 1 for "<think>a</think> \boxed{1}".
    engine = EngineScorer("math", ["accuracy", "format"])
    text = "<think>a</think> \\boxed{1}"
    group = make_group(texts=[text, text], correct=[True, None])
    _, (totals,) = engine.score_groups([group], learn=False)
    assert totals[0] == 2.0 and math.isnan(totals[1])
