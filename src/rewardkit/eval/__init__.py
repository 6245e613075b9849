"""Evaluation: sample, verify with the training verifier, summarise, compare runs.

    from rewardkit.eval import evaluate, write_eval
    samples, summary = evaluate(sampler, task, problems, n=4, max_new_tokens=512,
                                temperature=0.6, seed=0)
    write_eval("runs/eval/my-model", samples, summary)

`rewardkit.eval.report` (matplotlib, imported on use) draws the Pareto plot and the HTML report.
"""

from rewardkit.eval.harness import evaluate, write_eval
from rewardkit.eval.metrics import maj_at_k, pass_at_k, summarize

__all__ = ["evaluate", "maj_at_k", "pass_at_k", "summarize", "write_eval"]
