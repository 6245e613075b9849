"""Status shares per step and the loud warning."""

import logging

from rewardkit.testing import make_group
from rewardkit.verify import failed_fraction, status_fractions, warn_if_failing


def test_shares_count_every_status_and_warning_names_the_share(caplog):
    g = make_group(lengths=[1] * 20, correct=[True] * 18 + [None, None])
    g = g.with_verdicts(g.correct, ["ok"] * 18 + ["timeout", "error"])
    f = status_fractions([g])
    # 18/20 ok, 1/20 timeout, 1/20 error
    assert (f["verify/ok_frac"], f["verify/timeout_frac"], f["verify/error_frac"]) == (
        0.9, 0.05, 0.05)
    assert f["verify/unparseable_gold_frac"] == 0.0
    assert abs(failed_fraction({**f, "accuracy": 1.0}) - 0.1) < 1e-12
    with caplog.at_level(logging.WARNING):
        assert warn_if_failing(f, max_failed_frac=0.05, where="step 3")
        assert not warn_if_failing(f, max_failed_frac=0.2)
    assert "10.0% of verdicts in step 3" in caplog.text and "timeout 5.0%" in caplog.text
