"""The sandbox refuses clearly without its parts, marks the weak mode, and handles cgroup v1
and v2 trees (v2 against a fake tree: this machine runs v1)."""

from __future__ import annotations

import os

import pytest

from rewardkit.errors import UserError
from rewardkit.sandbox import Limits, Sandbox, SandboxUnavailable, cgroups, runner


def test_refuses_without_bubblewrap(monkeypatch):
    monkeypatch.setattr(runner, "_backend", None)
    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap.*isolation='weak'"):
        Sandbox()


def test_refuses_without_cgroups(monkeypatch):
    monkeypatch.setattr(runner, "_backend", None)
    monkeypatch.setattr(runner.shutil, "which", lambda name: "/usr/bin/bwrap")

    def no_cgroups():
        raise cgroups.CgroupUnavailable("cannot create /sys/fs/cgroup/x: Permission denied")

    monkeypatch.setattr(cgroups, "detect", no_cgroups)
    with pytest.raises(SandboxUnavailable, match="no usable cgroups.*Permission denied"):
        Sandbox()


def test_weak_mode_is_marked_in_every_status():
    sb = Sandbox(Limits(wall_s=2.0), isolation="weak")
    ok = sb.run_python("print(input())", stdin="hi\n")
    assert (ok.status, ok.base_status, ok.stdout) == ("ok:weak", "ok", "hi\n")
    assert sb.run_python("while True: pass", limits=Limits(wall_s=0.3)).status == "timeout:weak"
    assert sb.run_python("import sys; sys.exit(3)").status == "runtime_error:weak"


@pytest.mark.parametrize("bad", [{"wall_s": 0}, {"memory_mb": -1}, {"pids": float("nan")},
                                 {"cpu_s": 1.5}])
def test_bad_limits_are_user_errors(bad):
    with pytest.raises(UserError, match=next(iter(bad))):
        Limits(**bad)


def test_bad_isolation_is_a_user_error():
    with pytest.raises(UserError, match="isolation"):
        Sandbox(isolation="none")


def _fake_v1(root):
    for c in ("memory", "pids"):
        (root / c / "me").mkdir(parents=True)
        (root / c / "cgroup.procs").write_text("")
    return "4:memory:/me\n8:pids:/me\n0::/\n"


def test_v1_tree_gets_memory_and_pids_limits(tmp_path):
    hierarchy = cgroups.detect(tmp_path, _fake_v1(tmp_path))
    assert hierarchy.version == 1
    cg = cgroups.RunCgroup(hierarchy, memory_bytes=128 * 2**20, pids=16)
    memory, pids = cg.dirs
    assert memory.parent == tmp_path / "memory" / "me" / "rewardkit-sandbox"
    assert (memory / "memory.limit_in_bytes").read_text() == str(128 * 2**20)  # 134217728
    assert (pids / "pids.max").read_text() == "16"
    assert cg.procs_files == [str(memory / "cgroup.procs"), str(pids / "cgroup.procs")]


def test_v2_tree_gets_one_leaf_with_limits(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids")
    (tmp_path / "user.slice").mkdir()
    hierarchy = cgroups.detect(tmp_path, "0::/user.slice\n")
    assert hierarchy.version == 2
    assert (hierarchy.bases["unified"] / "cgroup.subtree_control").read_text() == "+memory +pids"
    cg = cgroups.RunCgroup(hierarchy, memory_bytes=2**20, pids=8)
    (leaf,) = cg.dirs
    assert (leaf / "memory.max").read_text() == "1048576"
    assert (leaf / "memory.swap.max").read_text() == "0"
    assert (leaf / "pids.max").read_text() == "8"


def test_v2_without_pids_controller_is_refused(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory")
    with pytest.raises(cgroups.CgroupUnavailable, match="pids"):
        cgroups.detect(tmp_path, "0::/\n")


def test_sweep_removes_leaves_of_dead_owners(tmp_path):
    hierarchy = cgroups.detect(tmp_path, _fake_v1(tmp_path))
    dead = 2**22 + 7  # above the largest pid_max Linux allows (2**22): no process has it
    for base in hierarchy.bases.values():
        (base / f"rk-{dead}-0").mkdir()
        (base / f"rk-{os.getpid()}-0").mkdir()
    assert cgroups.sweep_stale(hierarchy) == 2
    for base in hierarchy.bases.values():
        assert sorted(p.name for p in base.iterdir()) == [f"rk-{os.getpid()}-0"]


def test_run_many_runs_in_parallel_and_keeps_order(sandbox):
    import time

    jobs = [{"source": f"import time\ntime.sleep(1.0)\nprint({i})"} for i in range(4)]
    start = time.monotonic()
    results = sandbox.run_many(jobs, workers=4)
    elapsed = time.monotonic() - start
    assert [r.stdout for r in results] == ["0\n", "1\n", "2\n", "3\n"]
    assert elapsed < 3.0  # one after another would take at least 4 s
