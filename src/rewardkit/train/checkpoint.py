"""Run directory, atomic checkpoints and exact resume.

    OUT/config.yaml                 resolved config
    OUT/metrics.jsonl               one JSON row per step
    OUT/samples/step-N.jsonl        a few completions per step
    OUT/checkpoints/step-N/         model + tokenizer (HF format), optimizer.pt, rng-rank<R>.pt,
                                    trainer_state.json (step, data cursor, reward state, counters),
                                    COMPLETE (manifest of sizes and sha256 sums, written last)

A checkpoint is written into `checkpoints/.tmp-step-N`, every file fsynced, the manifest written
last, then the directory is renamed to `step-N` (`os.replace`, atomic on POSIX). A directory
without a valid manifest is never loaded, so `kill -9` at any moment leaves either the previous
checkpoint or the new one, never a half-written one that looks whole. Rotation runs only after the
new checkpoint is in place and never removes the newest complete one (verl's `max_ckpt_to_keep=1`
bug deleted the old checkpoint first: RELIABILITY.md section 5).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardkit.fileio import atomic_write_text, fsync_dir

COMPLETE = "COMPLETE"
_STEP_DIR = re.compile(r"^step-(\d+)$")


# ---------------------------------------------------------------------------------------------
# Small atomic file helpers


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file; a torn last line (killed mid-write) is skipped."""
    if not Path(path).exists():
        return []
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop metric rows and sample files past `step` (the run resumes after it)."""
    metrics = Path(run_dir) / "metrics.jsonl"
    if metrics.exists():
        rows = [r for r in read_jsonl(metrics) if r.get("step", 0) <= step]
        atomic_write_text(metrics, "".join(json.dumps(r) + "\n" for r in rows))
    for f in (Path(run_dir) / "samples").glob("step-*.jsonl"):
        if int(f.stem.split("-")[1]) > step:
            f.unlink()


# ---------------------------------------------------------------------------------------------
# RNG states


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch (and CUDA, if any) generator states, as torch.load-able data."""
    np_state = np.random.get_state()
    state = {
        "python": _to_lists(random.getstate()),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_to_tuples(state["python"]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, tuple) else x


def _to_tuples(x: Any) -> Any:
    return tuple(_to_tuples(v) for v in x) if isinstance(x, list) else x


# ---------------------------------------------------------------------------------------------
# Checkpoints


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def clean_staging(run_dir: Path) -> None:
    """Remove `.tmp-step-*` left by a run killed while saving."""
    for tmp in checkpoints_dir(run_dir).glob(".tmp-step-*"):
        shutil.rmtree(tmp, ignore_errors=True)


def staging_dir(run_dir: Path, step: int) -> Path:
    tmp = checkpoints_dir(run_dir) / f".tmp-step-{step}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _manifest(directory: Path) -> dict[str, dict[str, Any]]:
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != COMPLETE)
    return {
        str(p.relative_to(directory)): {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in files
    }


def commit(run_dir: Path, tmp: Path, step: int, *, keep: int) -> Path:
    """fsync the staged files, write the manifest last, rename into place, then rotate."""
    for p in tmp.rglob("*"):
        if p.is_file():
            with p.open("rb") as f:
                os.fsync(f.fileno())
    manifest = {"step": step, "files": _manifest(tmp)}
    with (tmp / COMPLETE).open("w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(tmp)
    final = checkpoints_dir(run_dir) / f"step-{step}"
    if final.exists():  # left by an earlier attempt at this step (resumed from an older one)
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    rotate(run_dir, keep=keep)
    return final


def is_complete(directory: Path) -> bool:
    """True when the manifest exists and every listed file has its recorded size and hash."""
    marker = Path(directory) / COMPLETE
    try:
        manifest = json.loads(marker.read_text(encoding="utf-8"))
        return all(
            (Path(directory) / name).stat().st_size == info["size"]
            and _sha256(Path(directory) / name) == info["sha256"]
            for name, info in manifest["files"].items()
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, dir) of every `step-N` directory that has a marker, oldest first (not verified)."""
    found = []
    for d in checkpoints_dir(run_dir).glob("step-*"):
        m = _STEP_DIR.match(d.name)
        if m and (d / COMPLETE).exists():
            found.append((int(m.group(1)), d))
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> tuple[int, Path] | None:
    """The newest checkpoint that verifies; a corrupted newer one is skipped, not trusted."""
    for step, d in reversed(list_checkpoints(run_dir)):
        if is_complete(d):
            return step, d
    return None


def rotate(run_dir: Path, *, keep: int) -> None:
    """Keep the newest `keep` (at least 1) complete checkpoints; older ones are removed."""
    found = list_checkpoints(run_dir)
    for _, d in found[: max(0, len(found) - max(1, keep))]:
        shutil.rmtree(d, ignore_errors=True)


def save_checkpoint(
    run_dir: Path,
    step: int,
    *,
    model: Any,
    tokenizer: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    trainer_state: dict[str, Any],
    keep: int,
    rank: int = 0,
    barrier: Callable[[], None] = lambda: None,
) -> None:
    """Every rank stores its RNG state; rank 0 stores the rest and commits. Collective call."""
    tmp = checkpoints_dir(run_dir) / f".tmp-step-{step}"
    if rank == 0:
        staging_dir(run_dir, step)
    barrier()
    torch.save(rng_state(), tmp / f"rng-rank{rank}.pt")
    barrier()
    if rank == 0:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
                   tmp / "optimizer.pt")
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=1))
        commit(run_dir, tmp, step, keep=keep)
    barrier()


def load_checkpoint(
    directory: Path, *, optimizer: torch.optim.Optimizer, scheduler: Any, rank: int = 0
) -> dict[str, Any]:
    """Restore optimizer, scheduler and this rank's RNG; return trainer_state (weights: caller)."""
    directory = Path(directory)
    opt = torch.load(directory / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(opt["optimizer"])
    scheduler.load_state_dict(opt["scheduler"])
    rng_file = directory / f"rng-rank{rank}.pt"
    if rng_file.exists():  # absent when resuming with more processes than were saved
        set_rng_state(torch.load(rng_file, weights_only=True))
    return json.loads((directory / "trainer_state.json").read_text(encoding="utf-8"))
