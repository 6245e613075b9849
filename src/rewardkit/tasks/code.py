"""`code`: the reply is a Python program, run in the sandbox (`rewardkit.sandbox`) against tests.

Data rows (and `meta` of `rewardkit score` lines): `question` plus either `tests`, a list of
`{"stdin": ..., "stdout": ...}` (program I/O, as in APPS/CodeContests), or `test_code`, Python
asserts over the program's functions (as in HumanEval/MBPP); they stay in `Problem.meta` (the
gold, `gold_of`; `Problem.answer` is None). The program is the last fenced ```python block of
the answer region (after </think>), or the whole answer region when there is none.

- I/O tests pass when the whole output matches: per line, runs of whitespace count as one space
  and ends are stripped; trailing empty lines are dropped; the line counts must be equal (so a
  prefix of the expected output fails, and so do extra lines).
- Assert tests are split in this process: each `assert A == B` with a literal B becomes a check
  whose operand A is evaluated next to the candidate and sent back as plain JSON, while B never
  enters the sandbox; other comparisons (`!=`, `<`, `in`, `is None`, ...) send every operand;
  `assert X` / `assert not X` send X and test its truth here. A statement that runs checks
  of its own (a call such as HumanEval's `check(candidate)`, a loop of asserts, any statement
  holding an `assert`) is one check that passes when it completes without an exception.
  Everything else in `test_code` (imports, definitions, assignments) runs as set-up. The
  comparisons happen here, on plain data, after the harness (`code_harness.py`) has printed
  the run's random sentinel, so `sys.exit(0)`, `os._exit(0)`, custom `__eq__` and patched
  builtins fail. What is computed in the sandbox is only as trustworthy as the candidate lets
  it be: the candidate runs in the process that reports the values, so it can forge any check
  whose every operand is evaluated there (`abs(f(x) - y) < 1e-6`, `f(7) == 7 * 7`, a truthy
  check, a statement that must complete) by patching what reports them. Only the literal of
  `assert f(x) == <literal>` never enters the sandbox: write checks that way where it matters.

The verdict is "all tests pass"; the fraction passed (k / n) is kept as the completion's graded
score (`Group.scores`), which the `code_tests_passed` reward reads. A sandbox failure (not the
program's) gives status "error" and `correct=None`. Tests run one after another within
`budget_s` of sandbox time per reply (less than the verifier's default deadline of 5 s); tests
left when it runs out fail.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import secrets
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from rewardkit.errors import UserError
from rewardkit.registry import TASKS
from rewardkit.tasks.base import Defer, Task, Verdict, answer_region
from rewardkit.types import Problem

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_COMPARE_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
                ast.GtE: ">=", ast.In: "in", ast.NotIn: "not in", ast.Is: "is",
                ast.IsNot: "is not"}
HARNESS = Path(__file__).with_name("code_harness.py")

CODE_INSTRUCTION_IO = ("Write a complete Python 3 program that reads the input from stdin and "
                       "prints the answer to stdout. Put the program in one ```python block.")
CODE_INSTRUCTION_ASSERT = ("Write the Python 3 function(s) asked for (the standard library only). "
                           "Put the code in one ```python block.")


def last_python_block(text: str) -> str:
    """The program in a reply: the last ```python block after </think>, else that whole region.

    >>> last_python_block("<think>```python\\nx=1\\n```</think>a\\n```python\\nprint(2)\\n```")
    'print(2)\\n'
    >>> last_python_block("print(3)")
    'print(3)'
    """
    region = answer_region(text)
    blocks = _FENCE.findall(region)
    return blocks[-1] if blocks else region


def normalise_output(text: str) -> list[str]:
    """Lines with whitespace runs made single spaces and ends stripped; trailing blanks dropped.

    >>> normalise_output("1  2 \\r\\n3\\n\\n")
    ['1 2', '3']
    """
    lines = [" ".join(line.split()) for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def outputs_match(actual: str, expected: str) -> bool:
    """Whole-output equality after `normalise_output`; a prefix never matches.

    >>> outputs_match("1\\n2\\n", "1\\n2"), outputs_match("1\\n", "1\\n2\\n")
    (True, False)
    """
    return normalise_output(actual) == normalise_output(expected)


# -- assert-style tests: split here, judged here ---------------------------------------------------
def split_test_code(test_code: str) -> list[dict[str, Any]]:
    """The test's steps: {"kind": "exec", "source"} for set-up, {"kind": "check", "operands",
    "op", "expected"?} for asserts (`expected`: a literal kept out of the sandbox).

    >>> [s["kind"] for s in split_test_code("import math\\nassert f(1) == 2\\nassert g()")]
    ['exec', 'check', 'check']
    >>> [s.get("op") for s in split_test_code("def check(c):\\n    assert c(1)\\ncheck(f)")]
    [None, 'runs']
    >>> split_test_code("assert f(1) == [1, 2]")[0]["operands"]
    ['f(1)']
    """
    try:
        tree = ast.parse(test_code)
    except SyntaxError as e:
        raise UserError(f"test_code does not parse: {e.msg} (line {e.lineno})") from None
    steps = []
    for node in tree.body:
        if isinstance(node, ast.Assert):
            steps.append(_check(node.test))
        elif _runs_checks(node):  # its exception must fail the test, not go unnoticed
            steps.append({"kind": "check", "op": "runs", "source": ast.unparse(node)})
        else:
            steps.append({"kind": "exec", "source": ast.unparse(node)})
    if not any(s["kind"] == "check" for s in steps):
        raise UserError("test_code has no assert statements")
    return steps


def _runs_checks(node: ast.stmt) -> bool:
    """A top-level statement that may check something: an expression statement (a call such as
    `check(candidate)`), or any statement, other than a definition, with an `assert` inside."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import,
                         ast.ImportFrom)):
        return False
    return isinstance(node, ast.Expr) or any(isinstance(n, ast.Assert) for n in ast.walk(node))


def _check(test: ast.expr) -> dict[str, Any]:
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return {"kind": "check", "op": "falsy", "operands": [ast.unparse(test.operand)]}
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in _COMPARE_OPS:
        op = _COMPARE_OPS[type(test.ops[0])]
        left, right = test.left, test.comparators[0]
        if op in ("==", "!="):
            try:
                return {"kind": "check", "op": op, "operands": [ast.unparse(left)],
                        "expected": _tagged(ast.literal_eval(right))}
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                pass
        return {"kind": "check", "op": op, "operands": [ast.unparse(left), ast.unparse(right)]}
    return {"kind": "check", "op": "truthy", "operands": [ast.unparse(test)]}


def _tagged(value: Any) -> Any:
    """A literal in the harness's JSON form (see `code_harness.plain`)."""
    from rewardkit.tasks.code_harness import plain

    return plain(value)


def _untag(value: Any) -> Any:
    """Plain JSON from the harness back to Python data (tuples, sets, dicts rebuilt).

    >>> _untag({"tuple": [1, {"set": [2]}]}), _untag({"float": "nan"}) != _untag({"float": "nan"})
    ((1, frozenset({2})), True)
    """
    if isinstance(value, list):
        return [_untag(v) for v in value]
    if isinstance(value, dict):
        ((tag, inner),) = value.items()
        if tag == "tuple":
            return tuple(_untag(v) for v in inner)
        if tag == "set":
            return frozenset(_untag(v) for v in inner)
        if tag == "dict":
            return {_untag(k): _untag(v) for k, v in inner}
        if tag == "float":
            return float(inner)
        raise ValueError(f"unknown tag {tag!r}")
    return value


def _judge(step: Mapping[str, Any], values: list[Any]) -> bool:
    """One check, decided on plain data in this process."""
    op = step["op"]
    if op == "runs":  # reported only when the statement completed
        return True
    if op == "truthy":
        return bool(values[0])
    if op == "falsy":
        return not values[0]
    left = values[0]
    right = _untag(step["expected"]) if "expected" in step else values[1]
    compare = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
               "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
               "in": lambda a, b: a in b, "not in": lambda a, b: a not in b,
               "is": lambda a, b: a is b or (a is None and b is None),
               "is not": lambda a, b: not (a is b or (a is None and b is None))}[op]
    return bool(compare(left, right))


def judge_assert_run(steps: list[dict[str, Any]], stdout: str, sentinel: str) -> list[bool]:
    """Pass/fail per check from a harness run's stdout: only the last line that starts with
    this run's sentinel counts; a check reported twice or not at all fails."""
    checks = [i for i, s in enumerate(steps) if s["kind"] == "check"]
    report = None
    for line in stdout.splitlines():
        if line.startswith(sentinel + " "):
            report = line[len(sentinel) + 1:]
    if report is None:
        return [False] * len(checks)
    try:
        records = json.loads(report)
    except ValueError:
        return [False] * len(checks)
    seen: dict[int, list] = {}
    duplicated: set[int] = set()
    for r in records if isinstance(records, list) else []:
        if isinstance(r, dict) and isinstance(r.get("check"), int):
            if r["check"] in seen:
                duplicated.add(r["check"])
            seen[r["check"]] = r.get("values")
    results = []
    for i in checks:
        values = seen.get(i)
        try:
            ok = (i not in duplicated and isinstance(values, list)
                  and _judge(steps[i], [_untag(v) for v in values]))
        except Exception:  # a malformed record (forged by the candidate) fails its check
            ok = False
        results.append(ok)
    return results


def test_spec(meta: Mapping[str, Any]) -> dict[str, Any]:
    """{"tests": [...]} or {"test_code": "..."} from a problem's meta; UserError if malformed."""
    tests, test_code = meta.get("tests"), meta.get("test_code")
    if (tests is None) == (test_code is None):
        raise UserError("a code problem needs exactly one of 'tests' (stdin/stdout pairs) or "
                        "'test_code' (asserts)")
    if tests is not None:
        if not isinstance(tests, list) or not tests or not all(
                isinstance(t, dict) and isinstance(t.get("stdout"), str)
                and isinstance(t.get("stdin", ""), str) for t in tests):
            raise UserError("'tests' must be a non-empty list of {\"stdin\": str, \"stdout\": str}")
        return {"tests": [{"stdin": t.get("stdin", ""), "stdout": t["stdout"]} for t in tests]}
    if not isinstance(test_code, str):
        raise UserError("'test_code' must be a string of Python asserts")
    split_test_code(test_code)
    return {"test_code": test_code}


@lru_cache(maxsize=1)
def _harness_source() -> str:
    return HARNESS.read_text()


@lru_cache(maxsize=8)
def _sandbox(isolation: str, memory_mb: int) -> Any:
    from rewardkit.sandbox import Limits, Sandbox

    return Sandbox(Limits(memory_mb=memory_mb), isolation=isolation)


class CodeTask(Task):
    """Python programs judged by running tests in the sandbox (module docstring)."""

    name = "code"
    prompt_key = "question"
    answer_key = None  # the gold is `tests` / `test_code`, kept in `meta` (gold_of)

    def __init__(self, *, timeout_s: float = 2.0, budget_s: float = 4.0, memory_mb: int = 256,
                 isolation: str = "strict") -> None:
        """`isolation="strict"` (default) raises SandboxUnavailable (a UserError: one line, exit
        2 in the CLI) here when bubblewrap or cgroups are missing; "weak" runs programs without
        them (`rewardkit.sandbox.runner`)."""
        for key, value in (("timeout_s", timeout_s), ("budget_s", budget_s),
                           ("memory_mb", memory_mb)):
            if not value > 0:
                raise UserError(f"code task {key} must be > 0, got {value!r}")
        self.timeout_s, self.budget_s = float(timeout_s), float(budget_s)
        if isolation not in ("strict", "weak"):
            raise UserError(f"code task isolation must be 'strict' or 'weak', got {isolation!r}")
        self.memory_mb, self.isolation = int(memory_mb), isolation
        if isolation == "strict":
            from rewardkit.sandbox import runner

            runner.strict_backend()  # refuse now, before any work, when there is no sandbox
        else:
            logging.getLogger("rewardkit.sandbox").warning(
                "code task: isolation='weak' runs model-written programs WITHOUT bubblewrap or "
                "cgroups (rlimits, an empty environment and uid 65534 only)")

    # -- data -------------------------------------------------------------------------------------
    def problem_from_row(self, row: Mapping[str, Any], index: int) -> Problem:
        problem = super().problem_from_row(row, index)
        spec = test_spec(problem.meta)  # a bad test is the data's fault: say so at load time
        meta = {**{k: v for k, v in problem.meta.items() if k not in ("tests", "test_code")},
                **spec}
        return Problem(id=problem.id, prompt=problem.prompt, task=self.name, meta=meta)

    def prompt(self, problem: Problem) -> str:
        style = CODE_INSTRUCTION_IO if "tests" in problem.meta else CODE_INSTRUCTION_ASSERT
        return f"{problem.prompt}\n{style}\n"

    # -- answers ----------------------------------------------------------------------------------
    def extract_answer(self, text: str) -> str | None:
        program = last_python_block(text)
        return program if program.strip() else None

    def gold_of(self, problem: Problem) -> Any:
        return test_spec(problem.meta)

    def triage(self, gold: Any, text: str) -> tuple[str | None, Verdict | Defer]:
        program = self.extract_answer(text)
        if program is None:
            return None, (False, "ok")
        return None, Defer(json.dumps({"spec": gold, "program": program}, sort_keys=True))

    def decide(self, gold_answer: str, key: str) -> tuple[bool | None, str, float | None]:
        """Run the program against the tests (both in `key`): (all passed, status, k / n)."""
        job = json.loads(key)
        spec, program = job["spec"], job["program"]
        sandbox = _sandbox(self.isolation, self.memory_mb)
        if "tests" in spec:
            passed = self._run_io(sandbox, program, spec["tests"])
        else:
            passed = self._run_asserts(sandbox, program, spec["test_code"])
        if passed is None:
            return None, "error", None
        return all(passed), "ok", sum(passed) / len(passed)  # graded: Group.scores

    def _limits(self, remaining: float, expected_bytes: int = 0) -> Any:
        """This run's limits; the output cap leaves room for twice the expected output (a
        test expecting more than the default 64 KiB could never pass)."""
        from rewardkit.sandbox import Limits

        output = max(Limits.output_bytes, 2 * expected_bytes + 1024)
        return Limits(wall_s=max(min(self.timeout_s, remaining), 0.05), memory_mb=self.memory_mb,
                      output_bytes=output)

    def _run_io(self, sandbox: Any, program: str,
                tests: list[dict[str, str]]) -> list[bool] | None:
        passed, remaining = [], self.budget_s
        for test in tests:
            if remaining <= 0:
                passed.append(False)
                continue
            result = sandbox.run_python(program, stdin=test["stdin"], limits=self._limits(
                remaining, expected_bytes=len(test["stdout"].encode())))
            remaining -= result.wall_s
            if result.base_status == "error":
                return None
            passed.append(result.base_status == "ok" and outputs_match(result.stdout,
                                                                         test["stdout"]))
        return passed

    def _run_asserts(self, sandbox: Any, program: str,
                     test_code: str) -> list[bool] | None:
        steps = split_test_code(test_code)
        inside = [{k: v for k, v in s.items() if k != "expected"} for s in steps]
        sentinel = secrets.token_hex(16)
        result = sandbox.run([sandbox.python, "-I", "/sandbox/harness.py"],
                             stdin=sentinel + "\n",
                             files={"harness.py": _harness_source(), "solution.py": program,
                                    "checks.json": json.dumps(inside)},
                             limits=self._limits(self.budget_s))
        if result.base_status == "error":
            return None
        return judge_assert_run(steps, result.stdout, sentinel)


TASKS.register("code")(CodeTask)
