import shutil

import pytest


@pytest.fixture(scope="session")
def sandbox():
    """A strict sandbox, or a skip saying how to get one (CI installs bubblewrap and runs as
    root: `.ci/run` -> scripts/install-sandbox.sh)."""
    from rewardkit.sandbox import Limits, Sandbox, SandboxUnavailable

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap missing: run scripts/install-sandbox.sh as root")
    try:
        return Sandbox(Limits(wall_s=2.0, memory_mb=128))
    except SandboxUnavailable as e:
        pytest.skip(f"sandbox unavailable here: {e}")
