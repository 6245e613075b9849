from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # `parity`, `helpers` importable here and in subprocesses


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models are fastest on one thread, and the shared machine stays usable."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """TRL's trainer leaves accelerate's process-wide state behind (mixed precision bf16 by
    TRL's default); a later `rewardkit train` in this process would inherit it and train under
    bf16. Reset it after each test so tests do not depend on their order."""
    yield
    from accelerate.state import AcceleratorState, GradientState, PartialState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    PartialState._reset_state()
