"""Rows of a dataset from wherever it lives, each with its location for error messages.

    for where, row in read_rows("data/train.parquet"): ...     # where = "data/train.parquet row 3"

Sources: JSONL (`.jsonl`, `.json`: one JSON object per line; `file:line`), Parquet (`.parquet`,
via pyarrow; `file row N`), CSV (`.csv`, with a header line; every value is a string;
`file:line`), a folder written by `datasets.save_to_disk` (a DatasetDict's `split`;
`folder[split] row N`) and a hub id `owner/name` through `datasets.load_dataset` (`split`). Row
numbers count from 1. Parquet, folders and hub ids need `datasets`/pyarrow (the extra
`rewardkit[tasks]`); JSONL and CSV need nothing.
"""

from __future__ import annotations

import csv
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rewardkit.errors import UserError
from rewardkit.fileio import iter_jsonl

Row = tuple[str, dict[str, Any]]  # (where, row)
FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
EXTRA = "pip install 'rewardkit[tasks]'"
OFFLINE_ALTERNATIVES = ("a local JSONL, Parquet or CSV file, or a folder written by "
                        "datasets' save_to_disk")
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def is_local(source: str | Path) -> bool:
    """Whether `source` names a local file or folder (existing, or by a data file suffix)."""
    path = Path(source)
    return path.exists() or path.suffix.lower() in FILE_SUFFIXES


def is_hub_id(source: str) -> bool:
    """`owner/name` that is not a local path.

    >>> is_hub_id("openai/gsm8k"), is_hub_id("data/train.jsonl")
    (True, False)
    """
    return bool(_HUB_ID.fullmatch(source)) and not is_local(source)


def read_rows(source: str | Path, *, split: str = "train") -> Iterator[Row]:
    """(where, row) for each row of `source`; a row that is not a mapping, a missing file, a
    folder that is no saved dataset, or an unreachable hub is a UserError naming it."""
    path = Path(source)
    if path.is_dir():
        yield from _saved_dataset(path, split)
        return
    suffix = path.suffix.lower()
    if not path.exists() and is_hub_id(str(source)):
        yield from _hub(str(source), split)
        return
    if not path.is_file():
        raise UserError("no such file", where=str(path))
    if suffix == ".parquet":
        yield from _parquet(path)
    elif suffix == ".csv":
        yield from _csv(path)
    else:
        for lineno, row in iter_jsonl(path):
            where = f"{path}:{lineno}"
            if not isinstance(row, dict):
                raise UserError(f"expected a JSON object, got {type(row).__name__}", where=where)
            yield where, row


def _csv(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row or None in row.values():  # more or fewer fields than the header
                raise UserError(f"the row's fields do not match the header's "
                                f"{len(reader.fieldnames or [])} columns", where=where)
            yield where, dict(row)


def _parquet(path: Path) -> Iterator[Row]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(f"reading Parquet needs pyarrow: {EXTRA}", where=str(path)) from None
    try:
        table = pq.ParquetFile(path)
    except Exception as e:  # not a Parquet file (pyarrow raises its own ArrowInvalid)
        raise UserError(f"not a readable Parquet file ({e})", where=str(path)) from None
    number = 0
    for batch in table.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            number += 1
            yield f"{path} row {number}", row


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise UserError(f"reading a `datasets` folder or hub id needs the `datasets` package: "
                        f"{EXTRA}; "
                        f"or pass {OFFLINE_ALTERNATIVES.split(', or')[0]}") from None
    return datasets


def _rows_of(ds: Any, label: str) -> Iterator[Row]:
    for i, row in enumerate(ds, 1):
        yield f"{label} row {i}", dict(row)


def is_saved_dataset(path: Path) -> bool:
    """A folder written by `datasets.save_to_disk` (a Dataset or a DatasetDict)."""
    return (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()


def _saved_dataset(path: Path, split: str) -> Iterator[Row]:
    if not is_saved_dataset(path):
        raise UserError("is a folder but not one written by datasets' save_to_disk",
                        where=str(path))
    datasets = _datasets()
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise UserError(f"no split {split!r} (has: {', '.join(ds)})", where=str(path))
        ds = ds[split]
    yield from _rows_of(ds, f"{path}[{split}]")


def hub_host() -> str:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    return urlsplit(endpoint).hostname or "huggingface.co"


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub's host opens within `timeout` seconds."""
    try:
        socket.create_connection((hub_host(), 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _hub(dataset_id: str, split: str) -> Iterator[Row]:
    datasets = _datasets()
    cache = datasets.config.HF_DATASETS_CACHE
    offline = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("HF_DATASETS_OFFLINE")
    if not offline and not hub_reachable():  # fail now, not after datasets' minute of retries
        raise UserError(f"the hub ({hub_host()}) cannot be reached from this machine. A copy "
                        f"downloaded earlier into the cache ({cache}) is used with "
                        f"HF_DATASETS_OFFLINE=1; otherwise pass {OFFLINE_ALTERNATIVES}",
                        where=dataset_id)
    try:
        ds = datasets.load_dataset(dataset_id, split=split)
    except Exception as e:  # unknown id, no such split, not in the offline cache, ...
        raise UserError(f"could not load split {split!r} ({type(e).__name__}: {str(e)[:200]}); "
                        f"cache: {cache}; offline, pass {OFFLINE_ALTERNATIVES}",
                        where=dataset_id) from None
    yield from _rows_of(ds, f"{dataset_id}[{split}]")
