"""Run one untrusted program: bubblewrap namespaces inside a per-run cgroup, with rlimits, a
wall-clock deadline and capped output.

Each run (RELIABILITY §1.4 and §9.1):

1. a host temp directory gets the run's files (read-only at `/sandbox` inside) and a cgroup is
   created with `pids.max` and a memory cap (`cgroups.py`);
2. `/bin/sh` joins the cgroup, sets RLIMIT_CPU/FSIZE/NOFILE/CORE (`ulimit`), reports success on
   a pipe only the parent holds, and execs (as root: `setpriv` to uid/gid 65534 first)
   `bwrap --unshare-all --die-with-parent --new-session --clearenv --disable-userns` with a
   read-only `/usr`, fresh `/proc` and `/dev`, and private tmpfs `/tmp` and `/work` (the working
   directory; tmpfs pages count against the memory cap, so filling it is an OOM, not a full disk);
3. the parent reads stdout/stderr with `selectors` until both close, the deadline passes or a
   stream exceeds its cap; then everything in the cgroup is SIGKILLed and the cgroup and temp
   directory are removed. Waiting never holds the GIL, so the caller's other threads keep running.

The weak mode (`isolation="weak"`, only when asked for) runs the program without bubblewrap or a
cgroup: rlimits, an empty environment, a temp working directory, uid 65534 when root and a
process-group kill at the deadline. It does not stop reads of host files, network access or
writes wherever uid 65534 may write, and every result's status ends in ":weak".
"""

from __future__ import annotations

import contextlib
import math
import os
import selectors
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rewardkit.errors import UserError
from rewardkit.sandbox import cgroups

FILES_DIR = "/sandbox"  # the run's files, read-only inside the sandbox
WORK_DIR = "/work"  # private, writable, gone after the run
NOBODY = 65534
TEMP_PREFIX = "rk-sandbox-"  # + owner pid + "-": run directories in the temp folder
STATUSES = ("ok", "runtime_error", "timeout", "memory", "output_limit", "error")
ISOLATIONS = ("strict", "weak")

# Joins the cgroup(s), sets the rlimits, writes READY to stdout (so the parent knows all of it
# worked: the program itself only starts after) and becomes the sandbox. Arguments: n, n
# cgroup.procs files, cpu_s, fsize (512-byte blocks in dash), nofile, command...
READY = b"rewardkit-sandbox-ready\n"
_SETUP = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 1; shift; n=$((n-1)); done; '
    'ulimit -t "$1" && ulimit -f "$2" && ulimit -n "$3" && ulimit -c 0 || exit 1; shift 3; '
    'printf "%s\\n" rewardkit-sandbox-ready && exec "$@"'
)


class SandboxUnavailable(UserError):
    """bubblewrap or cgroups are missing, so the strict sandbox refuses to run."""


@dataclass(frozen=True)
class Limits:
    """Per-run limits. `cpu_s` defaults to the wall deadline rounded up, plus one second."""

    wall_s: float = 2.0
    memory_mb: int = 256
    pids: int = 32
    file_mb: int = 16
    open_files: int = 64
    output_bytes: int = 64 * 1024  # per stream: more stdout stops the run, more stderr is dropped
    cpu_s: int | None = None

    def __post_init__(self) -> None:
        for name in ("wall_s", "memory_mb", "pids", "file_mb", "open_files", "output_bytes"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                raise UserError(f"sandbox limit {name} must be a positive number, got {value!r}")
        if self.cpu_s is not None and not (isinstance(self.cpu_s, int) and self.cpu_s > 0):
            raise UserError(f"sandbox limit cpu_s must be a positive integer, got {self.cpu_s!r}")

    @property
    def cpu_seconds(self) -> int:
        return self.cpu_s if self.cpu_s is not None else math.ceil(self.wall_s) + 1


@dataclass(frozen=True)
class RunResult:
    """What one run did. `status`: "ok" (exit 0), "runtime_error" (other exit or a signal),
    "timeout", "memory" (the memory cap was hit), "output_limit" (stdout exceeded its cap; the
    run was killed: stderr past the cap is dropped, since a program's debug output is no
    answer), "error" (the sandbox itself failed: not the program's fault). In the weak mode
    every status ends in ":weak"."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    detail: str = ""

    @property
    def base_status(self) -> str:
        return self.status.split(":", 1)[0]


@dataclass
class _Backend:
    bwrap: str
    hierarchy: cgroups.Hierarchy
    system_binds: list[str] = field(default_factory=list)


_backend_lock = threading.Lock()
_backend: _Backend | None = None


def default_python() -> str:
    """The interpreter programs run with: the system's python3 (a pyenv or venv under /root is
    not readable by uid 65534)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("python3") or "python3"


