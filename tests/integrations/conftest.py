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
