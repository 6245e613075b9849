import json
import os
from pathlib import Path

# As the CLI does (cli/main.py): spinning OpenMP threads make torch crawl on a shared CPU, and
# the tests run subprocesses next to this one. Set before anything imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def write_jsonl(tmp_path):
    """Write rows (dicts or raw strings) to a JSONL file and return its path."""

    def write(rows, name="in.jsonl"):
        path = tmp_path / name
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
        return path

    return write


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.gpu` tests skip cleanly where CUDA is missing (CPU machines, CI)."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
