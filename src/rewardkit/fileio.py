"""Files are never half-written: write aside, fsync, rename, then fsync the folder."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from rewardkit.errors import UserError


@contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Write to a temporary file beside `path`, then rename: readers never see half a file, and
    a crash (or an exception inside the block) leaves the previous file, if any, intact.

    A path that exists and is not a regular file (`/dev/null`, a FIFO, `/dev/stdout`) is written
    in place: renaming over it would replace the device with a file (as root, for everyone).
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        with path.open(mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)  # make the rename itself durable
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_write(path) as f:
        f.write(text)


def read_json(path: str | Path, *, missing: str = "no such file") -> Any:
    """A JSON file's content; a missing or malformed file is a UserError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(missing, where=str(path))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"invalid JSON: {e.msg}", where=f"{path}:{e.lineno}") from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line of a JSONL file; a missing file or a line
    that is not JSON is a UserError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise UserError("no such file", where=str(path))
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"invalid JSON: {e.msg}", where=f"{path}:{lineno}") from None
