"""The verl adapter: the batch reward manager over the parity fixture as verl's DataProto (real
when verl imports; else a stand-in with DataProto's documented fields), and compute_score.

verl is not in any extra (its pins conflict with this environment). To run against real verl,
install it without dependencies into a separate directory and point REWARDKIT_VERL_SITE at it
(docs/scale-out.md, "Testing against verl").
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import parity  # noqa: E402

if os.environ.get("REWARDKIT_VERL_SITE"):
    sys.path.append(os.environ["REWARDKIT_VERL_SITE"])  # appended: this venv's packages win
try:
    from verl import DataProto
except ImportError:
    DataProto = None

from rewardkit.integrations.verl import (  # noqa: E402
    RewardkitRewardManager,
    as_array,
    compute_score,
    register_with_verl,
)

PROMPT_W = 2


class CharTable:
    """A tokenizer stand-in: each text is one id; FILL and EOS decode to nothing (special)."""

    def __init__(self) -> None:
        self.texts: dict[int, str] = {}
        self.eos_token_id = parity.EOS

    def encode_one(self, text: str) -> int:
        tid = 100 + len(self.texts)
        self.texts[tid] = text
        return tid

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return "".join(self.texts.get(int(i), "") for i in ids)


@dataclass
class StandIn:
    """DataProto's fields as verl's reward managers read them."""

    batch: dict
    non_tensor_batch: dict
    meta_info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.batch["responses"])


def verl_batch(lines: list[dict], tok: CharTable, *, step: int) -> Any:
    """Rows as verl's rollout leaves them: left-padded prompts, right-padded responses."""
    prompts, responses, masks, gold, uids, infos = [], [], [], [], [], []
    for line in lines:
        prompt_id = tok.encode_one(line["prompt"])
        for c in line["completions"]:
            ids = parity.token_ids(c)
            ids[0] = tok.encode_one(c["text"])  # the first token carries the text
            n = len(ids)
            prompts.append([0, prompt_id])
            responses.append(ids + [0] * (parity.BUDGET - n))
            masks.append([0, 1] + [1] * n + [0] * (parity.BUDGET - n))
            gold.append({"ground_truth": line["answer"]})
            uids.append(f"{step}-{line['id']}")
            infos.append({"index": line["id"]})
    tensors = {"prompts": torch.tensor(prompts), "responses": torch.tensor(responses),
               "attention_mask": torch.tensor(masks)}
    non_tensors = {"reward_model": as_array(gold), "uid": as_array(uids),
                   "extra_info": as_array(infos), "data_source": as_array(["arith"] * len(uids))}
    if DataProto is not None:
        return DataProto.from_dict(tensors=tensors, non_tensors=non_tensors)
    return StandIn(tensors, non_tensors)


def test_manager_equals_rewardkit_score_with_state_across_a_restart(tmp_path):
    want = parity.expected_from_score(tmp_path)
    tok = CharTable()
    state_dir = tmp_path / "rk-state"
    kwargs = {"task": parity.TASK, "rewards": parity.REWARDS, "state_dir": str(state_dir)}
    manager = RewardkitRewardManager(tok, **kwargs)
    for step, lines in enumerate(parity.steps()):
        if step == 2:  # a restarted job: a new manager reads the state saved after step 1
            manager = RewardkitRewardManager(tok, **kwargs)
        data = verl_batch(lines, tok, step=step)
        out = manager(data, return_dict=True)
        extra, reward = out["reward_extra_info"], out["reward_tensor"]
        assert reward.shape == (len(data), parity.BUDGET)
        i = 0
        for line in lines:
            for c in line["completions"]:
                w = want[step][i]
                for label in parity.LABELS:
                    got = extra[f"rewardkit/{label}"][i]
                    assert parity.close(None if math.isnan(got) else got, w[label]), \
                        (step, i, label)
                # The total sits on the last valid token; NaN totals (p4's accuracy) -> 0.
                weights = [1.0, 0.4, 1.0, 1.0, 0.5]
                total = sum(wt * w[lab] for wt, lab in zip(weights, parity.LABELS)
                            if w[lab] is not None)
                if w["accuracy"] is None:  # accuracy is primary: no total, so 0 on the token
                    total = 0.0
                n = c["num_tokens"]
                assert float(reward[i, n - 1]) == pytest.approx(total, abs=1e-6)
                assert float(reward[i].abs().sum() - abs(reward[i, n - 1])) == pytest.approx(0)
                i += 1
    assert (state_dir / "reward_state.json").exists()


