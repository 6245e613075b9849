"""Imported by the workers' forkserver only (its preload), never by the caller.

- Imports math-verify and runs one trivial parse and verify (0.04 s), so every worker forked
  from the forkserver, a replacement after a timeout too, starts with the parser's and sympy's
  base caches built: a first check in a fresh worker then took 0.04-0.11 s instead of
  0.08-0.16 s (measured on four MATH-500 golds). A richer warm-up (a symbolic `x^2` check,
  0.13 s) saved little more per worker and cost every one-shot `rewardkit score` run 0.06 s,
  since the forkserver's start is on its critical path.
- Exits the forkserver when the process that started it dies, even by SIGKILL. Without this a
  worker that hangs in a check keeps the forkserver alive (every worker holds the forkserver's
  "alive" pipe), so the worker's own parent-death signal never fires and it spins forever.
  A thread polls the parent pid: the forkserver is idle in `select`, so the thread always runs.
- Skips the forkserver's interpreter teardown when it exits normally (its caller and every
  worker gone): with sympy loaded that takes about 0.1 s, and the forkserver holds the caller's
  stdout and stderr until it ends, so a pipe reading them (a shell, `subprocess.run`) waited.
  Forked workers do not run atexit handlers (they leave through `os._exit`), so only the
  forkserver does.
"""

import atexit
import logging
import os
import threading
import time

from math_verify import parse, verify

logging.getLogger("math_verify").setLevel(logging.ERROR)  # its timeouts are off on purpose
verify(parse("\\boxed{1}", parsing_timeout=None), parse("\\boxed{2}", parsing_timeout=None),
       timeout_seconds=None)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)  # the workers, its children, then get SIGKILL (PR_SET_PDEATHSIG)


atexit.register(os._exit, 0)
threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
