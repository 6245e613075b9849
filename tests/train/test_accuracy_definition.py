"""One definition of `accuracy` in training and eval (issue 11 #17, review B17).

`accuracy` counts an unjudged completion (verdict None) as not correct, as `rewardkit eval`
does; `accuracy_judged` leaves it out.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rewardkit.eval.metrics import summarize
from rewardkit.tasks.base import Task
from rewardkit.testing import make_group
from rewardkit.train.loop import evaluate as loop_evaluate
from rewardkit.train.metrics import rollout_metrics
from rewardkit.types import Completion, Problem

CORRECT = [True, False, None, True]  # 2 correct of 4; 2 of the 3 judged


def test_training_metrics_count_unjudged_as_not_correct():
    g = make_group(lengths=[5, 5, 5, 5], correct=CORRECT)
    m = rollout_metrics([g], [np.zeros((4, 1))], ["accuracy"], np.array([1.0]))
    assert m["accuracy"] == 0.5  # 2 / 4 (the old training number was 2 / 3)
    assert m["accuracy_judged"] == pytest.approx(2 / 3)
    assert m["unjudged_frac"] == 0.25


def test_eval_summary_has_the_same_two_numbers():
    rows = [dict(problem_id="p", sample=i, tokens=5, finish_reason="stop", correct=c, answer=None)
            for i, c in enumerate(CORRECT)]
    s = summarize(rows, n=4)
    assert s["accuracy"] == 0.5 and s["accuracy_judged"] == pytest.approx(2 / 3)


class _Verdicts(Task):
    """Judges the completion text itself: "yes" -> True, "no" -> False, else None."""

    def check(self, gold, text):
        verdict = {"yes": True, "no": False}.get(text)
        return verdict, "ok" if verdict is not None else "error"


def test_periodic_training_eval_uses_the_same_definition():
    texts = ["yes", "no", "??", "yes"]
    problems = [Problem(id=str(i), prompt=t, answer="x", task="t") for i, t in enumerate(texts)]
    sampler = SimpleNamespace(sample=lambda prompts, params: [
        [Completion(p.split("\n")[0], 3)] for p in prompts])
    rollout = SimpleNamespace(held_out=lambda n, seed: problems, task=_Verdicts())
    cfg = SimpleNamespace(seed=0, eval_problems=4, sampling=SimpleNamespace(max_new_tokens=8))
    got = loop_evaluate(sampler, rollout, cfg, step=1)
    assert got["eval/accuracy"] == 0.5  # 2 / 4
    assert got["eval/accuracy_judged"] == pytest.approx(2 / 3)
