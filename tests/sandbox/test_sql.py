"""The `sql` task (G6, G7): hostile statements leave the database byte-identical, create no file
and end within the deadline; results compare as documented; honest queries pass."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rewardkit import verify_groups
from rewardkit.errors import UserError
from rewardkit.sandbox.sqlite import run_query
from rewardkit.tasks import get_task
from rewardkit.tasks.sql import BUNDLED, has_top_level_order_by, results_match
from rewardkit.types import Completion, Group

DEADLINE_S = 0.5
HOSTILE = [
    "DROP TABLE customers",
    "DELETE FROM orders",
    "UPDATE products SET price = 0",
    "INSERT INTO customers VALUES (99, 'x', 'y', 1)",
    "REPLACE INTO customers VALUES (1, 'x', 'y', 1)",
    "CREATE TABLE evil (x)",
    "ALTER TABLE customers ADD COLUMN evil TEXT",
    "ATTACH DATABASE '{dir}/evil.db' AS evil",
    "VACUUM INTO '{dir}/copy.db'",
    "PRAGMA writable_schema = ON",
    "PRAGMA journal_mode = WAL",
    "SELECT load_extension('{dir}/evil.so')",
    "SELECT 1; DROP TABLE customers",
    "BEGIN",
    "COMMIT",
    "SAVEPOINT s",
    "WITH x AS (SELECT 1) DELETE FROM orders",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
    "SELECT count(*) FROM order_items a, order_items b, order_items c, order_items d, "
    "order_items e, order_items f, order_items g, order_items h, order_items i",  # 12**9 rows
    "SELECT * FROM order_items a, order_items b, order_items c, order_items d",  # 12**4 rows
    "SELECT zeroblob(900000000)",
    "SELECT randomblob(900000000)",
    "SELECT name FROM customers WHERE name LIKE printf('%.*c', 60000, '%')",  # huge pattern
    "SELECT length(replace(hex(zeroblob(4000000)), '0', 'ab'))",  # grows past the length cap
]
# Run in a fresh interpreter, so its peak RSS measures these statements alone.
_RUNNER = """
import json, resource, sys, time
from rewardkit.sandbox.sqlite import run_query
db, statements, deadline = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = []
for sql in statements:
    start = time.monotonic()
    r = run_query(db, sql, deadline_s=deadline, max_rows=10000)
    out.append([r.status, time.monotonic() - start, r.detail])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"results": out, "rss_delta_kb": after - before}))
