"""Run a model's SQL on a SQLite file so that it can only read, briefly, and a bounded amount.

Layers (RELIABILITY §2, measured 12/12 there):

- a read-only URI connection (`file:...?mode=ro`), so a write fails in SQLite itself;
- only statements that start with SELECT, WITH or VALUES, one at a time (`sqlite3` refuses
  several);
- an authorizer that allows reading, selecting, recursive CTEs and functions other than
  `load_extension`, and denies everything else: writes, DDL, ATTACH/DETACH, PRAGMA,
  transactions and savepoints (so `VACUUM INTO`, `PRAGMA writable_schema` and `ATTACH` of a new
  file are refused before they run); `SQLITE_LIMIT_ATTACHED` is 0 as a second lock;
- `setlimit` caps on a value's length (10 MB: stops `zeroblob(9e8)`/`randomblob` and huge
  `LIKE` inputs) and on the statement's length; `temp_store=MEMORY`, so sorts never write files;
- a progress handler that aborts the statement at a wall-clock deadline (thread timeouts cannot
  interrupt SQLite's C code; this can), checked every 1,000 VM steps;
- a row cap and a byte cap on what is fetched.

`enable_load_extension` is never called (this Python's build does not even have it).
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DEFAULT_DEADLINE_S = 2.0
DEFAULT_MAX_ROWS = 10_000
MAX_VALUE_BYTES = 10_000_000
MAX_SQL_BYTES = 100_000
MAX_RESULT_BYTES = 64 * 2**20
PROGRESS_STEPS = 1_000

_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                    getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
_FIRST_WORD = re.compile(r"\s*(?:(?:--[^\n]*(?:\n|$))|(?:/\*.*?\*/)|\s)*([A-Za-z]+)", re.DOTALL)
QUERY_STATUSES = ("ok", "denied", "timeout", "row_cap", "too_large", "sql_error")


@dataclass(frozen=True)
class QueryResult:
    """`status`: "ok", "denied" (not a read-only SELECT), "timeout", "row_cap" (more rows than
    allowed), "too_large" (fetched values over the byte cap), "sql_error" (SQLite's own error,
    e.g. a syntax error or a value over the length cap). `rows` only when "ok"."""

    status: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple, ...] = ()
    detail: str = ""


def _authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None,
                trigger: str | None) -> int:
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def connect_read_only(db_path: str | Path) -> sqlite3.Connection:
    """A hardened read-only connection (module docstring); FileNotFoundError if no such file."""
    path = Path(db_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(str(path))
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, isolation_level=None,
                           check_same_thread=False)
    conn.execute("PRAGMA temp_store = MEMORY")  # ours, before the authorizer forbids PRAGMA
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.set_authorizer(_authorizer)
    return conn


def run_query(db_path: str | Path, sql: str, *, deadline_s: float = DEFAULT_DEADLINE_S,
              max_rows: int = DEFAULT_MAX_ROWS) -> QueryResult:
    """Run one read-only query under the limits above.

    >>> import sqlite3, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.db")
    >>> with sqlite3.connect(path) as c:
    ...     _ = c.executescript("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2);")
    >>> run_query(path, "SELECT x FROM t ORDER BY x").rows
    ((1,), (2,))
    >>> [run_query(path, sql, max_rows=1).status for sql in ("DELETE FROM t", "SELECT x FROM t")]
    ['denied', 'row_cap']
    """
    word = _FIRST_WORD.match(sql)
    if word is None or word.group(1).upper() not in ("SELECT", "WITH", "VALUES"):
        return QueryResult("denied", detail="only SELECT/WITH/VALUES statements run")
    if len(sql.encode("utf-8", "replace")) > MAX_SQL_BYTES:
        return QueryResult("sql_error", detail="statement too long")
    conn = connect_read_only(db_path)
    deadline = time.monotonic() + deadline_s
    timed_out = False

    def past_deadline() -> int:
        nonlocal timed_out
        timed_out = time.monotonic() > deadline
        return int(timed_out)

    conn.set_progress_handler(past_deadline, PROGRESS_STEPS)
    try:
        cursor = conn.execute(sql)
        columns = tuple(d[0] for d in cursor.description or ())
        rows: list[tuple] = []
        size = 0
        while True:
            batch = cursor.fetchmany(1_000)
            if not batch:
                break
            rows.extend(batch)
            if len(rows) > max_rows:
                return QueryResult("row_cap", columns, detail=f"more than {max_rows} rows")
            size += sum(_size(v) for row in batch for v in row)
            if size > MAX_RESULT_BYTES:
                return QueryResult("too_large", columns, detail="result over the byte cap")
        return QueryResult("ok", columns, tuple(rows))
    except sqlite3.DatabaseError as e:
        if timed_out:
            return QueryResult("timeout", detail=f"ran past {deadline_s} s")
        if "not authorized" in str(e) or "prohibited" in str(e):
            return QueryResult("denied", detail=str(e))
        return QueryResult("sql_error", detail=str(e))
    except (sqlite3.Warning, sqlite3.ProgrammingError, ValueError, OverflowError) as e:
        return QueryResult("sql_error", detail=str(e))  # e.g. several statements at once
    finally:
        conn.close()


def _size(value: object) -> int:
    return len(value) if isinstance(value, (str, bytes)) else 8
