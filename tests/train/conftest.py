from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # `tinyrun` is importable by dotted path (task, reward, loss)

import tinyrun  # noqa: E402

BASE = {
    "task": "tinyrun.CountTask",
    "seed": 3,
    "steps": 3,
    "prompts_per_step": 2,
    "device": "cpu",
    "sampling": {"group_size": 4, "max_new_tokens": 6},
    "rewards": [{"name": "tinyrun.digits"}],
    "advantage": {"name": "grpo"},
    "loss": {"name": "clip", "aggregation": "token_mean"},
    "optim": {"lr": 0.01, "minibatch_size": 4},
    "checkpoint": {"every": 1, "keep": 2},
}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return tinyrun.build_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def make_config(tiny_model, tmp_path):
    """Write BASE (+ nested overrides) as YAML and return its path."""

    def make(name: str = "config", **overrides) -> Path:
        data = yaml.safe_load(yaml.safe_dump(BASE)) | {"model": str(tiny_model)}
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = data[key] | value
            else:
                data[key] = value
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return make


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models are fastest on one thread, and the shared 2-core machine stays usable."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
