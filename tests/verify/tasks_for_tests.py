"""Tasks that misbehave on purpose, importable by worker processes (not defined in __main__)."""

from __future__ import annotations

import os
import signal
import time

from rewardkit.tasks.base import Defer, Task


class ScriptedTask(Task):
    """Every reply is deferred to a worker, which acts out the reply text:
    "hang" spins forever, "die" kills its own process, "hog" allocates 64 GiB, "sleep:S"
    sleeps S seconds; any other text is correct when it equals the gold."""

    name = "scripted"

    def triage(self, gold, text):
        return text, Defer(text)

    def decide(self, gold_answer, key):
        if key == "hang":
            while True:
                pass
        if key == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if key == "hog":
            bytearray(64 * 2**30)
        if key.startswith("sleep:"):
            time.sleep(float(key[6:]))
            return True, "ok"
        return key == gold_answer, "ok"
