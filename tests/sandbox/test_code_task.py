"""The `code` task and `code_tests_passed`: honest programs pass, grader tricks (G4) fail,
sandbox failures are "error" with correct=None, never 0."""

from __future__ import annotations

import json
import math

import pytest

from rewardkit import verify_groups
from rewardkit.errors import UserError
from rewardkit.rewards.code import code_tests_passed
from rewardkit.sandbox import RunResult
from rewardkit.tasks import code as code_task
from rewardkit.tasks import get_task
from rewardkit.types import Completion, Group

IO_ROW = {"id": "add", "question": "Print the sum of two integers.",
          "tests": [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "-5 5\n", "stdout": "0\n"},
                    {"stdin": "10 20\n", "stdout": "30\n"}]}
LINES_ROW = {"id": "lines", "question": "Print 1..n, one per line.",
             "tests": [{"stdin": "3\n", "stdout": "1\n2\n3\n"}]}
ASSERT_ROW = {"id": "sq", "question": "Write sq(x) returning x squared.",
              "test_code": "import math\nassert sq(3) == 9\nassert sq(-2) == 4\n"
                           "assert sq(0) == 0\nassert not sq(0)"}
# HumanEval's shape (asserts inside check(candidate)) and a loop of asserts: before, an assert
# that failed inside them went unnoticed (found by a differential fuzzer)
NESTED_ROW = {"id": "sq-nested", "question": "Write sq(x) returning x squared.",
              "test_code": "def check(candidate):\n    assert candidate(2) == 4\n"
                           "check(sq)\nfor x, y in [(1, 1), (3, 9)]:\n    assert sq(x) == y\n"
                           "assert sq(0) == 0"}


def fenced(src: str) -> str:
    return f"<think>easy</think>\n```python\n{src}\n```"


# name -> (row, reply, expected "k/n"): k hand-counted from which tests the program can pass.
CASES = {
    "io_honest": (IO_ROW, fenced("print(sum(map(int, input().split())))"), "3/3"),
    "io_constant": (IO_ROW, fenced("print(3)"), "1/3"),  # only the first test's answer
    "io_sys_exit_0": (IO_ROW, fenced("import sys\nsys.exit(0)"), "0/3"),
    "io_prefix_only": (LINES_ROW, fenced("print(1)\nprint(2)"), "0/1"),  # 2 of 3 lines
    "io_extra_line": (LINES_ROW, fenced("for i in range(1, 5):\n    print(i)"), "0/1"),
    "io_whitespace_ok": (LINES_ROW, fenced("print(' 1 ')\nprint('2\\t')\nprint(3)\nprint()"),
                         "1/1"),
    "io_timeout": (IO_ROW, fenced("while True:\n    pass"), "0/3"),
    "io_write_expected": (IO_ROW, fenced("open('/sandbox/expected.txt', 'w').write('3')"),
                          "0/3"),
    "assert_honest": (ASSERT_ROW, fenced("def sq(x):\n    return x * x"), "4/4"),
    # int subclass equal to everything: not plain data, so every == check fails; `not sq(0)`
    # is truthiness of the unserialisable E(0) and fails too
    "assert_eq_trick": (ASSERT_ROW, fenced("class E(int):\n    def __eq__(self, other):\n"
                                           "        return True\n    __hash__ = int.__hash__\n"
                                           "def sq(x):\n    return E(0)"), "0/4"),
    # sq returns 0: sq(0) == 0 and not sq(0) hold, 9 and 4 do not
    "assert_sys_exit_0": (ASSERT_ROW, fenced("import sys\ndef sq(x):\n    return 0\nsys.exit(0)"),
                          "2/4"),
    "assert_os_exit_0": (ASSERT_ROW, fenced("import os\nos._exit(0)"), "0/4"),
    "nested_honest": (NESTED_ROW, fenced("def sq(x):\n    return x * x"), "3/3"),
    "nested_zero": (NESTED_ROW, fenced("def sq(x):\n    return 0"), "1/3"),  # only sq(0) == 0
    "nested_identity": (NESTED_ROW, fenced("def sq(x):\n    return x"), "1/3"),  # sq(0) again
    "assert_patch_builtins": (ASSERT_ROW, fenced("import builtins\nbuiltins.AssertionError = "
                                                 "None\ndef sq(x):\n    return 1"), "0/4"),
    "assert_kill_harness": (ASSERT_ROW, fenced("import os, signal\ndef sq(x):\n    return x * x\n"
                                               "os.kill(os.getppid(), signal.SIGKILL)"), "0/4"),
    "assert_write_conftest": (ASSERT_ROW, fenced("open('conftest.py', 'w').write('x')\n"
                                                 "def sq(x):\n    return 1"), "0/4"),
    # forges a result record for every check on the harness's pipe, then reports for real:
    # each check then arrives twice and fails
    "assert_forged_records": (ASSERT_ROW, fenced(
        "import os, json\nfor fd in range(3, 20):\n    try:\n"
        "        os.write(fd, (json.dumps({'check': 1, 'values': [9]}) + '\\n').encode())\n"
        "    except OSError:\n        pass\ndef sq(x):\n    return 9"), "0/4"),
}


