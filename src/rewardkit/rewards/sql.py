"""`sql_partial`: partial credit for text-to-SQL replies, from execution and the query's parts."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from rewardkit.errors import UserError
from rewardkit.registry import REWARDS
from rewardkit.rewards.base import RewardContext
from rewardkit.types import Group


def _sqlglot():
    try:
        import sqlglot
    except ImportError:  # a core dependency; only a hand-made environment lacks it
        raise UserError("sql_partial needs sqlglot: pip install sqlglot") from None
    return sqlglot


def _parse(query: str | None):
    """The parsed SELECT, or None if the query is missing or does not parse (as SQLite)."""
    if not query:
        return None
    sqlglot = _sqlglot()
    try:
        tree = sqlglot.parse_one(query, read="sqlite")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, ValueError, RecursionError):
        return None
    return tree if isinstance(tree, sqlglot.exp.Query) else None


def _canonical(node) -> str:
    """A part of a query with aliases and table qualifiers dropped, lower-cased."""
    exp = _sqlglot().exp
    node = node.unalias() if isinstance(node, exp.Alias) else node
    bare = node.transform(lambda n: exp.column(n.name) if isinstance(n, exp.Column) else n)
    return bare.sql(dialect="sqlite").lower()


def _parts(tree) -> tuple[Counter, Counter, Counter]:
    """(selected columns, tables, WHERE conjuncts) of the outermost SELECT, as multisets."""
    exp = _sqlglot().exp
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    columns = Counter(_canonical(e) for e in (select.expressions if select else []))
    tables = Counter(t.name.lower() for t in tree.find_all(exp.Table))
    where = select.args.get("where") if select else None
    conjuncts: Iterable = []
    if where is not None:
        cond = where.this
        conjuncts = cond.flatten() if isinstance(cond, exp.And) else [cond]
    return columns, tables, Counter(_canonical(c) for c in conjuncts)


def _f1(gold: Counter, pred: Counter) -> float:
    if not gold and not pred:
        return 1.0
    overlap = sum((gold & pred).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(pred.values()), overlap / sum(gold.values())
    return 2 * precision * recall / (precision + recall)


def _jaccard(gold: Counter, pred: Counter) -> float:
    a, b = set(gold), set(pred)
    return 1.0 if not a and not b else len(a & b) / len(a | b)


@REWARDS.register("sql_partial")
def sql_partial(group: Group, *, execution: float = 0.5, syntax: float = 0.1,
                tables: float = 0.15, columns: float = 0.15, conditions: float = 0.1,
                ctx: RewardContext | None = None) -> list[float]:
    """Partial credit for each completion of a `sql` task: a weighted mean of five components
    in [0, 1], execution, syntax, tables, columns and conditions.

        r = (w_e*E + w_s*S + w_t*T + w_c*C + w_w*W) / (w_e + w_s + w_t + w_c + w_w)

    - E, execution: 1 if the verifier found the result equal to the gold's, else 0 (execution
      accuracy, the main reward of Reasoning-SQL, Pourreza et al. 2025,
      https://arxiv.org/abs/2503.23157);
    - S, syntax: 1 if the query parses as SQLite SQL (sqlglot), checked without running it
      (Reasoning-SQL's syntax reward, which there means "executes without error");
    - T, tables: Jaccard similarity of the tables the two queries use (Reasoning-SQL's
      schema-linking reward);
    - C, columns: F1 of the outer SELECT's expressions, and W, conditions: F1 of the outer
      WHERE's AND-ed conditions, compared without aliases or table qualifiers (the SELECT and
      WHERE components of Spider's component matching, Yu et al. 2018 (two empty parts match),
      https://arxiv.org/abs/1809.08887).

    Defaults: execution 0.5, syntax 0.1, tables 0.15, columns 0.15, conditions 0.1. A reply
    with no ```sql block gets 0.0; NaN where the verifier could not judge (`correct` None).
    The gold query is `problem.answer`; the reply's query is the verifier's `answers` entry.

    >>> from rewardkit.testing import make_group
    >>> from rewardkit.types import Problem
    >>> g = make_group(lengths=[5, 5, 5], correct=[True, False, None])
    >>> g = g.with_verdicts(g.correct, ["ok", "ok", "error"], [
    ...     "SELECT name FROM customers WHERE city = 'London'",
    ...     "SELECT name, city FROM customers WHERE city = 'Paris'", None])
    >>> import dataclasses
    >>> g = dataclasses.replace(g, problem=Problem("p", "q",
    ...     "SELECT c.name FROM customers AS c WHERE c.city = 'London'"))
    >>> [round(r, 4) for r in sql_partial(g)]
    [1.0, 0.35, nan]

    Second reply, by hand: E=0, S=1, T=1 ({customers} both), C = F1({name}, {name, city}) =
    2*(1/2)*1/(1/2+1) = 2/3, W = 0 (different condition): (0.1 + 0.15 + 0.15*2/3) / 1 = 0.35.
    """
    weights = {"execution": execution, "syntax": syntax, "tables": tables, "columns": columns,
               "conditions": conditions}
    for key, w in weights.items():
        if not (isinstance(w, (int, float)) and w >= 0 and math.isfinite(w)):
            raise UserError(f"sql_partial: {key} must be a weight >= 0, got {w!r}")
    total = sum(weights.values())
    if total <= 0:
        raise UserError("sql_partial: at least one weight must be > 0")
    if not group.verified:
        raise ValueError(f"group {group.problem.id!r} has not been verified")
    gold_tree = _parse(group.problem.answer)
    gold_parts = _parts(gold_tree) if gold_tree is not None else (Counter(),) * 3
    answers = group.answers or (None,) * len(group)
    rewards = []
    for ok, query in zip(group.correct, answers):
        if ok is None:
            rewards.append(math.nan)
            continue
        tree = _parse(query)
        if tree is None:  # no query, or one that does not parse
            rewards.append(execution * float(ok) / total)
            continue
        cols, tabs, conds = _parts(tree)
        score = (execution * float(ok) + syntax + tables * _jaccard(gold_parts[1], tabs)
                 + columns * _f1(gold_parts[0], cols) + conditions * _f1(gold_parts[2], conds))
        rewards.append(score / total)
    return rewards
