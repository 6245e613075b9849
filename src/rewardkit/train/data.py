"""Where a step's prompts come from: a seeded, endless, resumable walk over the task's problems.

Epoch e visits the problems in the order `permutation(seed, e)`; the whole position is one integer
(`consumed`), saved in checkpoints, so a resumed run takes exactly the prompts the uninterrupted
run would have taken, none skipped or repeated (NeMo-RL #3599, open-instruct #1523).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rewardkit.errors import UserError
from rewardkit.tasks.base import Task
from rewardkit.types import Problem

GENERATED_PROBLEMS = 10_000
"""how many problems to ask of a generator task (`task.problems(split, n, seed)`); fixed, so that
the problem list, and with it the data cursor, does not depend on `steps`"""


def seed_for(*parts: int) -> int:
    """A 32-bit seed mixed from integers, e.g. (cfg.seed, step, round, rank): independent streams.

    >>> seed_for(0, 1) == seed_for(0, 1) != seed_for(1, 0)
    True
    """
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def load_problems(task: Task, *, data: str | None, split: str, seed: int, n: int | None = None
                  ) -> list[Problem]:
    """Problems from `data` (JSONL) if given, else from a generator task (`arith`)."""
    if data:
        problems = task.load(data, limit=n)
    elif hasattr(task, "problems"):
        problems = list(task.problems(split, n or GENERATED_PROBLEMS, seed))
    else:
        raise UserError(f"task {task.name!r} needs a data file: set `data: path/to/{split}.jsonl`")
    if not problems:
        raise UserError(f"task {task.name!r} gave no {split} problems", where=data)
    return problems


class ProblemStream:
    """Endless, seeded and resumable: `take(n)` returns the next n problems across epochs.

    >>> s = ProblemStream(["a", "b", "c"], seed=0)
    >>> first = s.take(2) + s.take(2)      # crosses into the second epoch
    >>> r = ProblemStream(["a", "b", "c"], seed=0, consumed=2)
    >>> first[2:] == r.take(2), s.consumed
    (True, 4)
    """

    def __init__(self, problems: Sequence[Problem], *, seed: int, consumed: int = 0) -> None:
        self.problems = list(problems)
        self.seed = seed
        self.consumed = consumed
        self._orders: dict[int, np.ndarray] = {}

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            rng = np.random.default_rng(seed_for(self.seed, epoch))
            self._orders = {epoch: rng.permutation(len(self.problems))}  # one epoch cached
        return self._orders[epoch]

    def take(self, n: int) -> list[Problem]:
        out = []
        for pos in range(self.consumed, self.consumed + n):
            epoch, i = divmod(pos, len(self.problems))
            out.append(self.problems[int(self._order(epoch)[i])])
        self.consumed += n
        return out