@pytest.fixture(scope="module")
def verified(sandbox):
    task = get_task("code")
    groups = [Group(task.problem_from_row(row, 0), [Completion(reply, 10)], 64)
              for row, reply, _ in CASES.values()]
    return dict(zip(CASES, verify_groups(task, groups, timeout_s=20)))


@pytest.mark.parametrize("name", list(CASES))
def test_partial_credit_and_grader_tricks(verified, name):
    group = verified[name]
    expected = CASES[name][2]
    passed, total = map(int, expected.split("/"))
    assert (group.status, group.scores) == (("ok",), (passed / total,))  # tests passed / tests
    assert group.correct == (passed == total,)
    assert code_tests_passed(group) == [passed / total]


def test_sandbox_failure_is_an_error_not_a_zero(monkeypatch):
    class Broken:
        python = "/usr/bin/python3"

        def run_python(self, *a, **k):
            return RunResult("error", None, "", "", 0.01, "cgroup vanished")

        run = run_python

    monkeypatch.setattr(code_task, "_sandbox", lambda *a: Broken())
    task = code_task.CodeTask(isolation="weak")  # the sandbox is the broken one above
    for row in (IO_ROW, ASSERT_ROW):
        spec = task.gold_of(task.problem_from_row(row, 0))
        key = json.dumps({"spec": spec, "program": "print(1)"})
        assert task.decide("None", key) == (None, "error", None)
    g = Group(task.problem_from_row(IO_ROW, 0), [Completion("x", 1)], 8, [None], ["error"],
              [None])
    assert math.isnan(code_tests_passed(g)[0])


def test_program_is_the_last_python_block_after_think():
    text = "<think>```python\nprint('draft')\n```</think>\n```py\nprint(1)\n```\n```python\nprint(2)\n```"
    assert code_task.last_python_block(text) == "print(2)\n"


@pytest.mark.parametrize("row, message", [
    ({"question": "q"}, "exactly one of"),
    ({"question": "q", "tests": [], "test_code": "assert f()"}, "exactly one of"),
    ({"question": "q", "tests": [{"stdin": "1"}]}, "non-empty list"),
    ({"question": "q", "test_code": "x = 1"}, "no assert"),
    ({"question": "q", "test_code": "assert f("}, "does not parse"),
])
def test_bad_rows_are_user_errors(row, message):
    with pytest.raises(UserError, match=message):
        code_task.CodeTask(isolation="weak").problem_from_row(row, 0)


@pytest.mark.parametrize("kwargs, key", [({"isolation": "none"}, "isolation"),
                                         ({"timeout_s": 0}, "timeout_s"),
                                         ({"budget_s": -1, "isolation": "weak"}, "budget_s")])
def test_bad_code_task_settings_are_user_errors(kwargs, key):
    with pytest.raises(UserError, match=key):
        code_task.CodeTask(**kwargs)


def test_strict_code_task_refuses_before_any_work(monkeypatch):
    from rewardkit.sandbox import SandboxUnavailable, runner

    monkeypatch.setattr(runner, "_backend", None)
    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="bubblewrap"):
        get_task("code")


