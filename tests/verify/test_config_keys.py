"""verify.* config keys: checked at load time, one located line."""

import pytest

from rewardkit.config import load_config
from rewardkit.errors import UserError


def test_verify_keys_load_and_bad_values_name_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: m\nverify:\n  workers: 2\n  timeout_s: 1.5\n")
    cfg = load_config(path)
    assert (cfg.verify.workers, cfg.verify.timeout_s, cfg.verify.max_failed_frac) == (2, 1.5, 0.05)
    path.write_text("model: m\nverify:\n  timeout_s: 0\n")
    with pytest.raises(UserError, match=r"c\.yaml:3: verify\.timeout_s: must be >= 0.001"):
        load_config(path)
    path.write_text("model: m\nverify:\n  timeout: 3\n")
    with pytest.raises(UserError, match=r"c\.yaml:3: verify\.timeout: unknown key"):
        load_config(path)
