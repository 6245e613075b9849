"""rewardkit rewards in TRL: the reward functions against `rewardkit score` (1 and 2 processes,
state included), and TRL's real GRPOTrainer for 2 steps on CPU (logs, resume)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("trl", reason="TRL not installed (pip install 'rewardkit[integrations]')")

import parity  # noqa: E402

from rewardkit.integrations.core import EngineScorer  # noqa: E402
from rewardkit.integrations.trl import make_reward_funcs  # noqa: E402

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
ACCELERATE = Path(sys.executable).parent / "accelerate"


def call_all(funcs, batch: list[dict], step: int) -> list[dict]:
    args = parity.trl_batch(batch)
    rows = [f(**args, trainer_state=SimpleNamespace(global_step=step)) for f in funcs]
    return [dict(zip(parity.LABELS, values)) for values in zip(*rows)]


def assert_same(got: list[list[dict]], want: list[list[dict]]) -> None:
    assert [len(s) for s in got] == [len(s) for s in want]
    for step, (g_rows, w_rows) in enumerate(zip(got, want)):
        for i, (g, w) in enumerate(zip(g_rows, w_rows)):
            for label in parity.LABELS:
                assert parity.close(g[label], w[label]), (step, i, label, g[label], w[label])


def test_reward_funcs_equal_rewardkit_score_over_three_steps(tmp_path):
    funcs = make_reward_funcs(parity.TASK, parity.REWARDS, num_generations=4,
                              max_completion_length=parity.BUDGET, eos_token_ids=[parity.EOS])
    assert [f.__name__ for f in funcs] == parity.LABELS  # TRL logs rewards/<__name__>/mean
    assert funcs.weights == [1.0, 0.4, 1.0, 1.0, 0.5]
    got = [call_all(funcs, batch, step) for step, batch in enumerate(parity.steps())]
    assert_same(got, parity.expected_from_score(tmp_path))
    # HAPO's history mattered: step 2 has nonzero HAPO terms only because of steps 0-1.
    assert any(r["hapo"] not in (0.0, None) for r in got[2])
    # The unparseable gold (p4, last group of step 2): accuracy None, TRL's "does not apply".
    assert [r["accuracy"] for r in got[2][-4:]] == [None] * 4
    # EOS exactly at the budget is not truncated; no EOS at the budget is.
    assert got[1][4 + 1]["truncation"] == 0.0 and got[1][4 + 2]["truncation"] == -1.0


def test_one_verification_per_batch_shared_by_all_functions(monkeypatch):
    calls = []
    original = EngineScorer.verify
    monkeypatch.setattr(EngineScorer, "verify",
                        lambda self, groups: calls.append(sum(map(len, groups)))
                        or original(self, groups))
    funcs = make_reward_funcs(parity.TASK, parity.REWARDS, num_generations=4,
                              max_completion_length=parity.BUDGET, eos_token_ids=[parity.EOS])
    call_all(funcs, parity.steps()[0], 0)
    assert calls == [12]  # 5 functions, 12 completions, each judged once


def test_graded_scores_reach_the_rewards():
    """A task's graded score survives the gather (extracted answers travel with it), so
    `task_score` sees what `rewardkit score` sees."""
    from rewardkit.tasks.base import Task

    class Graded(Task):
        name = "graded"

        def extract_answer(self, text):
            return text[:1]

        def check(self, gold, text):
            return text == gold, "ok", len(text) / 10

    funcs = make_reward_funcs(Graded(), ["task_score"], num_generations=2,
                              max_completion_length=8, eos_token_ids=[0])
    scored = funcs[0](prompts=["p", "p"], completions=["ab", "abcd"],
                      completion_ids=[[5, 0], [5, 0]], answer=["ab", "ab"])
    assert scored == [0.2, 0.4]


def test_missing_answer_column_names_it():
    from rewardkit.errors import UserError

    funcs = make_reward_funcs(parity.TASK, ["accuracy"], num_generations=4,
                              max_completion_length=8, answer_column="solution")
    args = parity.trl_batch(parity.steps()[0])
    with pytest.raises(UserError, match="no column 'solution'"):
        funcs[0](**args)


@pytest.mark.skipif(not ACCELERATE.exists() and not shutil.which("accelerate"),
                    reason="accelerate CLI not installed")
def test_two_processes_give_the_single_process_rewards(tmp_path):
    # 12 or 16 completions per step, 6 or 8 per rank: the second group of steps 0-1 is split
    # between the ranks, so the result is only right if whole groups are gathered.
    env = os.environ | {"PYTHONPATH": f"{SRC}{os.pathsep}{HERE}", "OMP_NUM_THREADS": "1"}
    launcher = str(ACCELERATE) if ACCELERATE.exists() else "accelerate"
    proc = subprocess.run(
        [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no",
         str(HERE / "trl_two_procs.py"), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    got = [ranks[0][s] + ranks[1][s] for s in range(len(ranks[0]))]
    assert_same(got, parity.expected_from_score(tmp_path))


# -- TRL's real GRPOTrainer -------------------------------------------------------------------

def _trainer(tmp_path: Path, funcs, *, steps: int, out: str = "out", restore: bool = False):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from rewardkit.models.tiny import build_tiny_model

    model = tmp_path / "model"
    if not model.exists():
        build_tiny_model(model, layers=1, hidden=16, heads=2, seed=0, max_position=64)
    rows = [{"prompt": f"{a}+{b}=?\n", "answer": str(a + b), "id": f"q{i}"}
            for i, (a, b) in enumerate([(1, 2), (3, 4), (2, 2), (5, 1)])]
    args = GRPOConfig(output_dir=str(tmp_path / out), per_device_train_batch_size=4,
                      num_generations=4, max_completion_length=8, max_steps=steps,
                      logging_steps=1, save_steps=1, save_only_model=False, report_to=[],
                      use_cpu=True, seed=0, learning_rate=1e-3, reward_weights=funcs.weights,
                      dataloader_num_workers=0, disable_tqdm=True,
                      restore_callback_states_from_checkpoint=restore)
    return GRPOTrainer(model=str(model), reward_funcs=list(funcs), args=args,
                       train_dataset=Dataset.from_list(rows), callbacks=[funcs.callback])


def test_grpo_trainer_logs_each_reward_and_resume_continues_state(tmp_path):
    rewards = ["arith", ["accuracy", "kimi_length:weight=0.4", "helpers.novelty"]]
    funcs = make_reward_funcs(*rewards)
    trainer = _trainer(tmp_path, funcs, steps=2)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "rewards/accuracy/mean" in h]
    assert len(logs) == 2
    for name in ("accuracy", "kimi_length", "helpers.novelty"):  # one entry per reward
        assert all(f"rewards/{name}/mean" in h for h in logs)
    # novelty = 1/(1 + completions learned from): step 1 saw none, step 2 the 4 of step 1.
    assert [h["rewards/helpers.novelty/mean"] for h in logs] == pytest.approx([1.0, 1 / 5])
    straight = funcs.callback.state()["attributes"]["reward_state"]
    assert straight["rewards"]["helpers.novelty"] == {"seen": 8, "steps": [0, 1]}

    # A fresh process's objects, resumed from the step-1 checkpoint, end in the same state.
    again = make_reward_funcs(*rewards)
    resumed = _trainer(tmp_path, again, steps=2)
    resumed.train(resume_from_checkpoint=str(tmp_path / "out" / "checkpoint-1"))
    assert again.callback.state()["attributes"]["reward_state"] == straight
    logs = [h for h in resumed.state.log_history if "rewards/helpers.novelty/mean" in h]
    assert logs[-1]["rewards/helpers.novelty/mean"] == pytest.approx(1 / 5)

    # transformers' own callback restore replaces the callback with one rebuilt from the
    # checkpoint; it must bind to the reward functions made for this trainer (the newest),
    # not to the older sets still alive in this process.
    third = make_reward_funcs(*rewards)
    rebuilt = _trainer(tmp_path, third, steps=2, restore=True)
    rebuilt.train(resume_from_checkpoint=str(tmp_path / "out" / "checkpoint-1"))
    assert third.callback.state()["attributes"]["reward_state"] == straight


@pytest.mark.skipif(not ACCELERATE.exists() and not shutil.which("accelerate"),
                    reason="accelerate CLI not installed")
def test_two_process_grpo_trainer_rewards_equal_one_process_scoring(tmp_path):
    from rewardkit.models.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "model", layers=1, hidden=16, heads=2, max_position=64)
    env = os.environ | {"PYTHONPATH": f"{SRC}{os.pathsep}{HERE}", "OMP_NUM_THREADS": "1"}
    launcher = str(ACCELERATE) if ACCELERATE.exists() else "accelerate"
    proc = subprocess.run(
        [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no",
         str(HERE / "trl_two_procs_trainer.py"), str(tmp_path), str(model)],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"trainer-rank{r}.json").read_text()) for r in (0, 1)]
    assert [len(r) for r in ranks] == [2, 2]  # 2 steps, one reward call each per rank
    single = make_reward_funcs("arith", ["accuracy", "kimi_length:weight=0.4", "hapo"],
                               num_generations=4, max_completion_length=8,
                               eos_token_ids=[parity.EOS])
    for part0, part1 in zip(*ranks):
        assert len(part0["prompts"]) == len(part1["prompts"]) == 2  # a group of 4, split
        assert part0["step"] == part1["step"]
        args = {k: part0[k] + part1[k] for k in ("prompts", "completions", "completion_ids",
                                                  "answer", "id")}
        state = SimpleNamespace(global_step=part0["step"])
        for f in single:
            assert f(**args, trainer_state=state) == \
                part0["rewards"][f.__name__] + part1["rewards"][f.__name__]


@pytest.mark.parametrize("kwargs, message", [
    ({"num_generations": 0}, "num_generations must be an integer >= 1"),
    ({"max_completion_length": -5}, "max_completion_length must be an integer >= 1"),
    ({"timeout_s": 0}, "timeout_s must be > 0"),
])
def test_bad_option_values_are_user_errors(kwargs, message):
    from rewardkit.errors import UserError

    with pytest.raises(UserError, match=message):
        make_reward_funcs("arith", ["accuracy"], **kwargs)


def test_bad_reward_spec_is_a_user_error_before_training():
    from rewardkit.errors import UserError

    with pytest.raises(UserError, match="bogus"):
        make_reward_funcs("arith", ["kimi_length:bogus=1"])
    with pytest.raises(UserError, match="unknown task"):
        make_reward_funcs("nope", ["accuracy"])
