"""The pinned tiny run: the first steps' losses, reward means and grad norms of a small fp32 CPU
training run, committed as tiny_run.json and checked by tests/train/test_pinned.py (as torchtune
and TRL pin their recipes' numbers), so a change that moves training numerics cannot pass
unnoticed.

A change that moves them on purpose regenerates the file and says why in its commit:

    cd <repo> && PYTHONPATH=src:tests/train python tests/train/pinned/regenerate.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINNED = HERE / "tiny_run.json"
KEYS = ("loss", "grad_norm", "reward/mean", "entropy", "kl", "length/mean")
"""per-step metrics pinned (loss and grad norm: the update; reward and length: the samples)"""

CONFIG = {
    "task": "tinyrun.CountTask", "seed": 3, "steps": 4, "prompts_per_step": 2,
    "device": "cpu", "dtype": "float32", "autocast": "none",
    "sampling": {"group_size": 4, "max_new_tokens": 6},
    "rewards": [{"name": "tinyrun.digits"}],
    "advantage": {"name": "grpo"},
    # KL and entropy terms so the logged loss is not ~0 (on-policy GRPO's policy term nearly is)
    "loss": {"name": "clip", "aggregation": "token_mean", "kl_coef": 0.05, "entropy_coef": 0.01},
    "optim": {"lr": 0.01, "minibatch_size": 4},
}


def pinned_rows(workdir: Path, model: Path | None = None) -> list[dict[str, float]]:
    """Train CONFIG in `workdir` (on `model`, else a fresh tiny model) on one CPU thread; the
    KEYS of every step."""
    import tinyrun
    import torch
    import yaml

    from rewardkit.config import load_config
    from rewardkit.train.loop import train

    torch.set_num_threads(1)  # reductions run in the same order on every machine
    model = model or tinyrun.build_model(workdir / "model")
    path = workdir / "pinned.yaml"
    path.write_text(yaml.safe_dump(CONFIG | {"model": str(model)}))
    rows = train(load_config(path), workdir / "run", progress=False)
    return [{"step": r["step"], **{k: r[k] for k in KEYS}} for r in rows]


def main() -> None:
    sys.path.insert(0, str(HERE.parent))  # tinyrun
    with tempfile.TemporaryDirectory() as tmp:
        rows = pinned_rows(Path(tmp))
    PINNED.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {PINNED}")


if __name__ == "__main__":
    main()
