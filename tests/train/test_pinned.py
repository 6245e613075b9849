"""Training numerics pinned: the tiny fp32 CPU run must reproduce tests/train/pinned/tiny_run.json.

If a change moves these numbers on purpose, regenerate the file (see pinned/regenerate.py) and
say why in the commit."""

from __future__ import annotations

import json

import pytest
from pinned.regenerate import KEYS, PINNED, pinned_rows

# fp32 on one thread is deterministic on one machine; the slack covers other CPUs' kernels.
RTOL, ATOL = 1e-4, 1e-6


def test_tiny_run_reproduces_the_pinned_numbers(tiny_model, tmp_path):
    expected = json.loads(PINNED.read_text())
    got = pinned_rows(tmp_path, tiny_model)
    assert [r["step"] for r in got] == [r["step"] for r in expected]
    for mine, pinned in zip(got, expected):
        for key in KEYS:
            assert mine[key] == pytest.approx(pinned[key], rel=RTOL, abs=ATOL), (
                f"step {pinned['step']} {key}: {mine[key]} != pinned {pinned[key]}")