def _system_binds() -> list[str]:
    """bwrap arguments giving a read-only view of what programs need from the system."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib64", "lib32"):
        path = Path("/") / top
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for f in ("/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime"):
        args += ["--ro-bind-try", f, f]
    return args


def strict_backend() -> _Backend:
    """bubblewrap and a cgroup hierarchy, checked once per process; SandboxUnavailable if not."""
    global _backend
    with _backend_lock:
        if _backend is None:
            bwrap = shutil.which("bwrap")
            if bwrap is None:
                raise SandboxUnavailable(
                    "bubblewrap (bwrap) is not installed: run `apt-get install bubblewrap` as root "
                    "(or `make install`), or pass isolation='weak' to run code without a sandbox")
            try:
                hierarchy = cgroups.detect()
            except cgroups.CgroupUnavailable as e:
                raise SandboxUnavailable(
                    f"no usable cgroups ({e}); the sandbox needs root on Linux with the memory "
                    "and pids controllers, or pass isolation='weak'") from None
            backend = _Backend(bwrap, hierarchy, _system_binds())
            probe = _run_strict(backend, ["/bin/true"], b"", {}, Limits(wall_s=5.0))
            if probe.status != "ok":
                raise SandboxUnavailable(
                    "bubblewrap cannot start a sandbox here (unprivileged user namespaces "
                    f"disabled?): {probe.status} {probe.detail or probe.stderr.strip()[:200]}")
            _backend = backend
        return _backend


class Sandbox:
    """Runs programs under `limits` (`Limits()`: 2 s, 256 MB, 32 processes). Thread-safe: many
    runs may go at once (see `run_many`).

    >>> sb = Sandbox(Limits(wall_s=3))  # doctest: +SKIP
    >>> r = sb.run_python("print(input()[::-1])", stdin="abc\\n")  # doctest: +SKIP
    >>> r.status, r.stdout  # doctest: +SKIP
    ('ok', 'cba\\n')
    """

    def __init__(self, limits: Limits | None = None, *, isolation: str = "strict",
                 python: str | None = None) -> None:
        if isolation not in ISOLATIONS:
            raise UserError(f"sandbox isolation must be one of {ISOLATIONS}, got {isolation!r}")
        self.limits = limits or Limits()
        self.isolation = isolation
        self.python = python or default_python()
        if isolation == "strict":
            strict_backend()

    def run_python(self, source: str, *, stdin: str = "", limits: Limits | None = None,
                   files: Mapping[str, str] | None = None) -> RunResult:
        """Run `source` as `/sandbox/main.py` with `stdin`; `files` go next to it (read-only)."""
        all_files = {**(files or {}), "main.py": source}
        return self.run([self.python, "-I", f"{FILES_DIR}/main.py"], stdin=stdin,
                        files=all_files, limits=limits)

    def run(self, argv: Sequence[str], *, stdin: str = "", limits: Limits | None = None,
            files: Mapping[str, str] | None = None) -> RunResult:
        """Run `argv` (paths under `/sandbox/` name the run's `files`)."""
        limits = limits or self.limits
        data = stdin.encode("utf-8", "surrogateescape")
        if self.isolation == "strict":
            return _run_strict(strict_backend(), list(argv), data, files or {}, limits)
        return self._run_weak(list(argv), data, files or {}, limits)

    def run_many(self, jobs: Sequence[Mapping], *, workers: int | None = None) -> list[RunResult]:
        """`run_python(**job)` for each job, `workers` at a time (default: this machine's cores)."""
        from rewardkit.verify.pool import default_workers

        with ThreadPoolExecutor(max_workers=workers or default_workers()) as ex:
            return list(ex.map(lambda job: self.run_python(**job), jobs))

    # -- weak -----------------------------------------------------------------------------------
    def _run_weak(self, argv: list[str], stdin: bytes, files: Mapping[str, str],
                  limits: Limits) -> RunResult:
        sweep_stale_dirs()
        with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-",
                                         suffix="-weak") as host_dir:
            files_dir, work = Path(host_dir) / "files", Path(host_dir) / "work"
            files_dir.mkdir()
            work.mkdir()
            _write_files(files_dir, files)
            if os.geteuid() == 0:
                os.chmod(host_dir, 0o755)
                os.chown(work, NOBODY, NOBODY)
            argv = [a.replace(FILES_DIR + "/", f"{files_dir}/", 1) if a.startswith(FILES_DIR + "/")
                    else a for a in argv]
            r = _supervise(argv, stdin, limits, [], str(work), None)
        return RunResult(f"{r.status}:weak", r.returncode, r.stdout, r.stderr, r.wall_s, r.detail)