"""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hostile_statements_leave_the_database_untouched(tmp_path):
    db = tmp_path / "shop.sqlite"
    shutil.copy(BUNDLED / "shop.sqlite", db)
    before, files_before = _digest(db), sorted(p.name for p in tmp_path.iterdir())
    statements = [s.format(dir=tmp_path) for s in HOSTILE]
    assert len(statements) >= 15
    src = str(Path(__file__).resolve().parents[2] / "src")
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(db), json.dumps(statements),
                           str(DEADLINE_S)],
                          capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for sql, (status, elapsed, detail) in zip(statements, report["results"]):
        assert status != "ok", (sql, detail)
        assert elapsed <= DEADLINE_S + 0.1, (sql, elapsed)
    statuses = dict(zip(HOSTILE, (r[0] for r in report["results"])))
    assert statuses[HOSTILE[17]] == "timeout"  # the endless recursive CTE
    assert statuses[HOSTILE[19]] == "row_cap"
    assert report["rss_delta_kb"] <= 64 * 1024
    assert _digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before


@pytest.mark.parametrize("gold, pred, ordered, same", [
    ([(1,), (2,)], [(2,), (1,)], False, True),  # multiset: order free
    ([(1,), (2,)], [(2,), (1,)], True, False),  # gold has ORDER BY
    ([(1,), (1,), (2,)], [(1,), (2,), (2,)], False, False),  # set semantics would say equal
    ([(1,), (1,)], [(1,)], False, False),  # a duplicate missing
    ([(None,)], [(None,)], False, True),
    ([(None,)], [(0,)], False, False),  # NULL is not 0
    ([(0.1 + 0.2,)], [(0.3,)], False, True),  # within 1e-6 relative
    ([(1.0,)], [(1.001,)], False, False),
    ([(3,)], [(3.0,)], False, True),  # integer and real of the same value
    ([("3",)], [(3,)], False, False),  # text is not a number
    ([("a", 1), ("b", 2)], [(1, "a"), (2, "b")], False, True),  # columns permuted
    ([("a", 1)], [("a", 1, 0)], False, False),  # an extra column
    ([], [], False, True),
    ([(1,)], [], False, False),
    # found by a differential fuzzer:
    ([(20240101,)], [(20240115,)], False, False),  # two integers compare exactly
    ([(2**53,)], [(2**53 + 1,)], False, False),
    # one unit in the last place apart, but the 6-decimal sort key put the rows in another order
    ([(0.1234565, 1), (0.123457, 0)], [(0.12345650000000001, 1), (0.123457, 0)], False, True),
])
def test_comparison_table(gold, pred, ordered, same):
    assert results_match(gold, pred, ordered=ordered) is same


def test_order_by_detection_ignores_subqueries_and_strings():
    assert has_top_level_order_by("SELECT x FROM t ORDER BY x")
    assert not has_top_level_order_by("SELECT x FROM (SELECT x FROM t ORDER BY x LIMIT 3)")
    assert not has_top_level_order_by("SELECT 'order by' FROM t")
    assert not has_top_level_order_by("SELECT x FROM t -- order by x\n")  # nor comments
    assert not has_top_level_order_by("SELECT x FROM t /* ORDER BY x */")


def test_empty_results_of_different_widths_differ():
    # The width came from the first gold row: an empty gold matched any empty reply.
    assert not results_match([], [], ordered=False, widths=(2, 1))
    assert results_match([], [], ordered=False, widths=(2, 2))
    task = get_task("sql")
    gold = json.dumps([str(BUNDLED / "shop.sqlite"), "SELECT name, city FROM customers WHERE 0"])
    assert task.decide("", gold[:-1] + ', "SELECT 1 WHERE 0"]') == (False, "ok")
    assert task.decide("", gold[:-1] + ', "SELECT 1, 2 WHERE 0"]') == (True, "ok")


@pytest.fixture(scope="module")
def problems():
    return get_task("sql").load(BUNDLED / "shop.jsonl")


def _reply(query: str) -> str:
    return f"<think>...</think>\n```sql\n{query}\n```"


def test_bundled_gold_queries_pass_and_wrong_ones_fail(problems):
    assert len(problems) >= 12
    rewrites = {  # honest rewrites of some golds: aliases, column order, no ORDER BY needed
        "names-london": "SELECT c.name AS who FROM customers c WHERE c.city = 'London'",
        "joined-2020": "SELECT city, name FROM customers WHERE joined = 2020",
        "count-customers": "SELECT COUNT(id) FROM customers",
    }
    wrong = "SELECT name FROM customers"
    groups = [Group(p, [Completion(_reply(p.answer), 9), Completion(_reply(wrong), 9),
                        Completion(_reply(rewrites.get(p.id, p.answer)), 9),
                        Completion("I think it is Ada.", 5)], 64) for p in problems]
    verified = verify_groups("sql", groups, timeout_s=10)
    for g in verified:
        assert g.status == ("ok",) * 4, g.problem.id
        assert g.correct[0] is True and g.correct[2] is True, g.problem.id
        assert g.correct[1] is False and g.correct[3] is False, g.problem.id
        assert g.answers[3] is None


def test_hostile_reply_is_wrong_and_harmless(problems, tmp_path):
    db = Path(problems[0].meta["db"])
    before = _digest(db)
    g = Group(problems[0], [Completion(_reply("DROP TABLE customers"), 5),
                            Completion(_reply("SELECT name FROM customers WHERE city = 'London' "
                                              "ORDER BY name"), 5)], 64)
    (out,) = verify_groups("sql", [g], timeout_s=10)
    assert out.correct == (False, True) and out.status == ("ok", "ok")
    assert _digest(db) == before


def test_failing_gold_is_a_data_error_not_a_model_failure(problems):
    bad = problems[0].__class__(id="bad", prompt="q", answer="SELECT nope FROM nowhere",
                                task="sql", meta=dict(problems[0].meta))
    (out,) = verify_groups("sql", [Group(bad, [Completion(_reply("SELECT 1"), 3)], 8)],
                           timeout_s=10)
    assert (out.correct, out.status) == ((None,), ("unparseable_gold",))


def test_missing_database_is_a_user_error_at_load(write_jsonl):
    path = write_jsonl([{"question": "q", "answer": "SELECT 1", "db": "missing.sqlite"}])
    with pytest.raises(UserError, match="no such database 'missing.sqlite'"):
        get_task("sql").load(path)


def test_sql_partial_on_verified_groups(problems):
    pytest.importorskip("sqlglot")
    from rewardkit.rewards.sql import sql_partial

    p = next(p for p in problems if p.id == "names-london")
    g = Group(p, [Completion(_reply(p.answer), 9), Completion(_reply("SELEC name"), 9),
                  Completion("no query", 3)], 64)
    (out,) = verify_groups("sql", [g], timeout_s=10)
    # 1: everything matches -> 1.0. 2: wrong and unparseable -> only E counts, E=0 -> 0.0.
    # 3: no query -> 0.0.
    assert sql_partial(out) == [1.0, 0.0, 0.0]


def test_run_query_reports_sql_errors(problems):
    db = problems[0].meta["db"]
    assert run_query(db, "SELECT nope FROM customers").status == "sql_error"
    assert run_query(db, "  -- comment\n/* x */ SELECT 1").status == "ok"


def test_gold_runs_once_per_problem_and_row_cap_is_wrong(problems):
    from rewardkit.tasks import sql as sql_task

    task = sql_task.SqlTask(max_rows=3)
    p = next(p for p in problems if p.id == "names-london")
    gold = task.gold_of(p)
    sql_task._gold_result.cache_clear()
    keys = [json.dumps([gold["db"], gold["query"], q]) for q in (
        "SELECT name FROM customers WHERE city = 'London'",
        "SELECT name FROM customers WHERE city = 'Paris'",
        "SELECT a.name FROM customers a, customers b WHERE a.city = 'London'")]  # 12 rows > 3
    assert [task.decide("", k) for k in keys] == [(True, "ok"), (False, "ok"), (False, "ok")]
    info = sql_task._gold_result.cache_info()
    assert (info.misses, info.hits) == (1, 2)
