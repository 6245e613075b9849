"""The OpenMP wait-policy probe: PASSIVE only when other work keeps the CPU busy."""

from __future__ import annotations

import pytest

from rewardkit import openmp


def test_busy_cores_from_two_samples():
    # 2 CPUs, 40 jiffies elapsed in all, 10 of them idle: 1.5 cores' worth of work ran
    assert openmp.busy_cores((100.0, 200.0), (110.0, 240.0), ncpu=2) == pytest.approx(1.5)
    assert openmp.busy_cores((5.0, 10.0), (5.0, 10.0), ncpu=2) == 0.0  # no time elapsed


@pytest.fixture
def samples(monkeypatch):
    """Feed choose_wait_policy two /proc/stat samples without sleeping."""
    monkeypatch.setattr(openmp, "PROBE_SECONDS", 0.0)
    monkeypatch.setattr(openmp.os, "cpu_count", lambda: 2)

    def feed(*values):
        it = iter(values)
        monkeypatch.setattr(openmp, "cpu_times", lambda: next(it))

    return feed


def test_busy_machine_gets_passive(samples):
    samples((0.0, 0.0), (10.0, 40.0))  # 1.5 of 2 cores busy
    env: dict = {}
    assert openmp.choose_wait_policy(env) == "PASSIVE"
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}


def test_idle_machine_keeps_the_default(samples):
    samples((0.0, 0.0), (36.0, 40.0))  # 0.2 cores busy: at most BUSY_CORES
    env: dict = {}
    assert openmp.choose_wait_policy(env) is None and env == {}


@pytest.mark.parametrize("key", ["OMP_WAIT_POLICY", "GOMP_SPINCOUNT"])
def test_the_users_setting_wins(samples, key):
    samples((0.0, 0.0), (0.0, 40.0))  # fully busy, but the user chose
    env = {key: "ACTIVE" if key == "OMP_WAIT_POLICY" else "1000"}
    assert openmp.choose_wait_policy(env) is None
    assert "OMP_WAIT_POLICY" not in env or env["OMP_WAIT_POLICY"] == "ACTIVE"


def test_no_proc_stat_leaves_the_environment_alone(samples):
    samples(None)
    env: dict = {}
    assert openmp.choose_wait_policy(env) is None and env == {}


def test_cpu_times_reads_proc_stat():
    times = openmp.cpu_times()
    if times is None:
        pytest.skip("no /proc/stat on this system")
    idle, total = times
    assert 0 <= idle <= total
