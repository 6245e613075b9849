"""One line naming the machine a benchmark ran on: the project's VM has run on different CPUs,
and a ratio to a peer depends on which (BENCHMARKS.md)."""

from __future__ import annotations

import os
import platform


def describe() -> str:
    """CPU model, usable CPUs, native bf16 support and Python, e.g. "Intel(R) Xeon(R) Processor
    (2 CPUs; AVX512-BF16, AMX-BF16), python 3.11.7"."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:  # not Linux
        pass
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    bf16 = [name for flag, name in (("avx512_bf16", "AVX512-BF16"), ("amx_bf16", "AMX-BF16"))
            if flag in flags]
    return (f"{model} ({cpus} CPUs{'; ' + ', '.join(bf16) if bf16 else ''}), "
            f"python {platform.python_version()}")