def _run_strict(backend: _Backend, argv: list[str], stdin: bytes, files: Mapping[str, str],
                limits: Limits) -> RunResult:
    start = time.monotonic()
    # A run whose process was killed mid-way (a verification worker at its deadline) leaves its
    # cgroup behind; any later run, in any process, removes it (a directory listing: cheap).
    cgroups.sweep_stale(backend.hierarchy)
    sweep_stale_dirs()
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as host_dir:
        _write_files(Path(host_dir), files)
        try:
            cg = cgroups.RunCgroup(backend.hierarchy, memory_bytes=limits.memory_mb * 2**20,
                                   pids=limits.pids)
        except cgroups.CgroupUnavailable as e:
            return RunResult("error", None, "", "", time.monotonic() - start, str(e))
        try:
            bwrap = [backend.bwrap, "--unshare-all", "--unshare-user", "--die-with-parent",
                     "--new-session", "--disable-userns", "--clearenv", "--hostname", "sandbox",
                     *backend.system_binds, "--proc", "/proc", "--dev", "/dev",
                     "--tmpfs", "/tmp", "--tmpfs", WORK_DIR, "--ro-bind", host_dir, FILES_DIR,
                     "--chdir", WORK_DIR, "--setenv", "PATH", "/usr/bin:/bin",
                     "--setenv", "HOME", WORK_DIR, "--setenv", "LANG", "C.UTF-8", "--", *argv]
            result = _supervise(bwrap, stdin, limits, cg.procs_files, host_dir, cg)
        finally:
            left = not cg.remove()
        if left and result.status != "error":
            result = RunResult("error", result.returncode, result.stdout, result.stderr,
                               result.wall_s, "a process of the run could not be killed")
    return result


def sweep_stale_dirs() -> int:
    """Remove run directories (`rk-sandbox-<owner pid>-...` in the temp folder) whose owner
    died mid-run, as a verification worker killed at its deadline does; the number removed."""
    removed = 0
    for path in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        owner = path.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not cgroups.alive(int(owner)):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _write_files(directory: Path, files: Mapping[str, str]) -> None:
    directory.chmod(0o755)  # readable by uid 65534, writable by no one inside
    for name, text in files.items():
        if "/" in name or name in ("", ".", ".."):
            raise UserError(f"sandbox file name must be a plain name, got {name!r}")
        path = directory / name
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        path.chmod(0o644)


def _supervise(command: list[str], stdin: bytes, limits: Limits, procs_files: list[str],
               cwd: str, cg: cgroups.RunCgroup | None) -> RunResult:
    """Start `command` through the set-up shell and watch it until it ends or must be killed."""
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] \
        if os.geteuid() == 0 else []
    start = time.monotonic()
    argv = ["/bin/sh", "-c", _SETUP, "sh", str(len(procs_files)), *procs_files,
            str(limits.cpu_seconds), str(limits.file_mb * 2048), str(limits.open_files),
            *drop, *command]
    with tempfile.TemporaryFile() as stdin_file:
        stdin_file.write(stdin)
        stdin_file.seek(0)
        try:
            proc = subprocess.Popen(argv, stdin=stdin_file, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, cwd=cwd,
                                    env={"PATH": "/usr/bin:/bin"}, start_new_session=True)
        except OSError as e:
            return RunResult("error", None, "", "", time.monotonic() - start, f"cannot start: {e}")
    out, err, why = _collect(proc, start + limits.wall_s, len(READY) + limits.output_bytes)
    set_up = out.startswith(READY)
    out = out[len(READY):]
    if why is not None or proc.poll() is None:
        _kill(proc, cg)
    proc.wait()
    wall = time.monotonic() - start
    stdout, stderr = (b.decode("utf-8", "replace") for b in (out, err))
    if not set_up:
        return RunResult("error", proc.returncode, stdout, stderr, wall, "sandbox set-up failed")
    if why is not None:
        return RunResult(why, proc.returncode, stdout, stderr, wall)
    if cg is not None and cg.oom_killed():
        return RunResult("memory", proc.returncode, stdout, stderr, wall)
    status = "ok" if proc.returncode == 0 else "runtime_error"
    return RunResult(status, proc.returncode, stdout, stderr, wall)


def _collect(proc: subprocess.Popen, deadline: float, cap: int
             ) -> tuple[bytes, bytes, str | None]:
    """Read both streams until they close; stop early at the deadline ("timeout") or when
    stdout exceeds `cap` bytes ("output_limit"). Stderr past `cap` is read and dropped."""
    buffers = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    with selectors.DefaultSelector() as sel:
        for stream in buffers:
            sel.register(stream, selectors.EVENT_READ)
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return bytes(buffers[proc.stdout]), bytes(buffers[proc.stderr]), "timeout"
            for key, _ in sel.select(timeout=min(remaining, 0.1)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf = buffers[key.fileobj]
                buf += chunk
                if len(buf) > cap:
                    del buf[cap:]
                    if key.fileobj is proc.stdout:
                        return (bytes(buffers[proc.stdout]), bytes(buffers[proc.stderr]),
                                "output_limit")
    # Both streams closed: the program is ending; give it until the deadline to exit.
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return bytes(buffers[proc.stdout]), bytes(buffers[proc.stderr]), "timeout"
    return bytes(buffers[proc.stdout]), bytes(buffers[proc.stderr]), None


def _kill(proc: subprocess.Popen, cg: cgroups.RunCgroup | None) -> None:
    if cg is not None:
        cg.kill_all()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, 9)  # the set-up shell's session: bwrap itself, or the weak run
