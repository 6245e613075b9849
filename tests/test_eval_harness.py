"""The eval harness with a scripted sampler: verdicts, rows, summary, atomic writes."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

import pytest

from rewardkit.errors import UserError
from rewardkit.eval import evaluate, write_eval
from rewardkit.eval.harness import read_eval
from rewardkit.rewards.combine import RewardSpec
from rewardkit.sampling.base import SamplingParams
from rewardkit.tasks import get_task
from rewardkit.types import Completion, Problem


class ScriptedSampler:
    """Returns fixed completions per problem text (the prompt starts with it); records calls."""

    def __init__(self, script: dict[str, list[Completion]]) -> None:
        self.script = script
        self.calls: list[tuple[list[str], SamplingParams]] = []

    def sample(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        self.calls.append((list(prompts), params))
        out = []
        for prompt in prompts:
            key = next(k for k in self.script if prompt.startswith(k))
            out.append(self.script[key][: params.n])
        return out


def C(text: str, tokens: int, finish: str = "stop") -> Completion:
    return Completion(text=text, num_tokens=tokens, finish_reason=finish)


PROBLEMS = [
    Problem(id="p1", prompt="What is 2+3?", answer="5", task="gsm8k", meta={"difficulty": 1}),
    Problem(id="p2", prompt="What is 6*7?", answer="42", task="gsm8k", meta={"difficulty": 2}),
]
SCRIPT = {
    "What is 2+3?": [
        C("<think>2+3=5</think> \\boxed{5}", 10),
        C("<think>2+3=6</think> \\boxed{6}", 30),
    ],
    "What is 6*7?": [
        C("<think>6*7 is 42</think> The answer is \\boxed{42}", 20),
        C("<think>6*7 = 6*(5+2) = 30 + 1", 64, "length"),  # cut off mid-thought
    ],
}


def run_eval(**kw):
    sampler = ScriptedSampler(SCRIPT)
    args = dict(n=2, max_new_tokens=64, temperature=0.7, seed=3, model="m", data="d")
    samples, summary = evaluate(sampler, get_task("gsm8k"), PROBLEMS, **(args | kw))
    return sampler, samples, summary


def test_prompts_and_params_come_from_task_and_arguments():
    sampler, _, _ = run_eval()
    (prompts, params), = sampler.calls
    assert prompts == [get_task("gsm8k").prompt(p) for p in PROBLEMS]
    assert (params.n, params.max_new_tokens, params.temperature, params.seed) == (2, 64, 0.7, 3)


def test_rows_carry_verdicts_from_the_training_verifier():
    _, samples, _ = run_eval()
    assert [(s["problem_id"], s["sample"]) for s in samples] == [
        ("p1", 0), ("p1", 1), ("p2", 0), ("p2", 1)]
    assert [s["correct"] for s in samples] == [True, False, True, False]
    # gsm8k falls back to the last number when there is no \boxed{}: "1" for the cut-off reply
    assert [s["answer"] for s in samples] == ["5", "6", "42", "1"]
    truncated = samples[3]
    assert truncated["finish_reason"] == "length" and truncated["tokens"] == 64
    assert {s["difficulty"] for s in samples} == {1, 2}
    assert samples[0]["gold"] == "5" and samples[0]["status"] == "ok"
    assert samples[0]["prompt"].startswith("What is 2+3?")


def test_summary_numbers():
    _, _, s = run_eval(budgets=[16, 64])
    assert s["accuracy"] == 0.5  # 2 of 4
    assert s["pass@1"] == 0.5 and s["pass@2"] == 1.0  # each problem has one correct of two
    assert s["maj@1"] == 1.0  # first sample of each problem is correct
    assert s["maj@2"] == 1.0  # 1-1 ties, won by the first (correct) answer
    assert s["mean_tokens"] == 31.0  # (10 + 30 + 20 + 64) / 4
    assert s["mean_tokens_correct"] == 15.0 and s["mean_tokens_wrong"] == 47.0
    assert s["truncated_frac"] == 0.25
    assert s["accuracy_per_1k_tokens"] == pytest.approx(0.5 / 0.031)
    assert s["budgets"] == {"16": 0.25, "64": 0.5}
    assert [r["difficulty"] for r in s["by_difficulty"]] == [1, 2]
    assert {k: s[k] for k in ("model", "data", "n", "max_new_tokens", "temperature",
                              "num_problems")} == {
        "model": "m", "data": "d", "n": 2, "max_new_tokens": 64, "temperature": 0.7,
        "num_problems": 2}
    assert s["seconds"] >= 0


def test_default_budgets_and_batching():
    sampler, _, s = run_eval(batch_size=1)
    assert list(s["budgets"]) == ["8", "16", "32", "64"]
    assert [len(p) for p, _ in sampler.calls] == [1, 1]
    assert [params.seed for _, params in sampler.calls] == [3, 4]  # seed + chunk index


def test_per_reward_scores():
    _, samples, s = run_eval(rewards=[RewardSpec("accuracy"), RewardSpec("format", weight=0.5)])
    assert samples[0]["rewards"] == {"accuracy": 1.0, "format": 1.0}
    assert samples[0]["reward"] == 1.5  # 1 + 0.5 * 1
    assert samples[3]["rewards"] == {"accuracy": 0.0, "format": 0.0}  # no closed </think>
    assert s["rewards"]["accuracy"] == 0.5


def nan_reward(group, *, ctx=None) -> list[float]:
    return [math.nan] * len(group)


def test_reward_total_is_nan_where_a_primary_reward_is_nan():
    # The row's `reward` is the trainer's total (RewardScorer.total): a NaN in a primary reward
    # makes it null, a NaN in any other reward is left out of the sum.
    specs = [RewardSpec("accuracy"), RewardSpec("format", weight=0.5),
             RewardSpec(f"{__name__}.nan_reward", primary=True)]
    _, samples, _ = run_eval(rewards=specs)
    assert samples[0]["reward"] is None
    _, samples, _ = run_eval(rewards=[*specs[:2], RewardSpec(specs[2].name, primary=False)])
    assert samples[0]["reward"] == 1.5


def test_wrong_number_of_completions_is_an_error():
    sampler = ScriptedSampler(SCRIPT)
    with pytest.raises(RuntimeError, match="expected 3"):
        evaluate(sampler, get_task("gsm8k"), PROBLEMS, n=3, max_new_tokens=64, temperature=1.0,
                 seed=0)


def test_write_eval_roundtrip_nan_as_null(tmp_path):
    samples, summary = run_eval()[1:]
    summary["mean_tokens_correct"] = math.nan  # as when nothing is correct
    write_eval(tmp_path / "out", samples, summary)
    assert sorted(os.listdir(tmp_path / "out")) == ["samples.jsonl", "summary.json"]
    text = (tmp_path / "out" / "summary.json").read_text()
    assert "NaN" not in text and json.loads(text)["mean_tokens_correct"] is None
    back_samples, back_summary = read_eval(tmp_path / "out")
    assert back_samples == samples
    assert back_summary["pass@2"] == 1.0
    (tmp_path / "out" / "samples.jsonl").unlink()  # samples may be absent
    assert read_eval(tmp_path / "out")[0] == []
    (tmp_path / "out" / "samples.jsonl").write_text('{"a": 1}\n\n{bad\n')
    with pytest.raises(UserError, match=r"samples\.jsonl:3: invalid JSON"):
        read_eval(tmp_path / "out")


def test_write_eval_is_atomic(tmp_path, monkeypatch):
    samples, summary = run_eval()[1:]
    out = tmp_path / "out"
    write_eval(out, samples, summary)
    before = (out / "summary.json").read_text()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_eval(out, samples[:1], {"accuracy": 0.0})
    assert (out / "summary.json").read_text() == before  # old file intact
    assert sorted(os.listdir(out)) == ["samples.jsonl", "summary.json"]  # no temp files left


class DrawSampler:
    """Each prompt's completions come from a queue: a problem drawn twice gets its next script."""

    def __init__(self, script: dict[str, list[list[Completion]]]) -> None:
        self.script = {k: list(v) for k, v in script.items()}

    def sample(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        return [self.script[next(k for k in self.script if p.startswith(k))].pop(0)
                for p in prompts]


def test_a_problem_drawn_twice_counts_twice():
    # issue 11 #15 (B7): p1 drawn twice (0/4, then 4/4), p2 once (0/4)
    wrong, right = C("\\boxed{6}", 5), C("\\boxed{5}", 5)
    sampler = DrawSampler({"What is 2+3?": [[wrong] * 4, [right] * 4],
                           "What is 6*7?": [[C("\\boxed{41}", 5)] * 4]})
    problems = [PROBLEMS[0], PROBLEMS[0], PROBLEMS[1]]
    samples, s = evaluate(sampler, get_task("gsm8k"), problems, n=4, max_new_tokens=8,
                          temperature=1.0, seed=0)
    assert [r["group"] for r in samples] == [0] * 4 + [1] * 4 + [2] * 4
    assert [r["problem_id"] for r in samples[::4]] == ["p1", "p1", "p2"]
    # 4 correct of 12; per draw pass@k is 0, 1, 0 and maj@4 is wrong, right, wrong
    assert s["accuracy"] == pytest.approx(1 / 3)
    assert s["pass@1"] == pytest.approx(1 / 3) and s["pass@4"] == pytest.approx(1 / 3)
    assert s["maj@4"] == pytest.approx(1 / 3)
    assert s["num_problems"] == 3 and s["num_groups"] == 3


# -- maj@k votes with the task's own equivalence (issue 11 #16, review U8) ------------------------
def _math_eval(gold: str, texts: list[str]):
    problem = Problem(id="m", prompt="Compute it.", answer=gold, task="math")
    sampler = ScriptedSampler({"Compute it.": [C(t, 5) for t in texts]})
    return evaluate(sampler, get_task("math"), [problem], n=len(texts), max_new_tokens=8,
                    temperature=1.0, seed=0)


def test_maj_votes_cluster_equivalent_answers():
    # gold 3; \frac{1}{2}, \dfrac{1}{2} and 0.5 are one answer (3 votes) against "3" (2 votes).
    # Raw strings would make them three 1-vote answers and let "3" win maj@5.
    samples, s = _math_eval("3", ["\\boxed{\\frac{1}{2}}", "\\boxed{\\dfrac{1}{2}}",
                                  "\\boxed{0.5}", "\\boxed{3}", "\\boxed{3}"])
    assert [r["vote"] for r in samples] == [1, 1, 1, 0, 0]
    assert [r["correct"] for r in samples] == [False, False, False, True, True]
    assert s["maj@5"] == 0.0
    assert s["maj@4"] == 0.0  # 3 votes for 1/2 against 1 for 3


def test_correct_answers_found_only_by_fallback_extraction_vote():
    # gold 1/2; three replies without \boxed are judged correct by math-verify's fallback
    # extraction (answer None). They vote together (3) against "2" (1) and "7" (1).
    # Raw strings: only "2" and "7" vote, a 1-1 tie won by "2": wrong.
    samples, s = _math_eval("\\frac{1}{2}", ["The answer is $\\frac{1}{2}$", "so $0.5$",
                                             "\\boxed{2}", "\\boxed{7}", "it is $\\frac{2}{4}$"])
    assert [r["answer"] for r in samples] == [None, None, "2", "7", None]
    assert [r["vote"] for r in samples] == [0, 0, 1, 2, 0]
    assert s["maj@5"] == 1.0
    assert s["maj@4"] == 1.0  # 2 correct against 1 + 1
