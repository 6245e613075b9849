"""Verification status shares in the training metrics, and the loud warning."""

from types import SimpleNamespace

from rewardkit.config import VerifyConfig, load_config
from rewardkit.train.loop import train, warn_if_unhealthy


def test_training_rows_carry_verify_status_shares(make_config, tmp_path):
    rows = train(load_config(make_config(steps=1, checkpoint={"every": 0})), tmp_path / "run",
                 progress=False)
    assert rows[0]["verify/ok_frac"] == 1.0 and rows[0]["verify/timeout_frac"] == 0.0


def test_a_step_with_too_many_failed_verdicts_warns_naming_the_share():
    warned = []
    cfg = SimpleNamespace(verify=VerifyConfig(max_failed_frac=0.05),
                          filters=SimpleNamespace(dynamic_sampling=False))
    run_log = SimpleNamespace(warn=lambda key, step, msg, every=20:
                              warned.append((key, msg, every)))
    healthy = {"groups/zero_variance_frac": 0.0, "length/truncated_frac": 0.0}
    warn_if_unhealthy(run_log, cfg, 1,
                      {**healthy, "verify/ok_frac": 0.96, "verify/timeout_frac": 0.04})
    assert not warned  # 4% <= 5%
    warn_if_unhealthy(run_log, cfg, 2, {**healthy, "verify/ok_frac": 0.9,
                                        "verify/timeout_frac": 0.06, "verify/error_frac": 0.04})
    (key, msg, every), = warned
    assert key == "verify" and every == 1  # every step, not rate-limited
    assert "10.0% of verdicts" in msg and "timeout 6.0%" in msg and "error 4.0%" in msg
