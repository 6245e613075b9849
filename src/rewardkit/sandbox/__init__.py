"""A local sandbox for untrusted programs (model-written code): bubblewrap namespaces, a per-run
cgroup, rlimits, a wall-clock deadline that kills the whole run, capped output.

`Sandbox(limits).run_python(source, stdin=...)` -> `RunResult(status, returncode, stdout, ...)`.
See `runner.py` for what each run gets and `cgroups.py` for the v1/v2 handling. The strict mode
(default) refuses to run (`SandboxUnavailable`) where bubblewrap or cgroups are missing; the weak
mode runs anyway and marks every status with ":weak".
"""

from rewardkit.sandbox import cgroups, runner  # noqa: F401  (submodules, for tests)
from rewardkit.sandbox.runner import (
    STATUSES,
    Limits,
    RunResult,
    Sandbox,
    SandboxUnavailable,
    default_python,
)

__all__ = ["STATUSES", "Limits", "RunResult", "Sandbox", "SandboxUnavailable", "default_python"]