def test_validation_batches_do_not_learn(tmp_path):
    tok = CharTable()
    manager = RewardkitRewardManager(tok, task=parity.TASK, rewards=["hapo"])
    data = verl_batch(parity.steps()[0], tok, step=0)
    data.meta_info["validate"] = True
    manager(data)
    assert manager.scorer.state_dict()["steps_done"] == 0
    assert manager.scorer.state_dict()["rewards"] == {}


def test_compute_score_per_sample_and_refuses_group_rewards():
    out = compute_score("arith", "<think>3+4=7</think>\\boxed{7}", "7", {}, task="arith",
                        rewards=["accuracy", "format:weight=0.5"])
    assert out["acc"] == 1 and out["score"] == pytest.approx(1.5)  # 1 + 0.5 * 1
    out = compute_score("arith", "\\boxed{8}", "7", None, task="arith")
    assert out["acc"] == 0 and out["score"] == 0.0
    from rewardkit.errors import UserError

    with pytest.raises(UserError, match="kimi_length"):
        compute_score("arith", "x", "7", task="arith", rewards=["kimi_length"])


@pytest.mark.skipif(DataProto is None, reason="verl not importable (see module docstring)")
def test_registered_in_verls_reward_manager_registry():
    from verl.workers.reward_manager import get_reward_manager_cls
    from verl.workers.reward_manager.abstract import AbstractRewardManager

    assert register_with_verl()
    cls = get_reward_manager_cls("rewardkit")
    assert cls is RewardkitRewardManager and issubclass(cls, AbstractRewardManager)
    assert isinstance(np.asarray(as_array([1])), np.ndarray)


@pytest.mark.skipif(DataProto is None, reason="verl not importable (see module docstring)")
def test_reward_loop_manager_scores_whole_groups_through_serve(tmp_path):
    """verl 0.9's agent reward loop: one sample per run_single call, all concurrent; the
    manager sends them to `rewardkit serve`, which groups them by uid."""
    pytest.importorskip("fastapi")
    import asyncio

    from omegaconf import OmegaConf
    from test_serve import Server

    from rewardkit.integrations.verl import make_loop_manager

    want = parity.expected_from_score(tmp_path)
    server = Server(tmp_path, "--task", parity.TASK, "--max-new-tokens", str(parity.BUDGET),
                    "--group-size", "4",
                    *[a for spec in parity.REWARDS for a in ("--reward", spec)])
    try:
        cls = make_loop_manager(server.url)
        config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"response_length":
                                                                     parity.BUDGET}}})
        tok = CharTable()
        manager = cls(config, tok)
        for step, lines in enumerate(parity.steps()):
            data = verl_batch(lines, tok, step=step)
            rows = [_as_loop_sample(data, i) for i in range(len(data))]

            async def score_all(rows=rows):
                return await asyncio.gather(*[manager.run_single(r) for r in rows])

            outs = asyncio.run(score_all())
            for i, out in enumerate(outs):
                for label in parity.LABELS:
                    got = out["reward_extra_info"][f"rewardkit/{label}"]
                    assert parity.close(None if math.isnan(got) else got, want[step][i][label]), \
                        (step, i, label)
                assert out["reward_extra_info"]["rewardkit/group_size"] == 4
    finally:
        assert server.stop() == 0


def _as_loop_sample(data, i: int):
    """Row i as the agent loop hands it to run_single: unpadded, attention mask all ones."""
    n = int(data.batch["attention_mask"][i, PROMPT_W:].sum())
    tensors = {"prompts": data.batch["prompts"][i:i + 1, 1:],
               "responses": data.batch["responses"][i:i + 1, :n],
               "attention_mask": torch.ones(1, 1 + n, dtype=torch.long)}
    non_tensors = {k: v[i:i + 1] for k, v in data.non_tensor_batch.items()}
    return DataProto.from_dict(tensors=tensors, non_tensors=non_tensors)


def test_a_batch_without_uid_is_a_user_error_naming_it():
    from rewardkit.errors import UserError

    tok = CharTable()
    data = verl_batch(parity.steps()[0], tok, step=0)
    del data.non_tensor_batch["uid"]
    manager = RewardkitRewardManager(tok, task=parity.TASK, rewards=["accuracy"])
    with pytest.raises(UserError, match=r"non_tensor_batch\['uid'\]"):
        manager(data)
