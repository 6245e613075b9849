"""The verification service: training, eval, `rewardkit score`/`serve` and the engine adapters
get their verdicts from `verify_groups` (a few single checks call `Task.check` directly: the SFT
warm start's accuracy, eval's answer voting).

See `service.verify_groups` for the contract (statuses, deadlines, threads, asyncio), `pool.py`
for the worker pool and why it is pebble's, `stats.py` for the per-step status shares.
"""

from rewardkit.verify.service import (
    CACHE,
    averify_groups,
    configure,
    shutdown,
    start_workers,
    verify_groups,
)
from rewardkit.verify.stats import failed_fraction, status_fractions, warn_if_failing

__all__ = ["CACHE", "averify_groups", "configure", "failed_fraction", "shutdown",
           "start_workers", "status_fractions", "verify_groups", "warn_if_failing"]
