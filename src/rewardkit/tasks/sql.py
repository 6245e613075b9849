"""`sql`: text-to-SQL on a SQLite file; the reply's query is run read-only and its result compared
with the gold query's.

Data rows: `question`, `answer` (the gold query) and `db` (a SQLite file; a relative path is
relative to the data file, else to the working directory, else a bundled database such as
`shop.sqlite`); `rewardkit score` lines give `answer` and `meta.db`. The reply's query is the
last fenced ```sql block of the answer region (after </think>); a reply without one is wrong.

Both queries run through `rewardkit.sandbox.sqlite.run_query` (read-only connection,
authorizer, deadline, caps) in a verification worker. The gold result is computed once per
(database, gold query) in each worker and cached. Comparison (`results_match`):

- the same number of columns (also when both results are empty); columns are matched by
  position, and when that fails, by any
  permutation of the prediction's columns (as Spider's test-suite evaluation does, up to 6
  columns), so `SELECT a, b` answers a gold `SELECT b, a`; column names are ignored;
- rows as a multiset (duplicates count) unless the gold query has a top-level ORDER BY (not
  in a comment), then as a sequence;
- two integers equal exactly (ids, timestamps and YYYYMMDD dates are integers); a real equals
  a number within a relative tolerance of 1e-6 (and 1e-9 absolute), so `1` equals `1.0`; NULL
  equals only NULL.

A reply whose query is refused, fails, runs past the deadline or returns more rows than the cap
is wrong (correct=False, status "ok": the query's fault, not the verifier's). A gold query that
fails gives status "unparseable_gold" (a data error); a missing database gives "error".
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from rewardkit.errors import UserError
from rewardkit.registry import TASKS
from rewardkit.tasks.base import Defer, Task, Verdict, answer_region
from rewardkit.types import Problem

_FENCE = re.compile(r"```[ \t]*sql[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
# A quoted string or name, a comment (each to its end, or to the end of an unclosed one), or one
# other character
_SQL_TOKEN = re.compile(r"'[^']*'?|\"[^\"]*\"?|`[^`]*`?|--[^\n]*|/\*.*?(?:\*/|\Z)|.", re.DOTALL)
MAX_MATCHED_ROWS = 500  # rows matched pairwise when sorting cannot pair them (near-equal reals)
REL_TOL, ABS_TOL = 1e-6, 1e-9
MAX_PERMUTED_COLUMNS = 6
BUNDLED = Path(__file__).resolve().parents[1] / "data" / "sql"
SQL_INSTRUCTION = "Answer with one SQLite query in a ```sql block."


def last_sql_block(text: str) -> str | None:
    """The last ```sql block after </think>, stripped; None when there is none.

    >>> last_sql_block("```sql\\nSELECT 1\\n```\\nbetter:\\n```SQL\\nSELECT 2;\\n```")
    'SELECT 2;'
    """
    blocks = _FENCE.findall(answer_region(text))
    return blocks[-1].strip() if blocks and blocks[-1].strip() else None


def has_top_level_order_by(sql: str) -> bool:
    """Whether ORDER BY appears outside parentheses, quotes and comments (the outer query
    orders rows).

    >>> has_top_level_order_by("SELECT * FROM (SELECT x FROM t ORDER BY x)")
    False
    >>> has_top_level_order_by("SELECT x FROM t WHERE s = 'a--b' ORDER BY x DESC")
    True
    """
    depth, outer = 0, []
    for token in _SQL_TOKEN.findall(sql):
        if len(token) > 1:  # a quoted name or string, or a comment
            outer.append(" ")
        else:
            depth += {"(": 1, ")": -1}.get(token, 0)
            outer.append(token if depth == 0 else " ")
    return re.search(r"\border\s+by\b", "".join(outer), re.IGNORECASE) is not None


def _sort_key(value: Any) -> tuple:
    if value is None:
        return (0, 0)
    if isinstance(value, int):  # exact, as integers compare
        return (1, value)
    if isinstance(value, float):
        return (1, round(value, 6) if math.isfinite(value) else value)
    if isinstance(value, str):
        return (2, value)
    return (3, bytes(value))


def _same_value(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return type(a) is type(b) and a == b


def _same_row(g: tuple, p: tuple) -> bool:
    return len(g) == len(p) and all(map(_same_value, g, p))


def _rows_match(gold: Sequence[tuple], pred: Sequence[tuple], ordered: bool) -> bool:
    if len(gold) != len(pred):
        return False
    if ordered:
        return all(map(_same_row, gold, pred))
    gold = sorted(gold, key=lambda r: tuple(map(_sort_key, r)))
    pred = sorted(pred, key=lambda r: tuple(map(_sort_key, r)))
    if all(map(_same_row, gold, pred)):
        return True
    # Reals within the tolerance can round to either side of a sort key's 6th decimal, and so
    # be paired with the wrong row: pair each gold row with any unused equal one instead.
    if len(gold) > MAX_MATCHED_ROWS or not any(isinstance(v, float) for r in gold for v in r):
        return False
    unused = list(pred)
    for g in gold:
        match = next((i for i, p in enumerate(unused) if _same_row(g, p)), None)
        if match is None:
            return False
        unused.pop(match)
    return True


def results_match(gold: Sequence[tuple], pred: Sequence[tuple], *, ordered: bool,
                  widths: tuple[int, int] | None = None) -> bool:
    """Whether two results are the same (module docstring); `widths`, the two queries' numbers
    of columns, also tells empty results apart.

    >>> results_match([(1, "a"), (1, "a")], [(1, "a")], ordered=False)  # duplicates count
    False
    >>> results_match([(1, 2.0)], [(2.0000001, 1)], ordered=False)  # columns permuted, float
    True
    >>> results_match([(1,), (2,)], [(2,), (1,)], ordered=True)
    False
    """
    if widths is not None and widths[0] != widths[1]:
        return False
    width = len(gold[0]) if gold else None
    if pred and width is not None and len(pred[0]) != width:
        return False
    if _rows_match(gold, pred, ordered):
        return True
    if not gold or width is None or width > MAX_PERMUTED_COLUMNS:
        return False
    for perm in itertools.permutations(range(width)):
        if _rows_match(gold, [tuple(row[i] for i in perm) for row in pred], ordered):
            return True
    return False


@lru_cache(maxsize=1024)
def _gold_result(db: str, query: str, deadline_s: float, max_rows: int) -> Any:
    """The gold query's result, once per (database, query) per process."""
    from rewardkit.sandbox.sqlite import run_query

    return run_query(db, query, deadline_s=deadline_s, max_rows=max_rows)


class SqlTask(Task):
    """Text-to-SQL judged by executing both queries on the problem's database."""

    name = "sql"
    prompt_key = "question"
    answer_key = "answer"

    def __init__(self, *, deadline_s: float = 2.0, max_rows: int = 10_000) -> None:
        if not deadline_s > 0 or not max_rows > 0:
            raise UserError(f"sql task deadline_s and max_rows must be > 0, got "
                            f"{deadline_s!r}, {max_rows!r}")
        self.deadline_s, self.max_rows = float(deadline_s), int(max_rows)
        self._base: Path | None = None

    # -- data -------------------------------------------------------------------------------------
    def problem_from_row(self, row: Mapping[str, Any], index: int) -> Problem:
        problem = super().problem_from_row(row, index)
        if not isinstance(row.get(self.answer_key), str):
            raise UserError("a sql problem needs 'answer', the gold query")
        db = resolve_db(problem.meta.get("db"), self._base)
        return Problem(id=problem.id, prompt=problem.prompt, answer=problem.answer,
                       task=self.name, meta={**problem.meta, "db": db})

    def load(self, path: str | Path, *, limit: int | None = None) -> list[Problem]:
        self._base = Path(path).parent  # relative `db` paths are relative to the data file
        try:
            return super().load(path, limit=limit)
        finally:
            self._base = None

    def prompt(self, problem: Problem) -> str:
        return f"{problem.prompt}\n{SQL_INSTRUCTION}\n"

    # -- answers ----------------------------------------------------------------------------------
    def extract_answer(self, text: str) -> str | None:
        return last_sql_block(text)

    def gold_of(self, problem: Problem) -> Any:
        if not problem.answer or not problem.answer.strip():
            return None
        return {"db": resolve_db(problem.meta.get("db")), "query": problem.answer.strip()}

    def triage(self, gold: Any, text: str) -> tuple[str | None, Verdict | Defer]:
        query = self.extract_answer(text)
        if query is None:
            return None, (False, "ok")
        return query, Defer(json.dumps([gold["db"], gold["query"], query]))

    def decide(self, gold_answer: str, key: str) -> Verdict:
        """Run the gold (cached) and the reply's query (both in `key`) and compare."""
        from rewardkit.sandbox.sqlite import run_query

        db, gold_query, query = json.loads(key)
        if not Path(db).is_file():
            return None, "error"
        gold = _gold_result(db, gold_query, self.deadline_s, self.max_rows)
        if gold.status != "ok":
            return None, "unparseable_gold"
        pred = run_query(db, query, deadline_s=self.deadline_s, max_rows=self.max_rows)
        if pred.status != "ok":
            return False, "ok"
        return results_match(gold.rows, pred.rows, ordered=has_top_level_order_by(gold_query),
                             widths=(len(gold.columns), len(pred.columns))), "ok"


def resolve_db(db: Any, base: Path | None = None) -> str:
    """The absolute path of a problem's database: absolute, relative to `base` (the data file's
    folder) or to the working directory, or the name of a bundled one (`shop.sqlite`)."""
    if not isinstance(db, str) or not db:
        raise UserError("a sql problem needs 'db', the path of its SQLite file")
    candidates = [Path(db)] if Path(db).is_absolute() else \
        [*([base / db] if base is not None else []), Path(db), BUNDLED / db]
    for path in candidates:
        if path.is_file():
            return str(path.resolve())
    raise UserError(f"no such database {db!r} (looked in: {', '.join(map(str, candidates))})")


TASKS.register("sql")(SqlTask)
