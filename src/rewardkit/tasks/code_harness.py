"""Runs inside the sandbox (as /sandbox/harness.py, with the standard library only): an
assert-style test's checks against a candidate program, reported to the grader outside.

Two processes, so the candidate never holds the run's sentinel:

- the harness makes itself non-dumpable (no ptrace, no /proc/<pid>/mem or fd access by the
  candidate), then forks the candidate process;
- the candidate process replaces stdin with /dev/null, runs solution.py (next to this file)
  as a module named "solution", then runs `checks.json` in order: "exec" steps (the test's own
  set-up code) and "check" steps, whose operand expressions it evaluates and writes to a pipe
  as plain JSON; a value that is not exactly a bool/int/float/str/None/list/tuple/dict/set of
  those (an int subclass with a custom `__eq__`, say) is reported as unserialisable;
- only then does the harness read the sentinel from stdin, and after the candidate process exits
  it prints `<sentinel> <results JSON>` as one line. The grader compares there, on plain data.

A candidate that exits early (`sys.exit(0)`, `os._exit(0)`), kills the harness or floods the
pipe leaves results missing, and missing results fail.
"""

import ctypes
import json
import os
import sys

MAX_RESULT_BYTES = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))  # /sandbox, or the weak mode's files folder
PR_SET_DUMPABLE = 4
_PLAIN_SCALARS = (bool, int, float, str, type(None))


def plain(value, depth=0):
    """`value` as JSON data, tagging tuples, sets and dicts; TypeError for anything else."""
    if depth > 100:
        raise TypeError("nested too deeply")
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        if kind is float and value != value or kind is float and value in (float("inf"),
                                                                            float("-inf")):
            return {"float": repr(value)}
        return value
    if kind is list:
        return [plain(v, depth + 1) for v in value]
    if kind is tuple:
        return {"tuple": [plain(v, depth + 1) for v in value]}
    if kind in (set, frozenset):
        return {"set": [plain(v, depth + 1) for v in value]}
    if kind is dict:
        return {"dict": [[plain(k, depth + 1), plain(v, depth + 1)] for k, v in value.items()]}
    raise TypeError(f"a {kind.__name__} is not plain data")


def run_candidate(steps, write):
    namespace = {"__name__": "solution"}
    try:
        with open(os.path.join(HERE, "solution.py"), encoding="utf-8") as f:
            source = f.read()
        exec(compile(source, "solution.py", "exec"), namespace)
    except BaseException as e:  # noqa: BLE001  (SystemExit included: the tests must still run)
        write({"load_error": type(e).__name__})
    for index, step in enumerate(steps):
        try:
            if step["kind"] == "exec":
                exec(compile(step["source"], "test_code", "exec"), namespace)
                continue
            if step["op"] == "runs":  # a statement that must complete: checks inside it passed
                exec(compile(step["source"], "test_code", "exec"), namespace)
            values = [plain(eval(compile(src, "test_code", "eval"), namespace))
                      for src in step.get("operands", [])]
            write({"check": index, "values": values})
        except BaseException as e:  # noqa: BLE001
            write({"check": index, "error": type(e).__name__})


def main():
    with open(os.path.join(HERE, "checks.json"), encoding="utf-8") as f:
        steps = json.load(f)
    libc = ctypes.CDLL(None)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        out = os.fdopen(write_end, "w", encoding="utf-8")

        def write(record):
            out.write(json.dumps(record) + "\n")
            out.flush()

        run_candidate(steps, write)
        out.flush()
        os._exit(0)
    os.close(write_end)
    sentinel = sys.stdin.readline().strip()
    chunks, size = [], 0
    while size <= MAX_RESULT_BYTES:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    os.waitpid(pid, 0)
    records = []
    for line in b"".join(chunks)[:MAX_RESULT_BYTES].decode("utf-8", "replace").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    os.write(1, (f"\n{sentinel} " + json.dumps(records) + "\n").encode())


if __name__ == "__main__":
    main()
