"""rewardkit rewards inside verl: a per-sample `compute_score` and a group-aware reward manager.

Per sample (any verl version, `custom_reward_function.path=.../verl.py`, `name=compute_score`):
verl passes one decoded response and no token count, group or step, so `compute_score` takes
only rewards that need none of them (`PER_SAMPLE_REWARDS`) and refuses the others.

Whole batch (`RewardkitRewardManager`): verl's batch reward-manager interface
`manager(data: DataProto, return_dict=True) -> {"reward_tensor", "reward_extra_info"}`
(`verl.workers.reward_manager.AbstractRewardManager`, registered as "rewardkit"). It

- groups responses by `data.non_tensor_batch["uid"]` (verl's id of a prompt's n rollouts),
- counts each response's tokens from the response part of `attention_mask` (EOS included, as in
  `rewardkit train`); a response that fills `responses.shape[1]` (verl's `response_length`, the
  sampling budget) without ending in an EOS id was cut off ("length"),
- decodes responses with `skip_special_tokens=True`, takes the gold from
  `non_tensor_batch["reward_model"][i]["ground_truth"]` and a problem id from
  `extra_info["index"]` (else the prompt text), verifies every response once
  (`rewardkit.verify_groups`), scores the whole configured reward list,
- writes each total on the response's last valid token (verl's reward tensor convention) and
  returns one list per reward (`rewardkit/<name>`, NaN where it does not apply) plus `acc` as
  `reward_extra_info`, which verl logs;
- lets stateful rewards learn after each training batch (`data.meta_info["validate"]` true: no
  learning) and keeps the state in `state_dir/reward_state.json`, rewritten after every batch
  and read back at start, so a resumed run continues it (put `state_dir` beside verl's
  `trainer.default_local_dir`).

verl 0.9's default reward path (the agent reward loop) scores each sample inside a rollout worker
as soon as it is generated, so no worker sees a group. `make_loop_manager(url)` builds a reward
manager for that loop (`reward.reward_manager.source=importlib`) that sends each sample - its
response text, token count from the attention mask, finish reason against
`actor_rollout_ref.rollout.response_length`, and `uid` - to one `rewardkit serve
--group-size N` (N = `actor_rollout_ref.rollout.n`), which holds the samples of a uid until the
group is whole and keeps the reward state; docs/scale-out.md has both set-ups.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardkit.errors import UserError
from rewardkit.fileio import atomic_write
from rewardkit.integrations.core import EngineScorer, RewardLike, Sample, finish_reason, to_spec
from rewardkit.tasks.base import Task

# Rewards that read nothing but the reply and its verdict: safe with verl's per-sample call.
PER_SAMPLE_REWARDS = ("accuracy", "format", "repetition", "toolrl")

_PER_SAMPLE_SCORERS: dict[tuple, EngineScorer] = {}

try:  # subclass verl's base class where verl is installed, so its registry accepts the class
    from verl.workers.reward_manager.abstract import AbstractRewardManager as _Base
except ImportError:
    _Base = object  # type: ignore[misc,assignment]


def compute_score(data_source: str, solution_str: str, ground_truth: Any,
                  extra_info: Mapping[str, Any] | None = None, *, task: str = "math",
                  rewards: Sequence[RewardLike] = ("accuracy",), **kwargs: Any) -> dict:
    """verl's per-sample `compute_score`: {"score": total, "acc": 0/1, <reward>: value}.

    `task` and `rewards` come from `custom_reward_function.reward_kwargs`; `data_source` is not
    used (the task decides correctness). A verdict of None (timeout, unparseable gold) gives
    score 0.0 and acc 0, with "judged": 0.
    """
    specs = tuple(to_spec(r) for r in rewards)
    wrong = [s.name for s in specs if s.name not in PER_SAMPLE_REWARDS]
    if wrong:
        raise UserError(f"verl compute_score: {', '.join(wrong)} need(s) token counts, the group "
                        "or the step, which verl's per-sample call does not give; use "
                        "rewardkit.integrations.verl.RewardkitRewardManager")
    key = (task, json.dumps([(s.name, s.weight, dict(s.params)) for s in specs], sort_keys=True))
    if key not in _PER_SAMPLE_SCORERS:
        _PER_SAMPLE_SCORERS[key] = EngineScorer(task, specs)
    scorer = _PER_SAMPLE_SCORERS[key]
    sample = Sample(prompt="", text=solution_str, num_tokens=1, finish_reason="stop",
                    answer=None if ground_truth is None else str(ground_truth))
    scored = scorer.score_batch([sample], [0], max_new_tokens=2, learn=False)
    total = float(scored.totals[0])
    out = {"score": 0.0 if math.isnan(total) else total, "acc": int(bool(scored.correct[0])),
           "judged": int(scored.correct[0] is not None)}
    out.update({lab: float(v) for lab, v in zip(scored.labels, scored.rewards[0])})
    return out


class RewardkitRewardManager(_Base):
    """verl batch reward manager over whole groups (module docstring).

    Settings come as keyword arguments (verl passes `reward_model.reward_kwargs` through), or
    from a subclass's class attributes: `task`, `rewards`, `state_dir`, `eos_token_ids`.
    """

    task: str | Task = "math"
    rewards: Sequence[RewardLike] = ("accuracy",)
    state_dir: str | None = None

    def __init__(self, tokenizer: Any, num_examine: int = 0, compute_score: Any = None,
                 reward_fn_key: str = "data_source", *, task: str | Task | None = None,
                 rewards: Sequence[RewardLike] | None = None, state_dir: str | None = None,
                 eos_token_ids: Sequence[int] | None = None,
                 timeout_s: float | None = None) -> None:
        self.tokenizer = tokenizer
        self.scorer = EngineScorer(task or self.task, rewards or self.rewards, timeout_s=timeout_s)
        self.state_dir = Path(state_dir or self.state_dir) if (state_dir or self.state_dir) \
            else None
        eos = eos_token_ids if eos_token_ids is not None else [tokenizer.eos_token_id]
        self.eos_token_ids = {int(e) for e in eos if e is not None}
        if self.state_dir is not None and (self.state_dir / "reward_state.json").exists():
            self.scorer.load_state_dict(json.loads((self.state_dir / "reward_state.json")
                                                   .read_text()))

    def __call__(self, data: Any, return_dict: bool = False) -> Any:
        out = self.score_batch(data)
        return out if return_dict else out["reward_tensor"]

    def score_batch(self, data: Any) -> dict:
        """{"reward_tensor": (B, response_length), "reward_extra_info": {key: list of B}}."""
        import torch

        for key in ("uid", "reward_model"):
            if key not in data.non_tensor_batch:
                raise UserError(f"verl batch: no non_tensor_batch[{key!r}] (has: "
                                f"{', '.join(sorted(data.non_tensor_batch)) or 'none'}); "
                                "RewardkitRewardManager groups by uid and reads the gold from "
                                "reward_model.ground_truth")
        samples, lengths = self._samples(data)
        uids = list(data.non_tensor_batch["uid"])
        budget = int(data.batch["responses"].shape[1])
        learn = not bool(getattr(data, "meta_info", {}).get("validate", False))
        scored = self.scorer.score_batch(samples, uids, max_new_tokens=budget, learn=learn)
        reward = torch.zeros(data.batch["responses"].shape, dtype=torch.float32)  # (B, T)
        for i, n in enumerate(lengths):
            if n > 0:  # an empty response has no token to carry its reward
                total = float(scored.totals[i])
                reward[i, n - 1] = 0.0 if math.isnan(total) else total
        extra: dict[str, list] = {"acc": [float(bool(c)) for c in scored.correct]}
        for k, lab in enumerate(scored.labels):
            extra[f"rewardkit/{lab}"] = [float(x) for x in scored.rewards[:, k]]
        if learn:
            self.save_state()
        return {"reward_tensor": reward, "reward_extra_info": extra}

    def _samples(self, data: Any) -> tuple[list[Sample], list[int]]:
        prompts = data.batch["prompts"]  # (B, P), left-padded
        responses = data.batch["responses"]  # (B, T), right-padded
        mask = data.batch["attention_mask"]  # (B, P + T)
        p_len, budget = prompts.shape[1], responses.shape[1]
        infos = data.non_tensor_batch.get("extra_info", [None] * len(responses))
        samples, lengths = [], []
        for i in range(len(responses)):
            n = int(mask[i, p_len:].sum())
            ids = responses[i, :n].tolist()
            prompt_ids = prompts[i, p_len - int(mask[i, :p_len].sum()):].tolist()
            gold = data.non_tensor_batch["reward_model"][i].get("ground_truth")
            info = infos[i] if isinstance(infos[i], Mapping) else {}
            prompt = self.tokenizer.decode(prompt_ids, skip_special_tokens=True)
            ended = bool(ids) and ids[-1] in self.eos_token_ids
            samples.append(Sample(
                prompt=prompt, text=self.tokenizer.decode(ids, skip_special_tokens=True),
                num_tokens=n, finish_reason=finish_reason(n, budget, ended),
                answer=None if gold is None else str(gold),
                problem_id=str(info["index"]) if "index" in info else None))
            lengths.append(n)
        return samples, lengths

    def save_state(self) -> None:
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            with atomic_write(self.state_dir / "reward_state.json") as f:
                json.dump(self.scorer.state_dict(), f)


def make_loop_manager(url: str, *, api_key: str | None = None, timeout_s: float = 900.0):
    """A reward-manager class for verl 0.9's agent reward loop that scores through
    `rewardkit serve` at `url` (module docstring). Put it in a file and point
    `reward.reward_manager.module.path` at that file (`name` = the variable's name).
    Needs verl (its `RewardManagerBase`) and httpx."""
    from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

    endpoint = url.rstrip("/") + "/get_reward"
    headers = {"X-API-Key": api_key} if api_key else {}

    class RewardkitLoopManager(RewardManagerBase):
        def __init__(self, config, tokenizer, compute_score=None, reward_router_address=None,
                     reward_model_tokenizer=None):
            super().__init__(config, tokenizer, compute_score)
            self.budget = int(config.actor_rollout_ref.rollout.response_length)

        async def run_single(self, data) -> dict:
            import httpx

            body = loop_request(data[-1:][0], self.tokenizer, self.budget)
            async with httpx.AsyncClient(timeout=timeout_s) as client:
                reply = await client.post(endpoint, json=body, headers=headers)
            if reply.status_code != 200:
                raise RuntimeError(f"rewardkit serve at {endpoint}: {reply.status_code} "
                                   f"{reply.text[:300]}")
            out = reply.json()
            extra = {k: (math.nan if v[0] is None else v[0]) for k, v in out["extra_logs"].items()}
            return {"reward_score": out["rewards"][0], "reward_extra_info": extra}

    return RewardkitLoopManager


def loop_request(item: Any, tokenizer: Any, budget: int) -> dict:
    """The `/get_reward` body for one of verl's reward-loop samples (a `DataProtoItem`)."""
    responses = item.batch["responses"]  # (T,)
    n = int(item.batch["attention_mask"][-responses.shape[-1]:].sum())
    ids = responses[:n].tolist()
    eos = tokenizer.eos_token_id
    ended = bool(ids) and ids[-1] == eos
    prompt_ids = item.batch["prompts"]
    p_len = prompt_ids.shape[-1]
    prompt_mask = item.batch["attention_mask"][:p_len].bool()
    prompt = tokenizer.decode(prompt_ids[prompt_mask].tolist(), skip_special_tokens=True)
    text = tokenizer.decode(ids, skip_special_tokens=True)
    gold = item.non_tensor_batch["reward_model"].get("ground_truth")
    return {"query": [prompt + text], "prompts": [prompt],
            "labels": [None if gold is None else str(gold)], "responses": [text],
            "num_tokens": [n], "finish_reasons": [finish_reason(n, budget, ended)],
            "group_ids": [str(item.non_tensor_batch["uid"])], "keep_nulls": True}


def register_with_verl(name: str = "rewardkit") -> bool:
    """Add the manager to verl's batch reward-manager registry; False when verl is absent."""
    try:
        from verl.workers.reward_manager import register
        from verl.workers.reward_manager.registry import REWARD_MANAGER_REGISTRY
    except ImportError:
        return False
    if REWARD_MANAGER_REGISTRY.get(name) is not RewardkitRewardManager:
        register(name)(RewardkitRewardManager)
    return True


def as_array(values: Sequence[Any]) -> np.ndarray:
    """An object array, as verl keeps non-tensor columns."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out
