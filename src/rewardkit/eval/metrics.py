"""Evaluation metrics over sampled completions: pass@k, maj@k, tokens, truncation, budgets.

Pure functions over plain lists and numpy (no torch), so `rewardkit compare` and users' notebooks
can recompute everything from a `samples.jsonl`. Conventions used throughout:

- **Correct** means the task's verifier said `True`. A verdict of `None` ("could not judge":
  timeout, unparseable gold, verifier error) counts as *not correct* in accuracy, pass@k, maj@k
  and budgets, and as *wrong* in the token statistics, so `correct` and `wrong` partition the
  samples. The share of such samples is reported separately (`unjudged_frac`), and so is the
  accuracy over the judged samples only (`accuracy_judged`), so they are visible rather than
  silently dropped. Training's `accuracy` and `accuracy_judged` (`train/metrics.accuracies`)
  are defined the same way.
- **Tokens** are policy tokens of the completion (`Completion.num_tokens`), never characters.
- A sample is **truncated** when its `finish_reason` is "length" (it hit `max_new_tokens`).

`summarize(samples, n=...)` turns the per-sample rows that the harness writes into the numbers of
`summary.json`.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np


# -- pass@k ---------------------------------------------------------------------------------------
def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem from n samples of which c are correct.

    pass@k = 1 - C(n - c, k) / C(n, k): the chance that k samples drawn without replacement
    from the n contain at least one correct one. From "Evaluating Large Language Models Trained
    on Code" (Chen et al., 2021, https://arxiv.org/abs/2107.03374). Computed as the stable product
    1 - prod_{i = n-c+1}^{n} (1 - k / i), which never forms the huge binomials; when n - c < k every
    draw of k holds a correct sample, so the value is exactly 1.

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 2), pass_at_k(4, 0, 2), pass_at_k(4, 3, 2)
    (0.25, 0.5, 0.0, 1.0)
    >>> round(pass_at_k(200, 1, 100), 6)  # C(199,100)/C(200,100) = 100/200
    0.5
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def ks_for(n: int) -> list[int]:
    """The k reported for n samples per problem: the powers of two up to n, and n itself.

    >>> ks_for(1), ks_for(6), ks_for(8)
    ([1], [1, 2, 4, 6], [1, 2, 4, 8])
    """
    ks = [1 << i for i in range(n.bit_length()) if 1 << i <= n]
    return ks if n in ks else [*ks, n]


# -- maj@k ----------------------------------------------------------------------------------------
def vote_keys(
    answers: Sequence[str | None],
    correct: Sequence[bool | None],
    same: Callable[[str, str], bool],
) -> list[int | None]:
    """One vote per sample for maj@k: samples with the same key state the same answer.

    Every sample the verifier judged correct votes 0 (its answer equals the gold, so they all
    agree, including replies whose answer only the verifier's fallback extraction found). Other
    samples with an answer join the first earlier cluster whose representative (its first answer)
    `same(representative, answer)` accepts, else open a new key 1, 2, ...; samples without an
    answer get None (no vote). A sample's key depends only on the samples before it, so the keys
    of the first k samples are the same whether the vote is over k or over all of them.
    `same` is the task's `Task.same_answer`, so `\\frac{1}{2}`, `\\dfrac{1}{2}` and `0.5` are
    one vote on `math`.

    >>> same = lambda a, b: float(a) == float(b)
    >>> vote_keys(["0.5", ".50", None, "2", "4"], [False, False, True, True, False], same)
    [1, 1, 0, 0, 2]
    """
    representatives: list[str] = []  # the first answer of cluster j + 1
    keys: list[int | None] = []
    for answer, ok in zip(answers, correct):
        if ok is True:
            keys.append(0)
        elif answer is None:
            keys.append(None)
        else:
            j = next((j for j, r in enumerate(representatives) if same(r, answer)), None)
            if j is None:
                representatives.append(answer)
                j = len(representatives) - 1
            keys.append(j + 1)
    return keys


def majority_answer(answers: Sequence[Hashable | None]) -> int | None:
    """Index of the sample whose answer wins the vote, or None when no sample has an answer.

    `answers` are vote keys (`vote_keys`) or, for rows written before those existed, extracted
    answer strings, compared exactly with whitespace removed (so there "1/2" and "0.5" are
    different votes). Samples with no answer (None) do not vote. **Ties** go to the answer that
    appeared first in sample order, a rule that never looks at correctness (breaking ties towards
    the gold would overstate maj@k); the returned index is the first sample carrying the winner.

    >>> majority_answer(["3", "4", "4", None])
    1
    >>> majority_answer(["7", "5", "5", "7"])  # a 2-2 tie: "7" came first
    0
    >>> majority_answer([None, None]) is None
    True
    """
    keys = ["".join(a.split()) if isinstance(a, str) else a for a in answers]
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return None
    top = max(counts.values())
    return next(i for i, k in enumerate(keys) if k is not None and counts[k] == top)


def maj_at_k(answers: Sequence[Hashable | None], correct: Sequence[bool | None], k: int
             ) -> float:
    """1.0 if the majority answer of the first k samples is correct, else 0.0 (see majority_answer).

    The winning answer's correctness is the verifier's verdict on the first sample carrying it
    (with `vote_keys`, key 0 holds exactly the correct samples). No sample with an answer, or an
    unjudged winner: 0.0.

    >>> maj_at_k(["3", "4", "4", "3", "3"], [False, True, True, False, False], 3)
    1.0
    >>> maj_at_k(["3", "4", "4", "3", "3"], [False, True, True, False, False], 5)
    0.0
    """
    if not 1 <= k <= len(answers):
        raise ValueError(f"need 1 <= k <= {len(answers)}, got k={k}")
    winner = majority_answer(answers[:k])
    return 0.0 if winner is None else float(correct[winner] is True)


# -- tokens, truncation, efficiency ---------------------------------------------------------------
def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if len(xs) else math.nan


def _median(xs: Sequence[float]) -> float:
    return float(np.median(xs)) if len(xs) else math.nan


def token_stats(tokens: Sequence[int], correct: Sequence[bool | None]) -> dict[str, float]:
    """Mean and median completion tokens over all, correct and wrong (= not correct) samples.

    An empty subset (no correct sample, say) gives NaN, written as null in JSON.

    >>> token_stats([10, 20, 60], [True, False, None])["mean_tokens_wrong"]  # (20 + 60) / 2
    40.0
    """
    tok = np.asarray(tokens, dtype=np.float64)  # (S,)
    ok = np.array([c is True for c in correct], dtype=bool)  # (S,)
    return {
        "mean_tokens": _mean(tok),
        "median_tokens": _median(tok),
        "mean_tokens_correct": _mean(tok[ok]),
        "median_tokens_correct": _median(tok[ok]),
        "mean_tokens_wrong": _mean(tok[~ok]),
        "median_tokens_wrong": _median(tok[~ok]),
    }


def truncated_frac(finish_reasons: Sequence[str]) -> float:
    """Share of samples cut off at max_new_tokens (finish_reason "length").

    >>> truncated_frac(["stop", "length", "stop", "stop"])
    0.25
    """
    return _mean([float(f == "length") for f in finish_reasons])


def accuracy_per_1k_tokens(accuracy: float, mean_tokens: float) -> float:
    """accuracy / (mean_tokens / 1000): accuracy bought per thousand generated tokens.

    The headline efficiency number (higher is better). It is a ratio of the two means (not a mean
    of per-sample ratios), so it reads as "accuracy points per 1k tokens of average spend"; NaN
    when no tokens were generated. Compare it only between runs with similar accuracy: a model
    that answers nothing in 1 token scores well on it, which is why reports show it beside accuracy.

    >>> accuracy_per_1k_tokens(0.6, 300.0)  # 0.6 / 0.3
    2.0
    """
    if not mean_tokens > 0:
        return math.nan
    return float(accuracy / (mean_tokens / 1000.0))


def budget_accuracy(
    tokens: Sequence[int],
    finish_reasons: Sequence[str],
    correct: Sequence[bool | None],
    budgets: Iterable[int],
) -> dict[int, float]:
    """Accuracy if generation had been cut at each token budget B, computed from full generations.

    A sample counts as correct at budget B only if it is correct, finished by itself
    (finish_reason "stop") and used at most B tokens; a sample still thinking at B would have been
    cut off there with no final answer. This is how the efficient-reasoning papers draw their
    accuracy-versus-budget curves post hoc from one set of unbudgeted samples. It is an upper
    bound of a real run at max_new_tokens=B only in that a cut-off reply might occasionally still
    hold a parseable answer; and at B >= max_new_tokens it can be below `accuracy`, because
    truncated replies that the verifier accepted (a gsm8k "last number", say) are not counted.

    >>> budget_accuracy([50, 150, 400, 400], ["stop", "stop", "length", "stop"],
    ...                 [True, True, True, False], [100, 200, 400])
    {100: 0.25, 200: 0.5, 400: 0.5}
    """
    tok = np.asarray(tokens, dtype=np.float64)  # (S,)
    ok = np.array([c is True for c in correct], dtype=bool)  # (S,)
    stop = np.array([f == "stop" for f in finish_reasons], dtype=bool)  # (S,)
    if not len(tok):
        return {int(b): math.nan for b in budgets}
    return {int(b): float(np.mean(ok & stop & (tok <= b))) for b in budgets}


# -- the whole summary ----------------------------------------------------------------------------
def difficulty_of(meta: Mapping[str, Any] | None) -> Any:
    """A problem's difficulty label: meta["difficulty"], else meta["level"] (MATH), else None."""
    if not meta:
        return None
    return meta.get("difficulty", meta.get("level"))


def _sort_key(label: Any) -> tuple:
    # numeric labels in numeric order, then text labels alphabetically
    if isinstance(label, (int, float)) and not isinstance(label, bool):
        return (0, float(label), "")
    return (1, 0.0, str(label))


def group_keys(samples: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The draw (group of samples) each row belongs to, so a problem drawn twice counts twice.

    A row's `group` field (the harness writes the group's index) when it has one. Rows of older
    files have none: a new group starts where `problem_id` changes or `sample` does not increase,
    and rows with neither field pool by consecutive `problem_id`.

    >>> group_keys([dict(problem_id="a", sample=0), dict(problem_id="a", sample=1),
    ...             dict(problem_id="a", sample=0), dict(problem_id="b", sample=0)])
    [0, 0, 1, 2]
    >>> group_keys([dict(problem_id="a", group=7), dict(problem_id="a", group=7)])
    [7, 7]
    """
    keys: list[Any] = []
    previous: Mapping[str, Any] | None = None
    for row in samples:
        if "group" in row:
            keys.append(row["group"])
            continue
        new = (previous is None or str(row["problem_id"]) != str(previous["problem_id"])
               or ("sample" in row and "sample" in previous
                   and row["sample"] <= previous["sample"]))
        keys.append((keys[-1] if keys else -1) + 1 if new else keys[-1])
        previous = row
    return keys


def _by_group(samples: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    groups: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for key, row in zip(group_keys(samples), samples):
        groups[key].append(row)
    return list(groups.values())


def summarize(
    samples: Sequence[Mapping[str, Any]], *, n: int, budgets: Iterable[int] = ()
) -> dict[str, Any]:
    """The metrics of `summary.json` from per-sample rows.

    Each row needs `problem_id`, `tokens`, `finish_reason`, `correct` (True/False/None) and
    `answer` (extracted, or None); `group` (the draw's index, see `group_keys`), `vote` (see
    `vote_keys`) and `difficulty` are optional. Rows of one group must be in sample order (maj@k
    votes over the first k). pass@k and maj@k are averaged over groups (draws), so a problem drawn
    twice counts twice and pass@1 equals accuracy; for k in ks_for(n), a group with fewer than k
    samples is left out of that k's average.

    >>> rows = [dict(problem_id="a", tokens=10, finish_reason="stop", correct=True, answer="1"),
    ...         dict(problem_id="a", tokens=30, finish_reason="length", correct=False, answer=None)]
    >>> s = summarize(rows, n=2)
    >>> s["accuracy"], s["pass@2"], s["mean_tokens"], s["truncated_frac"]
    (0.5, 1.0, 20.0, 0.5)
    """
    budgets = sorted({int(b) for b in budgets})
    groups = _by_group(samples)

    correct = [row["correct"] for row in samples]
    tokens = [int(row["tokens"]) for row in samples]
    accuracy = _mean([float(c is True) for c in correct])
    judged = [c for c in correct if c is not None]
    out: dict[str, Any] = {
        "accuracy": accuracy,
        "accuracy_judged": _mean([float(c is True) for c in judged]),
        "num_samples": len(samples),
        "num_groups": len(groups),
        "unjudged_frac": _mean([float(c is None) for c in correct]),
    }
    for k in ks_for(n):
        rows = [rs for rs in groups if len(rs) >= k]
        out[f"pass@{k}"] = _mean(
            [pass_at_k(len(rs), sum(r["correct"] is True for r in rs), k) for rs in rows]
        )
    for k in ks_for(n):
        rows = [rs for rs in groups if len(rs) >= k]
        out[f"maj@{k}"] = _mean(
            [maj_at_k(_votes(rs), [r["correct"] for r in rs], k) for rs in rows]
        )
    out.update(token_stats(tokens, correct))
    out["truncated_frac"] = truncated_frac([row["finish_reason"] for row in samples])
    out["accuracy_per_1k_tokens"] = accuracy_per_1k_tokens(accuracy, out["mean_tokens"])
    finish = [row["finish_reason"] for row in samples]
    curve = budget_accuracy(tokens, finish, correct, budgets)
    out["budgets"] = {str(b): v for b, v in curve.items()}
    out["by_difficulty"] = by_difficulty(samples, n=n)
    return out


def _votes(rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    # the harness's answer clusters when every row has one, else the raw answer strings
    if all("vote" in r for r in rows):
        return [r["vote"] for r in rows]
    return [r["answer"] for r in rows]


def by_difficulty(samples: Sequence[Mapping[str, Any]], *, n: int) -> list[dict[str, Any]]:
    """One row per difficulty label (rows without one are left out; [] when none has one).

    Row fields: difficulty, num_problems (draws: a problem drawn twice counts twice, as in
    `summarize`), num_samples, accuracy, pass@k for the largest k in ks_for(n), mean_tokens,
    truncated_frac.

    >>> rows = [dict(problem_id=i, tokens=t, finish_reason="stop", correct=c, difficulty=d)
    ...         for i, t, c, d in [(1, 10, True, 2), (2, 30, False, 1), (3, 50, True, 1)]]
    >>> [(r["difficulty"], r["accuracy"], r["mean_tokens"]) for r in by_difficulty(rows, n=1)]
    [(1, 0.5, 40.0), (2, 1.0, 10.0)]
    """
    labels: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    per_group: dict[Any, dict[Any, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for key, row in zip(group_keys(samples), samples):
        label = row.get("difficulty")
        if label is not None:
            labels[label].append(row)
            per_group[label][key].append(row["correct"] is True)
    k = ks_for(n)[-1]
    out = []
    for label in sorted(labels, key=_sort_key):
        rows = labels[label]
        per_problem = per_group[label]
        out.append({
            "difficulty": label,
            "num_problems": len(per_problem),
            "num_samples": len(rows),
            "accuracy": _mean([float(r["correct"] is True) for r in rows]),
            f"pass@{k}": _mean([pass_at_k(len(v), sum(v), k) for v in per_problem.values()
                                if len(v) >= k]),
            "mean_tokens": _mean([float(r["tokens"]) for r in rows]),
            "truncated_frac": truncated_frac([r["finish_reason"] for r in rows]),
        })
    return out
