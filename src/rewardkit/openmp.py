"""Choose OpenMP's wait policy for this process, before torch starts its thread pool.

torch's CPU kernels run on OpenMP threads. Between parallel regions libgomp's default lets a
waiting thread spin (~300k iterations) before it sleeps. On an idle machine that is what makes
small kernels fast: measured here (2 cores, the trainer benchmark's tiny model, bf16) a training
step took 0.69 s with spinning threads and 1.31 s with OMP_WAIT_POLICY=PASSIVE. On a machine
another job already keeps busy it is pathological: spinning threads wait for a sibling that the
scheduler has parked, and two such trainings on 2 cores took 51 s each instead of 10 s.

So rewardkit looks before it leaps: it samples /proc/stat for a tenth of a second and keeps the
default (spinning) only when the cores torch will use are free; otherwise it sets PASSIVE.
An OMP_WAIT_POLICY or GOMP_SPINCOUNT already in the environment always wins.
"""

from __future__ import annotations

import os
import time

PROBE_SECONDS = 0.1
BUSY_CORES = 0.5
"""other work above this many cores' worth counts as a busy machine"""


def cpu_times() -> tuple[float, float] | None:
    """(idle, total) jiffies summed over all CPUs, from /proc/stat; None where unavailable."""
    try:
        with open("/proc/stat") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    return fields[3] + fields[4], sum(fields[:8])


def busy_cores(before: tuple[float, float], after: tuple[float, float], ncpu: int) -> float:
    """How many cores' worth of work ran between two `cpu_times` samples.

    >>> busy_cores((100.0, 200.0), (120.0, 240.0), ncpu=2)  # 20 of 40 jiffies idle
    1.0
    """
    total = after[1] - before[1]
    if total <= 0:
        return 0.0
    return ncpu * (1.0 - (after[0] - before[0]) / total)


def choose_wait_policy(environ: os._Environ | dict = os.environ) -> str | None:
    """Set OMP_WAIT_POLICY=PASSIVE in `environ` when other work keeps the CPU busy.

    Returns the policy it set, or None when it left the environment alone (the user chose,
    the machine is idle, or /proc/stat cannot be read).
    """
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return None
    before = cpu_times()
    if before is None:
        return None
    time.sleep(PROBE_SECONDS)
    after = cpu_times()
    if after is None or busy_cores(before, after, os.cpu_count() or 1) <= BUSY_CORES:
        return None
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return "PASSIVE"
