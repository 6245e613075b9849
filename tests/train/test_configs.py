"""Every shipped config under configs/ loads, names what exists, quotes its paper, and trains.

The smoke run takes one step of every RL config on the tiny random model (tests/train/tinyrun.py)
with its own rewards, estimator, loss and filters; only the model, the task (arith: local, no
download) and the sizes are replaced. A preset that validates but cannot run fails here.
"""

from __future__ import annotations

import inspect
import json
import math
import shutil
from pathlib import Path

import pytest

import rewardkit.advantages  # noqa: F401  (registers the estimators)
import rewardkit.losses as losses
import rewardkit.rewards  # noqa: F401  (registers the rewards)
import rewardkit.tasks  # noqa: F401  (registers the tasks)
from rewardkit.config import load_config
from rewardkit.registry import ADVANTAGES, LOSSES, REWARDS, TASKS
from rewardkit.rewards import RewardScorer, RewardSpec
from rewardkit.train.loop import train

ROOT = Path(__file__).resolve().parents[2] / "configs"
ALL = sorted(ROOT.rglob("*.yaml"))
CONFIGS = [p for p in ALL if not p.name.startswith("sft_")]  # training (RL) configs
SFT_CONFIGS = [p for p in ALL if p.name.startswith("sft_")]
PAPERS = [p for p in CONFIGS if p.parent.name == "papers"]
PRESETS = {"grpo", "dr_grpo", "dapo", "dler", "rloo"}
NOT_FROM_A_PAPER = {"accuracy", "format", "text_f1", "task_score"}  # QA partial credit; a task checker's own score
IDS = [str(p.relative_to(ROOT)) for p in CONFIGS]
# Rewards that read a per-problem column the generated arith problems lack (L1: the length the
# prompt asks for): their configs train on a small arith file that has it.
NEEDS_META = {"l1_exact": "target_tokens", "l1_max": "target_tokens"}

# One step on 2 prompts x 2 completions of at most 8 tokens, fp32 on the CPU.
SMOKE = ["task=arith", "steps=1", "prompts_per_step=2", "sampling.group_size=2",
         "sampling.max_new_tokens=8", "optim.minibatch_size=4", "device=cpu", "dtype=float32",
         "autocast=none", "eval_every=0", "checkpoint.every=0"]


def test_every_preset_exists():
    assert {p.stem for p in CONFIGS if p.parent == ROOT} >= PRESETS


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_config_loads_and_names_resolve(path):
    cfg = load_config(path)  # validates ranges, choices, names and parameters
    assert "https://" in path.read_text(), "quote the paper (with its link) in a comment"
    RewardScorer([RewardSpec(r.name, r.weight, r.params, r.primary) for r in cfg.rewards])
    inspect.signature(ADVANTAGES.get(cfg.advantage.name)).bind_partial(
        None, **cfg.advantage.params)
    inspect.signature(LOSSES.get(cfg.loss.name)).bind_partial(
        None, None, None, None, **cfg.loss.params)
    assert cfg.loss.aggregation in losses.AGGREGATIONS
    losses.kl_estimator(cfg.loss.kl_estimator)
    assert cfg.task in TASKS


def test_every_paper_reward_has_a_config():
    named = {r.name for path in PAPERS for r in load_config(path).rewards}
    missing = set(REWARDS.names()) - NOT_FROM_A_PAPER - named
    assert not missing, f"no configs/papers/*.yaml uses: {sorted(missing)}"


@pytest.fixture(scope="module")
def tiny_chat_model(tiny_model, tmp_path_factory) -> Path:
    """The tiny model with a plain chat template (the message texts, in order), for the presets
    that wrap prompts in one (instruct and distilled models)."""
    out = tmp_path_factory.mktemp("tiny-chat") / "model"
    shutil.copytree(tiny_model, out)
    config = out / "tokenizer_config.json"
    data = json.loads(config.read_text())
    data["chat_template"] = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    config.write_text(json.dumps(data))
    return out


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_config_trains_one_step(path, tiny_model, tiny_chat_model, tmp_path):
    model = tiny_chat_model if load_config(path).sampling.chat_template else tiny_model
    overrides = [f"model={model}", *SMOKE]
    own = load_config(path)
    if own.data and (ROOT.parent / own.data).is_file():  # a shipped data file: its own task
        overrides = [o for o in overrides if o != "task=arith"] + [
            f"data={ROOT.parent / own.data}"]
    columns = {NEEDS_META[r.name] for r in load_config(path).rewards if r.name in NEEDS_META}
    if columns:
        rows = [{"question": f"{a}+{b}=?", "answer": str(a + b)} | dict.fromkeys(columns, 6)
                for a in range(3) for b in range(3)]
        data = tmp_path / "arith.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        overrides.append(f"data={data}")
    cfg = load_config(path, overrides)
    (row,) = train(cfg, tmp_path / "run", progress=False)
    assert row["sampled_groups"] >= 1
    if row["kept_groups"]:  # dynamic sampling may keep nothing from a random model
        assert math.isfinite(row["loss"]) and math.isfinite(row["grad_norm"])


@pytest.mark.parametrize("path", SFT_CONFIGS, ids=[p.name for p in SFT_CONFIGS])
def test_sft_configs_load(path):
    from rewardkit.train.sft import SFTConfig

    cfg = load_config(path, ["out=/tmp/unused"], cls=SFTConfig)
    assert cfg.steps > 0 and cfg.out == "/tmp/unused"


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_config_says_where_it_runs(path):
    # Issue 16 item 7: a preset runs on one GPU as written, or is marked as paper settings for a
    # cluster with the scale-out route; a top-level one names its one-GPU variant, which exists.
    first = path.read_text().splitlines()[0]
    assert first.startswith(("# scale: one GPU", "# scale: cluster (paper settings)")), first
    text = path.read_text()
    if "cluster" in first:
        assert "accelerate launch --num_processes N" in text
        variants = [w for w in text.split() if w.startswith("configs/") and "_1gpu" in w]
        assert variants, "name a one-GPU variant to start from"
        for v in variants:
            variant = ROOT.parent / v.rstrip(".,;)")
            assert variant.read_text().startswith("# scale: one GPU"), v
    else:  # one GPU as written: the memory settings that make long sequences fit are on
        cfg = load_config(path)
        assert cfg.optim.gradient_checkpointing and cfg.sampling.max_batch_size
