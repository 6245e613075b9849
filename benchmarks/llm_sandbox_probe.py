"""Probe `llm-sandbox` (PyPI) with rewardkit's attack corpus before deciding whether to use it.

    pip install --target /tmp/llmsb llm-sandbox   # not a rewardkit dependency
    sudo PYTHONPATH=/tmp/llmsb:src python benchmarks/llm_sandbox_probe.py

Runs every program of tests/sandbox/test_containment.py through llm-sandbox's bubblewrap backend
(one session per program, 2 s timeout, RLIMIT_AS 256 MB, CPU 2 s, 64 files, 64 KB output), then
two bounded probes of what a fork bomb or a multi-process memory bomb would do (200 processes;
4 processes of 200 MB each), the sandboxed uid and capabilities, and print(1) overhead, next to
rewardkit's own sandbox. The unbounded fork bomb is left out: with no process cap it would fill
the shared machine's process table. Results: BENCHMARKS.md, "Code sandbox".
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "sandbox"), str(REPO / "src")]

from llm_sandbox import SandboxSession  # noqa: E402
from llm_sandbox.local.config import LocalSandboxConfig  # noqa: E402
from test_containment import PROGRAMS  # noqa: E402

from rewardkit.sandbox import Limits, Sandbox  # noqa: E402

BOUNDED = {
    "200_processes": "import os, time\npids = []\nfor _ in range(200):\n    pid = os.fork()\n"
                     "    if pid == 0:\n        time.sleep(1)\n        os._exit(0)\n"
                     "    pids.append(pid)\nprint('forked', len(pids))\nfor p in pids:\n"
                     "    os.waitpid(p, 0)",
    "4x200MB_processes": "import os, time\nfor _ in range(4):\n    if os.fork() == 0:\n"
                         "        b = bytearray(200 * 2**20)\n        time.sleep(1)\n"
                         "        os._exit(0)\ntime.sleep(0.5)\nprint('held 800 MB')\n"
                         "for _ in range(4):\n    os.wait()",
    "uid_caps": "import os\nprint(os.getuid(), [l.split()[1] for l in open('/proc/self/status') "
                "if l.startswith('CapEff')])",
}
CONFIG = LocalSandboxConfig(memory_limit_bytes=256 * 2**20, cpu_time_limit=2,
                            file_size_limit=16 * 2**20, open_files_limit=64,
                            max_output_bytes=65536)


def llm_run(source: str) -> str:
    try:
        with SandboxSession(backend="bubblewrap", lang="python", sandbox_config=CONFIG,
                            default_timeout=2, skip_environment_setup=True) as s:
            r = s.run(source, timeout=2)
        return f"exit {r.exit_code}: {(r.stdout or '').strip()[:60]}"
    except Exception as e:  # its timeouts and output caps are exceptions
        return f"{type(e).__name__}"


def main() -> None:
    d = tempfile.mkdtemp()
    os.chmod(d, 0o755)
    canary, secret = Path(d, "canary.txt"), Path(d, "secret.txt")
    canary.write_text("precious")
    secret.write_text("file-secret-c0ffee42")
    os.environ["RK_SANDBOX_TEST_SECRET"] = "env-secret-7f3a91"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.05)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    fill = {"canary": str(canary), "secret": str(secret), "port": server.getsockname()[1],
            "udp_port": udp.getsockname()[1], "home": os.path.expanduser("~")}
    report: dict = {"corpus": {}}
    for name, (src, _) in PROGRAMS.items():
        if name != "fork_bomb":
            out = llm_run(src.format(**fill))
            report["corpus"][name] = out
    try:
        server.accept()
        connections = 1
    except OSError:
        connections = 0
    report["host"] = {"canary_intact": canary.read_text() == "precious",
                      "connections": connections,
                      "escaped": [k for k, v in report["corpus"].items() if "ESCAPED" in v
                                  or "secret" in v]}
    ours = Sandbox(Limits(wall_s=3, memory_mb=256, pids=32))
    report["bounded"] = {name: {"llm-sandbox": llm_run(src), "rewardkit": ours.run_python(src)
                                .status} for name, src in BOUNDED.items()}
    for label, run in (("llm-sandbox", llm_run), ("rewardkit", ours.run_python)):
        times = []
        for _ in range(15):
            start = time.perf_counter()
            run("print(1)")
            times.append(time.perf_counter() - start)
        report[f"{label} print(1) p50 ms"] = round(1000 * statistics.median(times), 1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
