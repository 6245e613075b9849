"""A task knows its data rows, its prompts, how to find the final answer and how to check it.

"Is it correct?" is the task's job and runs once per completion; "how much is it worth?" is the
rewards' job and reads `group.correct`. Verification returns a status with every verdict, so a
timeout or an unparseable gold becomes `None` ("could not judge") rather than a silent 0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from rewardkit.errors import UserError
from rewardkit.types import Group, Problem

Verdict = tuple["bool | None", str]  # (correct, status)


class Defer(NamedTuple):
    """A check the caller's process cannot settle cheaply: `Task.decide(gold_answer, key)` runs
    in a worker process under a deadline. `key` is all it needs besides the gold (it is also the
    cache key, so identical answers are decided once)."""

    key: str

# The answer format every task's prompt asks for: reasoning, then \boxed{answer}.
ANSWER_INSTRUCTION = (
    "Think step by step inside <think></think>, then give the final answer as \\boxed{answer}."
)


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), with nested braces balanced.

    >>> last_boxed(r"so \\boxed{\\frac{1}{2}} and finally \\boxed{3}")
    '3'
    >>> last_boxed("no answer") is None
    True
    """
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, begin = 1, i
    while i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[begin:i].strip()
        i += 1
    return None  # unbalanced: the reply was cut off inside the box


def answer_region(text: str) -> str:
    """The part of a reply that may hold the final answer: after </think> when it is there."""
    head, sep, tail = text.rpartition("</think>")
    return tail if sep else text


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def last_number(text: str) -> str | None:
    """The last number in `text`, thousands separators removed.

    >>> last_number("it costs $1,234.50, not 7")
    '7'
    """
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "") if found else None


class Task:
    """Base class of registered tasks. Subclasses set `name` and override what differs."""

    name = "base"
    prompt_key = "question"
    answer_key = "answer"

    # -- data ---------------------------------------------------------------------------------
    def problem_from_row(self, row: Mapping[str, Any], index: int) -> Problem:
        for key in (self.prompt_key,):
            if key not in row:
                raise UserError(f"missing key {key!r} (has: {', '.join(sorted(row)) or 'none'})")
        meta = {k: v for k, v in row.items() if k not in (self.prompt_key, self.answer_key, "id")}
        answer = row.get(self.answer_key)
        return Problem(
            id=str(row.get("id", row.get("unique_id", index))),
            prompt=str(row[self.prompt_key]),
            answer=None if answer is None else self.gold_from_field(str(answer)),
            task=self.name,
            meta=meta,
        )

    def gold_from_field(self, answer: str) -> str:
        """The gold answer as stored in the data (GSM8K keeps it after '####')."""
        return answer

    def load(self, path: str | Path, *, limit: int | None = None) -> list[Problem]:
        """Problems from a JSONL file; a bad line is an error naming the file and line."""
        return [p for _, p in zip(range(limit or 10**12), self._iter_file(Path(path)))]

    def _iter_file(self, path: Path) -> Iterator[Problem]:
        if not path.exists():
            raise UserError("no such file", where=str(path))
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise UserError("expected a JSON object")
                    yield self.problem_from_row(row, lineno - 1)
                except json.JSONDecodeError as e:
                    raise UserError(f"invalid JSON: {e.msg}", where=f"{path}:{lineno}") from None
                except UserError as e:
                    raise e.at(f"{path}:{lineno}") from None

    # -- prompts ------------------------------------------------------------------------------
    def prompt(self, problem: Problem) -> str:
        """The text the policy continues (no chat template; samplers may wrap it in one)."""
        return f"{problem.prompt}\n{ANSWER_INSTRUCTION}\n"

    # -- answers ------------------------------------------------------------------------------
    def extract_answer(self, text: str) -> str | None:
        """The final answer of a reply: the last \\boxed{} after </think>, else None."""
        return last_boxed(answer_region(text))

    def parse_gold(self, answer: str | None) -> Any:
        """Parse the gold once per group; None means it cannot be parsed."""
        return answer

    def gold_of(self, problem: Problem) -> Any:
        """The parsed gold of a problem (tasks whose gold lives in `meta` too override this)."""
        return None if problem.answer is None else self.parse_gold(problem.answer)

    def check(self, gold: Any, text: str) -> Verdict:
        """Compare one reply to the parsed gold. Subclasses override."""
        predicted = self.extract_answer(text)
        if predicted is None:
            return False, "ok"
        return predicted.strip() == str(gold).strip(), "ok"

    def same_answer(self, reference: str, other: str) -> bool:
        """Whether `other` states the same final answer as `reference`, by this task's own check.

        Equal strings (whitespace removed) always agree; otherwise `reference` is parsed as a
        gold answer and `other` checked against it as the reply `\\boxed{other}`. The order is
        verify(gold, prediction)'s, which matters where the check is not symmetric (math-verify).
        A reference that does not parse, or a check that fails or cannot judge, means "not the
        same". maj@k clusters its votes with this (`rewardkit.eval.metrics.vote_keys`).

        >>> from rewardkit.tasks import get_task
        >>> gsm8k = get_task("gsm8k")
        >>> gsm8k.same_answer("1,000", "1000"), gsm8k.same_answer("0.5", "\\\\frac{1}{2}")
        (True, True)
        >>> gsm8k.same_answer("2", "3")
        False
        """
        if "".join(reference.split()) == "".join(other.split()):
            return True
        try:
            gold = self.parse_gold(reference)
        except Exception:  # a hostile answer must not stop an eval: it just forms its own vote
            return False
        if gold is None:
            return False
        try:
            return self.check(gold, f"\\boxed{{{other}}}")[0] is True
        except Exception:
            return False

    # -- verification (rewardkit.verify runs these) -------------------------------------------
    def triage(self, gold: Any, text: str) -> tuple[str | None, Verdict | Defer]:
        """(extracted answer, verdict) for one reply, or a `Defer` for what needs a worker.

        Runs in the caller's process, so it must be fast on any input (linear in the text).
        The default settles everything here with `check`.
        """
        return self.extract_answer(text), self.check(gold, text)

    def decide(self, gold_answer: str, key: str) -> Verdict:
        """The slow part of a check, in a worker process: the raw gold answer and a `Defer` key."""
        raise NotImplementedError(f"task {self.name!r} defers no checks")

    def cache_id(self) -> str:
        """Identifies the task and its settings in the verdict cache."""
        return f"{type(self).__module__}.{type(self).__qualname__}:{sorted(vars(self).items())}"

    def verify(self, group: Group) -> Group:
        """The group with one verdict, status and extracted answer per completion.

        Same as `rewardkit.verify_groups(self, [group])[0]`; pass many groups at once to that
        instead, so the worker pool checks them in parallel.
        """
        from rewardkit.verify import verify_groups

        return verify_groups(self, [group])[0]