def test_expected_literals_never_enter_the_sandbox(monkeypatch):
    test_code = "assert f(1) == 'secret-answer'\nassert g(2) < h(3)"
    steps = code_task.split_test_code(test_code)
    assert steps[0]["expected"] == "secret-answer"  # kept here, for the judging
    assert steps[1]["operands"] == ["g(2)", "h(3)"]
    sent = []

    class Recorder:  # what the task really hands the sandbox
        python = "/usr/bin/python3"

        def run(self, argv, *, stdin="", files=None, limits=None):
            sent.append((list(argv), stdin, dict(files or {})))
            return RunResult("ok", 0, "", "", 0.01)

    monkeypatch.setattr(code_task, "_sandbox", lambda *a: Recorder())
    task = code_task.CodeTask(isolation="weak")
    key = json.dumps({"spec": {"test_code": test_code}, "program": "def f(x): return x"})
    assert task.decide("None", key) == (False, "ok", 0.0)  # no sentinel line: both fail
    ((argv, stdin, files),) = sent
    assert json.loads(files["checks.json"])[1]["operands"] == ["g(2)", "h(3)"]
    assert not any("secret-answer" in text for text in [*argv, stdin, *files.values()])


def test_worker_killed_at_the_verify_deadline_leaves_nothing_behind(sandbox):
    """The pool kills a worker whose check overruns `timeout_s`, mid-sandbox: bwrap dies with
    its parent (--die-with-parent), and the run's cgroup is swept by the next run, in any
    process (cgroups.sweep_stale)."""
    import glob
    import os
    import tempfile
    import time

    from rewardkit.sandbox import runner
    from tests.sandbox.test_containment import _live_nobody_processes

    task = get_task("code")
    problem = task.problem_from_row({"question": "q", "tests": [{"stdout": "1\n"}]}, 0)
    hang = Group(problem, [Completion(fenced("import os\nos.fork()\nwhile True:\n    pass"), 5)],
                 16)
    (out,) = verify_groups(task, [hang], timeout_s=0.5)
    assert (out.correct, out.status) == ((None,), ("timeout",))
    deadline = time.monotonic() + 2.0
    while _live_nobody_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _live_nobody_processes() == []
    honest = Group(problem, [Completion(fenced("print(1)"), 5)], 16)
    assert verify_groups(task, [honest], timeout_s=10)[0].correct == (True,)
    bases = runner.strict_backend().hierarchy.bases.values()
    assert [leaf for base in bases for leaf in glob.glob(f"{base}/rk-*")] == []
    assert runner.sweep_stale_dirs() == 0  # the honest run already removed the dead run's dir
    dirs = glob.glob(f"{tempfile.gettempdir()}/{runner.TEMP_PREFIX}*")
    assert [d for d in dirs if not os.path.exists(f"/proc/{d.split('-')[2]}")] == []


def test_weak_mode_judges_both_test_styles():
    task = code_task.CodeTask(isolation="weak")
    for row, program, expected in [(ASSERT_ROW, "def sq(x):\n    return x * x", "4/4"),
                                   (IO_ROW, "print(3)", "1/3")]:
        spec = task.gold_of(task.problem_from_row(row, 0))
        key = json.dumps({"spec": spec, "program": program})
        passed, total = map(int, expected.split("/"))
        assert task.decide("None", key) == (expected == "4/4", "ok", passed / total)


def test_an_expected_output_over_the_default_cap_can_pass(sandbox):
    # 108 KB of expected output: the 64 KiB default cap cut every program off before it.
    row = {"id": "many", "question": "Print 0..19999.",
           "tests": [{"stdin": "", "stdout": "\n".join(map(str, range(20_000))) + "\n"}]}
    task = get_task("code")
    group = Group(task.problem_from_row(row, 0), [Completion(fenced(
        "for i in range(20000):\n    print(i)"), 10)], 64)
    assert verify_groups(task, [group], timeout_s=20)[0].correct == (True,)


def test_debug_output_on_stderr_does_not_fail_a_correct_program(sandbox):
    # 100 KB on stderr stopped the run ("output_limit") before; stderr past the cap is dropped.
    task = get_task("code")
    group = Group(task.problem_from_row(IO_ROW, 0), [Completion(fenced(
        "import sys\nsys.stderr.write('x' * 100_000)\nprint(sum(map(int, input().split())))"),
        10)], 64)
    assert verify_groups(task, [group], timeout_s=20)[0].correct == (True,)
