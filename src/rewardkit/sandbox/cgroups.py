"""One cgroup per sandboxed run: a process cap, a memory cap, and a way to kill everything in it.

Both hierarchies are handled:

- **v1** (this project's dev machines): the `memory` and `pids` controllers are mounted apart
  under `/sys/fs/cgroup/<controller>`; a run gets a leaf under the caller's own cgroup in each
  (`memory.limit_in_bytes`, `memory.memsw.limit_in_bytes` where swap accounting exists,
  `pids.max`). An OOM kill shows in `memory.oom_control` (`oom_kill N`) or `memory.failcnt`.
- **v2** (`/sys/fs/cgroup/cgroup.controllers` exists): one leaf with `memory.max`,
  `memory.swap.max`, `pids.max`; `cgroup.kill` kills it in one write; OOM kills show in
  `memory.events`. Controllers must be enabled in the parent's `cgroup.subtree_control`, which
  v2 forbids on a cgroup that holds processes, so the leaves live under a `rewardkit-sandbox`
  child of the cgroup root when the caller's own cgroup is not usable.

RLIMIT_NPROC is no substitute for `pids.max`: Linux ignores it for root and counts it per user
across all sandboxes (RELIABILITY §1.2). Leaves are named `rk-<owner pid>-<n>`; `sweep_stale`
removes those whose owner died (a worker killed at its deadline cannot clean up after itself).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
GROUP_DIR = "rewardkit-sandbox"
V1_CONTROLLERS = ("memory", "pids")
_counter = itertools.count()


class CgroupUnavailable(RuntimeError):
    """No writable cgroup hierarchy with the memory and pids controllers."""


@dataclass(frozen=True)
class Hierarchy:
    """Where run cgroups are created: `version` 1 or 2 and one base directory per controller
    (v2: a single base under the key "unified")."""

    version: int
    bases: dict[str, Path]


def _own_path(controller: str, proc_cgroup: str) -> str:
    """The caller's cgroup path for a v1 `controller` ("" for v2), from /proc/self/cgroup."""
    for line in proc_cgroup.splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(",") or (not controller and names == ""):
            return path
    return "/"


def detect(root: Path = ROOT, proc_cgroup: str | None = None) -> Hierarchy:
    """The hierarchy to use, with base directories created; CgroupUnavailable says why not."""
    if proc_cgroup is None:
        proc_cgroup = Path("/proc/self/cgroup").read_text()
    if (root / "cgroup.controllers").exists():
        return Hierarchy(2, {"unified": _v2_base(root, _own_path("", proc_cgroup))})
    bases = {}
    for controller in V1_CONTROLLERS:
        mount = root / controller
        if not (mount / "cgroup.procs").exists():
            raise CgroupUnavailable(f"cgroup v1 controller {controller!r} not mounted at {mount}")
        base = mount / _own_path(controller, proc_cgroup).lstrip("/") / GROUP_DIR
        try:
            base.mkdir(exist_ok=True)
        except OSError as e:
            raise CgroupUnavailable(f"cannot create {base}: {e.strerror} (run as root)") from None
        bases[controller] = base
    return Hierarchy(1, bases)


def _v2_base(root: Path, own: str) -> Path:
    needed = {"memory", "pids"}
    available = set((root / "cgroup.controllers").read_text().split())
    if not needed <= available:
        raise CgroupUnavailable(f"cgroup v2 lacks controllers {sorted(needed - available)}")
    for parent in (root / own.lstrip("/"), root):
        base = parent / GROUP_DIR
        try:
            if parent != root:  # enabling controllers below a cgroup with processes fails
                (parent / "cgroup.subtree_control").write_text("+memory +pids")
            base.mkdir(exist_ok=True)
            (base / "cgroup.subtree_control").write_text("+memory +pids")
            return base
        except OSError:
            continue
    raise CgroupUnavailable(f"cannot create a delegated cgroup under {root} (run as root)")


class RunCgroup:
    """The cgroup of one run: created with its limits, joined by the run's first process (which
    writes its pid into each `procs_files` entry before exec), killed and removed at the end."""

    def __init__(self, hierarchy: Hierarchy, *, memory_bytes: int, pids: int) -> None:
        name = f"rk-{os.getpid()}-{next(_counter)}"
        self.version = hierarchy.version
        self.dirs = [base / name for base in hierarchy.bases.values()]
        created: list[Path] = []
        try:
            for d in self.dirs:
                d.mkdir()
                created.append(d)
            self._set_limits(memory_bytes, pids)
        except OSError as e:
            for d in created:
                _rmdir(d)
            raise CgroupUnavailable(f"cannot set up cgroup {name}: {e}") from None

    def _set_limits(self, memory_bytes: int, pids: int) -> None:
        if self.version == 2:
            (d,) = self.dirs
            _write(d / "memory.max", memory_bytes)
            _write(d / "memory.swap.max", 0, optional=True)
            _write(d / "pids.max", pids)
            return
        memory, pids_dir = self.dirs
        _write(memory / "memory.limit_in_bytes", memory_bytes)
        _write(memory / "memory.memsw.limit_in_bytes", memory_bytes, optional=True)
        _write(pids_dir / "pids.max", pids)

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> set[int]:
        return {pid for d in self.dirs for pid in _read_procs(d)}

    def oom_killed(self) -> bool:
        """Whether the kernel killed or refused memory to a process of this run."""
        memory = self.dirs[0]
        try:
            if self.version == 2:
                events = dict(line.split() for line in (memory / "memory.events").read_text()
                              .splitlines())
                return int(events.get("oom_kill", 0)) > 0 or int(events.get("max", 0)) > 0
            control = dict(line.split() for line in (memory / "memory.oom_control").read_text()
                           .splitlines())
            failcnt = int((memory / "memory.failcnt").read_text())
            return int(control.get("oom_kill", 0)) > 0 or failcnt > 0
        except (OSError, ValueError):
            return False

    def kill_all(self, settle_s: float = 2.0) -> bool:
        """SIGKILL every process in the run's cgroup until it is empty; True when it is."""
        if self.version == 2:
            _write(self.dirs[0] / "cgroup.kill", 1, optional=True)
        deadline = time.monotonic() + settle_s
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            for pid in pids:  # a fork bomb cannot outrun this: pids.max caps what it can make
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)

    def remove(self) -> bool:
        """Kill what is left and remove the cgroup directories; True when all are gone."""
        emptied = self.kill_all()
        removed = all(_rmdir(d) for d in self.dirs)
        return emptied and removed


def _write(path: Path, value: int, *, optional: bool = False) -> None:
    try:
        path.write_text(str(value))
    except OSError:
        if not optional:
            raise


def _rmdir(d: Path) -> bool:
    for _ in range(50):  # the kernel frees a cgroup shortly after its last process is reaped
        try:
            d.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.01)
    return False


def alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(hierarchy: Hierarchy) -> int:
    """Kill and remove leaves left by processes that died mid-run; the number removed."""
    removed = 0
    for base in hierarchy.bases.values():
        for leaf in base.glob("rk-*-*"):
            owner = leaf.name.split("-")[1]
            if owner.isdigit() and not alive(int(owner)):
                for pid in _read_procs(leaf):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                removed += _rmdir(leaf)
    return removed


def _read_procs(leaf: Path) -> list[int]:
    try:
        return [int(p) for p in (leaf / "cgroup.procs").read_text().split()]
    except OSError:
        return []
