"""A task knows its data rows, its prompts, how to find the final answer and how to check it.

"Is it correct?" is the task's job and runs once per completion; "how much is it worth?" is the
rewards' job and reads `group.correct`. Verification returns a status with every verdict, so a
timeout or an unparseable gold becomes `None` ("could not judge") rather than a silent 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from rewardkit.errors import UserError
from rewardkit.prompts import ChatPrompt
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


# A number as prose writes it: a sign ("-", "\u2212", also before "$": "-$5") only where no word,
# digit or bracket precedes it (the hyphen of "3-5" is no sign), commas only between groups of
# three digits ("3,4" is two numbers), an exponent kept whole ("2.5e2" is not 2).
_NUMBER = re.compile(r"(?:(?<![\w.)\]}])[-\u2212]\s*(?:\\?\$\s*)?)?"
                     r"(?:(?:\d{1,3}(?:,\d{3})+(?![\d,])|\d+)(?:\.\d+)?|\.\d+)"
                     r"(?:[eE][-+]?\d+)?")
_SIGN = re.compile(r"^[-\u2212]\s*(?:\\?\$\s*)?")


def last_number(text: str) -> str | None:
    """The last number in `text`, thousands separators removed, its sign written "-".

    >>> last_number("it costs $1,234.50, not 7"), last_number("It takes 3-5 days")
    ('7', '5')
    >>> last_number("So the answer is -$5."), last_number("\u22125, or 3,4")
    ('-5', '4')
    """
    found = _NUMBER.findall(text)
    return _SIGN.sub("-", found[-1]).replace(",", "") if found else None


def _checked_messages(value: list, key: str) -> list[dict[str, str]]:
    """A prompt given as chat messages: a list of {role, content} with at least one user turn."""
    ok = all(isinstance(m, Mapping) and isinstance(m.get("role"), str)
             and isinstance(m.get("content"), str) for m in value)
    if not ok or not any(m["role"] == "user" for m in value):
        raise UserError(f"key {key!r}: a list prompt must be chat messages "
                        f'[{{"role": ..., "content": ...}}, ...] with a "user" one')
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _missing_key(role: str, key: str, row: Mapping[str, Any], where: str) -> UserError:
    has = ", ".join(sorted(map(str, row))) or "none"
    return UserError(f"missing {role} key {key!r} (has: {has}); choose another with "
                     f"--{role}-key (eval) or task_params.{role}_key (train)", where=where)


class Task:
    """Base class of registered tasks. Subclasses set `name` and override what differs.

    Settings (the config's `task_params`, or keyword arguments): `prompt_key` and `answer_key`
    (the data's column names), `instruction` (appended to each question; "" for none) and
    `system_prompt` (the chat form's system message, and the first paragraph of the plain form).
    """

    name = "base"
    prompt_key = "question"
    answer_key: str | None = "answer"  # None: the gold lives in other columns (`gold_of`)
    instruction = ANSWER_INSTRUCTION
    system_prompt: str | None = None

    def __init__(self, *, prompt_key: str | None = None, answer_key: str | None = None,
                 instruction: str | None = None, system_prompt: str | None = None) -> None:
        for key, value in (("prompt_key", prompt_key), ("answer_key", answer_key),
                           ("instruction", instruction), ("system_prompt", system_prompt)):
            if value is not None:
                if not isinstance(value, str):
                    raise UserError(f"task_params.{key}: expected a string, got {value!r}")
                setattr(self, key, value)

    # -- data ---------------------------------------------------------------------------------
    def problem_from_row(self, row: Mapping[str, Any], index: int) -> Problem:
        """A row's problem. A prompt that is a list of chat messages ({role, content}) keeps
        them in `meta["messages"]`; `prompt` is then the last user message's text."""
        for key in (self.prompt_key,):
            if key not in row:
                raise UserError(f"missing key {key!r} (has: {', '.join(sorted(row)) or 'none'})")
        meta = {k: v for k, v in row.items() if k not in (self.prompt_key, self.answer_key, "id")}
        answer = row.get(self.answer_key)
        prompt = row[self.prompt_key]
        if isinstance(prompt, list):
            messages = _checked_messages(prompt, self.prompt_key)
            meta["messages"] = messages
            prompt = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        return Problem(
            id=str(row.get("id", row.get("unique_id", index))),
            prompt=str(prompt),
            answer=None if answer is None else self.gold_from_field(str(answer)),
            task=self.name,
            meta=meta,
        )

    def gold_from_field(self, answer: str) -> str:
        """The gold answer as stored in the data (GSM8K keeps it after '####')."""
        return answer

    def load(self, source: str | Path, *, limit: int | None = None, split: str = "train"
             ) -> list[Problem]:
        """Problems from a JSONL, Parquet or CSV file, a `datasets.save_to_disk` folder or a hub
        id (`tasks.sources`); a bad row is an error naming the file and row."""
        from rewardkit.tasks.sources import read_rows

        problems: list[Problem] = []
        for where, row in read_rows(source, split=split):
            if limit is not None and len(problems) >= limit:
                break
            if self.prompt_key not in row:
                raise _missing_key("prompt", self.prompt_key, row, where)
            try:
                problem = self.problem_from_row(row, len(problems))
            except UserError as e:
                raise e.at(where) from None
            if (problem.answer is None and self.answer_key is not None  # None: gold in meta
                    and self.answer_key not in row):  # and none was derived
                raise _missing_key("answer", self.answer_key, row, where)
            problems.append(problem)
        if not problems:
            raise UserError("no problems in it", where=str(source))
        return problems

    # -- prompts ------------------------------------------------------------------------------
    def messages(self, problem: Problem) -> list[dict[str, str]]:
        """The chat form: the system prompt (unless the row's messages have one), then the row's
        messages or the question as one user message, the instruction after the last user text.
        """
        rows = [dict(m) for m in (problem.meta or {}).get("messages") or ()]
        if not rows:
            rows = [{"role": "user", "content": problem.prompt}]
        if self.system_prompt and not any(m["role"] == "system" for m in rows):
            rows.insert(0, {"role": "system", "content": self.system_prompt})
        last_user = max(i for i, m in enumerate(rows) if m["role"] == "user")
        if self.instruction:
            rows[last_user]["content"] = f"{rows[last_user]['content']}\n{self.instruction}"
        return rows

    def prompt(self, problem: Problem) -> str:
        """The plain-text form (the messages' texts, a blank line apart, then a newline) carrying
        the chat form for samplers with `sampling.chat_template` (`rewardkit.prompts`)."""
        messages = self.messages(problem)
        return ChatPrompt("\n\n".join(m["content"] for m in messages) + "\n", messages)

    # -- answers ------------------------------------------------------------------------------
    def extract_answer(self, text: str) -> str | None:
        """The final answer of a reply: the last \\boxed{} after </think>, else None."""
        return last_boxed(answer_region(text))

    def gold_answer(self, problem: Problem) -> str | None:
        """What verification compares replies with (and caches verdicts under): the gold answer,
        or, for tasks whose checker needs more of the problem, a string holding all it needs."""
        return problem.answer

    def parse_gold(self, answer: str | None) -> Any:
        """Parse the gold once per group; None means it cannot be parsed."""
        return answer

    def gold_of(self, problem: Problem) -> Any:
        """The parsed gold of a problem (tasks whose gold lives in `meta` too override this)."""
        answer = self.gold_answer(problem)
        return None if answer is None else self.parse_gold(answer)

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
        return self._check_safely(gold, f"\\boxed{{{other}}}")[0] is True

    # -- verification (rewardkit.verify runs these) -------------------------------------------
    def triage(self, gold: Any, text: str) -> tuple[str | None, Verdict | Defer]:
        """(extracted answer, verdict) for one reply, or a `Defer` for what needs a worker.

        Runs in the caller's process, so it must be fast on any input (linear in the text).
        The default settles everything here with `check`.
        """
        return self.extract_answer(text), self.check(gold, text)

    def decide(self, gold_answer: str, key: str) -> Verdict:
        """The slow part of a check, in a worker process: the raw gold answer and a `Defer` key.

        Verdicts are cached by (task, `problem.answer`, key), so a task whose gold also depends
        on `meta` must put what it needs of it into the key.
        """
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

    def _check_safely(self, gold: Any, text: str) -> Verdict:
        """`check`, with an exception (a verifier bug, a hostile string) as status "error"."""
        try:
            return self.check(gold, text)
        except Exception:
            return None, "error"
