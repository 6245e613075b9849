"""Counted, not hidden: the share of each verification status, and a loud warning when too many
verdicts could not be judged."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

from rewardkit.types import VERIFY_STATUSES, Group

log = logging.getLogger("rewardkit.verify")

DEFAULT_MAX_FAILED_FRAC = 0.05


def status_fractions(groups: Iterable[Group]) -> dict[str, float]:
    """`verify/<status>_frac` for every known status (0.0 when absent), over all completions.

    >>> from rewardkit.types import Completion, Problem
    >>> g = Group(Problem("p", "q", "1"), [Completion("a", 1)] * 4, 8,
    ...           [True, None, False, None], ["ok", "timeout", "ok", "error"])
    >>> f = status_fractions([g]); f["verify/ok_frac"], f["verify/timeout_frac"]
    (0.5, 0.25)
    """
    counts = Counter(s for g in groups for s in g.status)
    total = sum(counts.values())
    names = list(VERIFY_STATUSES) + sorted(set(counts) - set(VERIFY_STATUSES))
    return {f"verify/{s}_frac": (counts[s] / total if total else 0.0) for s in names}


def failed_fraction(fractions: dict[str, float]) -> float:
    """The share of verdicts that are not "ok" (could not be judged)."""
    return sum(v for k, v in fractions.items() if k != "verify/ok_frac")


def warn_if_failing(fractions: dict[str, float], *, max_failed_frac: float =
                    DEFAULT_MAX_FAILED_FRAC, where: str = "this step") -> bool:
    """Log a warning naming the share when more than `max_failed_frac` could not be judged;
    True if it warned."""
    failed = failed_fraction(fractions)
    if failed <= max_failed_frac:
        return False
    parts = ", ".join(f"{k.split('/')[1][:-5]} {v:.1%}" for k, v in fractions.items()
                      if v and k != "verify/ok_frac")
    log.warning("VERIFICATION FAILING: %.1f%% of verdicts in %s could not be judged (%s; limit "
                "%.1f%%): rewards treat them as missing, not wrong", 100 * failed, where, parts,
                100 * max_failed_frac)
    return True
