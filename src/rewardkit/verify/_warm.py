"""Imported by the workers' forkserver only (its preload), never by the caller.

- Imports math-verify and runs one parse and verify, so every worker forked from the forkserver
  starts with grammar and sympy caches warm (a cold worker's first check costs 0.15-0.25 s).
- Exits the forkserver when the process that started it dies, even by SIGKILL. Without this a
  worker that hangs in a check keeps the forkserver alive (every worker holds the forkserver's
  "alive" pipe), so the worker's own parent-death signal never fires and it spins forever.
  A thread polls the parent pid: the forkserver is idle in `select`, so the thread always runs.
"""

import logging
import os
import threading
import time

from math_verify import parse, verify

logging.getLogger("math_verify").setLevel(logging.ERROR)  # its timeouts are off on purpose
verify(parse("\\boxed{\\frac{1}{2}+x^2}", parsing_timeout=None),
       parse("\\boxed{0.5+x^{2}}", parsing_timeout=None), timeout_seconds=None)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)  # the workers, its children, then get SIGKILL (PR_SET_PDEATHSIG)


threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
