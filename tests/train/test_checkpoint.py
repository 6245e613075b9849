"""Checkpoint files: atomic commit, verification, rotation, torn metric rows."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from rewardkit.train import checkpoint as ckpt


def fake_checkpoint(run_dir, step, *, keep=2, payload=b"weights"):
    tmp = ckpt.staging_dir(run_dir, step)
    (tmp / "model.safetensors").write_bytes(payload + str(step).encode())
    (tmp / "trainer_state.json").write_text(json.dumps({"step": step}))
    return ckpt.commit(run_dir, tmp, step, keep=keep)


def test_commit_renames_and_marks_complete(tmp_path):
    final = fake_checkpoint(tmp_path, 3)
    assert final.name == "step-3" and ckpt.is_complete(final)
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))
    manifest = json.loads((final / ckpt.COMPLETE).read_text())
    assert set(manifest["files"]) == {"model.safetensors", "trainer_state.json"}


def test_staging_dir_is_never_loaded_and_is_cleaned(tmp_path):
    fake_checkpoint(tmp_path, 1)
    tmp = ckpt.staging_dir(tmp_path, 2)  # a run killed while writing step 2
    (tmp / "model.safetensors").write_bytes(b"half")
    assert ckpt.latest_checkpoint(tmp_path)[0] == 1
    ckpt.clean_staging(tmp_path)
    assert not tmp.exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_file", "no_marker", "bad_marker"])
def test_damaged_newest_checkpoint_falls_back_to_previous(tmp_path, damage):
    fake_checkpoint(tmp_path, 1)
    newest = fake_checkpoint(tmp_path, 2)
    weights = newest / "model.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:3])
    elif damage == "flip":  # same size, one byte different
        data = bytearray(weights.read_bytes())
        data[0] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "delete_file":
        weights.unlink()
    elif damage == "no_marker":
        (newest / ckpt.COMPLETE).unlink()
    else:
        (newest / ckpt.COMPLETE).write_text("{not json")
    assert ckpt.latest_checkpoint(tmp_path)[0] == 1


def test_rotation_keeps_newest_k(tmp_path):
    for step in range(1, 6):
        fake_checkpoint(tmp_path, step, keep=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [4, 5]


def test_rotation_with_keep_one_keeps_the_new_one(tmp_path):
    # verl #4873: keep=1 once deleted the old checkpoint before the new one existed. Here the new
    # one is committed first, then the old one goes; at every moment one complete one exists.
    fake_checkpoint(tmp_path, 1, keep=1)
    fake_checkpoint(tmp_path, 2, keep=1)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [2]
    assert ckpt.latest_checkpoint(tmp_path)[0] == 2
    ckpt.rotate(tmp_path, keep=0)  # keep is clamped to 1: the only checkpoint survives
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [2]


def test_recommitting_a_step_replaces_it(tmp_path):
    fake_checkpoint(tmp_path, 2, payload=b"old")
    final = fake_checkpoint(tmp_path, 2, payload=b"new")
    assert (final / "model.safetensors").read_bytes() == b"new2"


def test_truncate_metrics_drops_later_rows_torn_lines_and_samples(tmp_path):
    rows = [{"step": s, "loss": 0.1 * s} for s in range(1, 5)]
    (tmp_path / "metrics.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows) + '{"step": 5, "lo')  # killed mid-write
    (tmp_path / "samples").mkdir()
    for s in range(1, 6):
        (tmp_path / "samples" / f"step-{s}.jsonl").write_text("{}\n")
    ckpt.truncate_metrics(tmp_path, 2)
    assert ckpt.read_jsonl(tmp_path / "metrics.jsonl") == rows[:2]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "step-1.jsonl", "step-2.jsonl"]


def test_rng_state_round_trip(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    torch.save(ckpt.rng_state(), tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    ckpt.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
