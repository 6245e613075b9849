"""OpenRLHF's reward protocol: whole groups out of one-sample requests, token counts, truncation.

OpenRLHF (0.11, `openrlhf/utils/agent.py`) asks for a reward one sample at a time, right after
that sample was generated: `{"query": [prompt + response, special tokens kept], "prompts":
[prompt], "labels": [label]}`, over HTTP (`--reward.remote_url http://.../get_reward`, served by
`rewardkit serve`) or by calling `reward_func(queries, prompts, labels)` from a Python file
(`--reward.remote_url my_reward.py`, built with `make_reward_func`). Neither carries the group,
the token count or the truncation flag, so `Grouper`:

- forms groups by prompt text: samples of the same prompt are held until `group_size` of them
  (OpenRLHF's `--rollout.n_samples_per_prompt`) have arrived, then the group is verified and
  scored and every waiting request is answered. A request that carries several samples (another
  client sending a whole batch) is answered when all its groups are complete, and the groups
  completed by one request are scored as one batch, as `rewardkit score` scores one step.
- a partial group - fewer than `group_size` samples of a prompt within `wait_s` seconds of its
  first one (a client that sends fewer, or a crashed rollout worker) - is scored as it is:
  group-relative rewards (kimi_length, ...) then compare among fewer completions. Its samples'
  `extra_logs` carry `rewardkit/group_size` so this shows in the logs.
- counts tokens with the policy's tokenizer: the response is the query after the prompt; a
  trailing EOS token string ends it ("stop", the EOS counted as in `rewardkit train`); without
  EOS, a response of `max_new_tokens` tokens or more was cut off ("length"). Re-tokenizing
  decoded text can differ from the sampled ids by a token at merge boundaries.
- steps: requests carry no step, so the server counts groups. With `groups_per_step` = the
  number of prompts per training step (OpenRLHF's `--rollout.batch_size`), stateful
  rewards (HAPO, LASER-D) learn once per that many scored groups, as in training, and every
  group of a step is scored with the state of earlier steps; with 1 (the default) they learn
  after every group. Step-indexed schedules (LASER-D's re-estimates, `budget_curriculum`) count
  these steps. Groups of an unfinished step are learned from at shutdown.

A total that is NaN (the verifier could not judge) is returned as reward 0.0, since OpenRLHF
needs a number, and so is a per-reward value in `extra_logs` that does not apply;
`extra_logs["rewardkit/judged"]` is 0 for such a completion. `scores` (OpenRLHF's dynamic
filtering input, 0-1) is 1.0 for a correct completion, else 0.0.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rewardkit.errors import UserError
from rewardkit.integrations.core import EngineScorer, RewardLike, Sample, finish_reason
from rewardkit.rewards.combine import nan_to_none
from rewardkit.tasks.base import Task


class BadRequest(ValueError):
    """A malformed request body; the message names the field (HTTP 400)."""


def parse_get_reward(body: Any) -> tuple[list[str], list[str], list[str | None]]:
    """(queries, prompts, labels) from a `/get_reward` body, or BadRequest naming the field.

    >>> parse_get_reward({"query": ["q a"], "prompts": ["q "], "labels": ["4"]})
    (['q a'], ['q '], ['4'])
    >>> parse_get_reward({"query": ["q a"], "prompts": []})
    Traceback (most recent call last):
    ...
    rewardkit.integrations.openrlhf.BadRequest: field 'prompts': 0 items, but 'query' has 1
    """
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object with query, prompts, labels")
    out = []
    for key in ("query", "prompts", "labels"):
        if key not in body:
            raise BadRequest(f"field {key!r}: missing")
        value = body[key]
        if not isinstance(value, list):
            raise BadRequest(f"field {key!r}: expected a list, got {type(value).__name__}")
        allowed = (str, int, float, type(None)) if key == "labels" else (str,)
        for i, item in enumerate(value):
            if not isinstance(item, allowed) or isinstance(item, bool):
                raise BadRequest(f"field {key!r}[{i}]: expected a string, got {item!r:.40}")
        if out and len(value) != len(out[0]):
            raise BadRequest(f"field {key!r}: {len(value)} items, but 'query' has {len(out[0])}")
        out.append(value)
    labels = [None if x is None else str(x) for x in out[2]]
    return out[0], out[1], labels


KNOWN_LENGTH_FIELDS = ("responses", "num_tokens", "finish_reasons")


def parse_known_lengths(body: dict, n: int) -> list[Sample] | None:
    """Samples from the optional fields a client that has the token ids sends (rewardkit's verl
    reward-loop manager): "responses" (text), "num_tokens", "finish_reasons"; or None when the
    body has none of them. Partial sets are a BadRequest naming the missing field.

    >>> body = {"query": ["q a"], "prompts": ["q "], "labels": ["4"], "responses": ["a"],
    ...         "num_tokens": [2], "finish_reasons": ["stop"]}
    >>> parse_known_lengths(body, 1)[0].num_tokens
    2
    """
    present = [k for k in KNOWN_LENGTH_FIELDS if k in body]
    if not present:
        return None
    for key in KNOWN_LENGTH_FIELDS:
        if key not in body:
            raise BadRequest(f"field {key!r}: missing (it goes with {', '.join(present)})")
        if not isinstance(body[key], list) or len(body[key]) != n:
            raise BadRequest(f"field {key!r}: expected a list of {n} items")
    out = []
    for i, (text, tokens, reason) in enumerate(zip(*(body[k] for k in KNOWN_LENGTH_FIELDS))):
        if not isinstance(text, str):
            raise BadRequest(f"field 'responses'[{i}]: expected a string")
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
            raise BadRequest(f"field 'num_tokens'[{i}]: expected an integer >= 0, got {tokens!r}")
        if reason not in ("stop", "length"):
            raise BadRequest(f"field 'finish_reasons'[{i}]: expected \"stop\" or \"length\", "
                             f"got {reason!r}")
        label = body["labels"][i]
        out.append(Sample(prompt=body["prompts"][i], text=text, num_tokens=tokens,
                          finish_reason=reason, answer=None if label is None else str(label)))
    return out


def parse_group_ids(body: dict, n: int) -> list[str] | None:
    """Optional "group_ids": the key that forms groups (verl's uid) instead of the prompt text."""
    if "group_ids" not in body:
        return None
    ids = body["group_ids"]
    if not isinstance(ids, list) or len(ids) != n or not all(isinstance(x, str) for x in ids):
        raise BadRequest(f"field 'group_ids': expected a list of {n} strings")
    return ids


class TokenCounter:
    """Token counts and EOS detection for decoded text, with the policy's tokenizer."""

    def __init__(self, tokenizer: str | Any, max_new_tokens: int) -> None:
        if isinstance(tokenizer, str):
            from transformers import AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(tokenizer)
            except (OSError, ValueError) as e:
                raise UserError(f"--tokenizer: cannot load {tokenizer!r}: {e}") from None
        if max_new_tokens < 1:
            raise UserError(f"--max-new-tokens must be >= 1, got {max_new_tokens}")
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.eos = [t for t in {tokenizer.eos_token} if t]
        self.pad = tokenizer.pad_token if tokenizer.pad_token not in self.eos else None

    def sample(self, query: str, prompt: str, label: str | None) -> Sample:
        response = query[len(prompt):] if query.startswith(prompt) else self._tail(query, prompt)
        if self.pad:
            while response.endswith(self.pad):
                response = response[: -len(self.pad)]
        ended = False
        for eos in self.eos:
            if response.endswith(eos):
                response, ended = response[: -len(eos)], True
        for special in (*self.eos, *([self.pad] if self.pad else [])):
            response = response.replace(special, "")
        n = len(self.tokenizer(response, add_special_tokens=False)["input_ids"]) + int(ended)
        return Sample(prompt=prompt, text=response, num_tokens=n,
                      finish_reason=finish_reason(n, self.max_new_tokens, ended), answer=label)


    def _tail(self, query: str, prompt: str) -> str:
        """The response when the decoded query does not start with the prompt's text (a
        tokenizer whose decode(encode(x)) != x): the query's tokens after the prompt's count."""
        ids = self.tokenizer(query, add_special_tokens=False)["input_ids"]
        n_prompt = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        return self.tokenizer.decode(ids[n_prompt:], skip_special_tokens=False)


@dataclass
class _Pending:
    samples: list[Sample] = field(default_factory=list)
    futures: list[asyncio.Future] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    timer: asyncio.TimerHandle | None = None


class Grouper:
    """Holds samples until their group is whole, scores groups, answers the waiting callers.

    All methods run on one asyncio loop; verification runs in a thread (the verifier pool's
    callers), scoring and state updates under a lock, so the loop never blocks on a verdict.
    """

    def __init__(self, scorer: EngineScorer, *, group_size: int, wait_s: float,
                 max_new_tokens: int, groups_per_step: int = 1) -> None:
        if group_size < 1:
            raise UserError(f"--group-size must be >= 1, got {group_size}")
        if groups_per_step < 1:
            raise UserError(f"--groups-per-step must be >= 1, got {groups_per_step}")
        self.groups_per_step = groups_per_step
        self.unlearned: list = []  # scored groups of the step in progress
        if not wait_s > 0:
            raise UserError(f"--group-wait-s must be > 0, got {wait_s}")
        self.scorer, self.group_size, self.wait_s = scorer, group_size, wait_s
        self.max_new_tokens = max_new_tokens
        self.pending: dict[str, _Pending] = {}
        self.lock = asyncio.Lock()
        self.partial_groups = 0

    async def submit(self, samples: Sequence[Sample],
                     group_ids: Sequence[str] | None = None) -> list[dict]:
        """One result per sample: {"reward", "score", "extra_logs"}, once its group is scored.

        Samples with the same group id (default: the same prompt text) form a group."""
        loop = asyncio.get_running_loop()
        futures, complete = [], []
        for i, s in enumerate(samples):
            key = group_ids[i] if group_ids is not None else s.prompt
            p = self.pending.setdefault(key, _Pending())
            fut = loop.create_future()
            p.samples.append(s)
            p.futures.append(fut)
            futures.append(fut)
            if len(p.samples) == 1:
                p.timer = loop.call_later(self.wait_s, self._expire, key, p)
            if len(p.samples) == self.group_size:
                complete.append(self._take(key))
        if complete:
            loop.create_task(self._score(complete))
        return list(await asyncio.gather(*futures))

    def flush(self) -> None:
        """Score every partial group now (shutdown: answer everyone still waiting)."""
        for key in list(self.pending):
            self._expire(key, self.pending[key])

    def learn(self) -> None:
        """End the step in progress: stateful rewards learn from its scored groups."""
        if self.unlearned:
            self.scorer.learn(self.unlearned)
            self.unlearned = []

    def _take(self, key: str) -> _Pending:
        p = self.pending.pop(key)
        if p.timer is not None:
            p.timer.cancel()
        return p

    def _expire(self, key: str, p: _Pending) -> None:
        if self.pending.get(key) is p:
            self._take(key)
            self.partial_groups += 1
            asyncio.get_running_loop().create_task(self._score([p]))

    async def _score(self, parts: list[_Pending]) -> None:
        try:
            samples = [s for p in parts for s in p.samples]
            keys = [i for i, p in enumerate(parts) for _ in p.samples]
            results = await self.score(samples, keys)
            for fut, result in zip([f for p in parts for f in p.futures], results):
                if not fut.done():
                    fut.set_result(result)
        except Exception as e:  # noqa: BLE001  (every waiting caller must hear about it)
            for p in parts:
                for fut in p.futures:
                    if not fut.done():
                        fut.set_exception(e)

    async def score(self, samples: Sequence[Sample], keys: Sequence[Any]) -> list[dict]:
        """Verify off the loop, then score and learn as one batch under the lock."""
        from rewardkit.integrations.core import groups_from_samples

        groups, members = groups_from_samples(samples, keys, max_new_tokens=self.max_new_tokens)
        verified = await asyncio.to_thread(self.scorer.verify, groups)
        async with self.lock:
            scored = self.scorer.score_batch(samples, keys, max_new_tokens=self.max_new_tokens,
                                             learn=False, verified=lambda _: verified)
            self.unlearned.extend(verified)
            if len(self.unlearned) >= self.groups_per_step:
                self.learn()
        sizes = {i: len(m) for m in members for i in m}
        return [self._result(scored, i, sizes[i]) for i in range(len(samples))]

    def _result(self, scored: Any, i: int, group_size: int) -> dict:
        total = float(scored.totals[i])
        logs: dict[str, Any] = {f"rewardkit/{lab}": nan_to_none(float(v))
                                for lab, v in zip(scored.labels, scored.rewards[i])}
        logs["rewardkit/judged"] = int(scored.correct[i] is not None)
        logs["rewardkit/group_size"] = group_size
        return {"reward": 0.0 if math.isnan(total) else total,
                "score": 1.0 if scored.correct[i] else 0.0, "extra_logs": logs}


def response_body(results: Sequence[dict], *, keep_nulls: bool = False) -> dict:
    """OpenRLHF's reply: {"rewards": [...], "scores": [...], "extra_logs": {key: [...]}}.

    OpenRLHF turns every `extra_logs` value into a tensor, which a null breaks, so a reward
    that does not apply is logged as 0.0 (`rewardkit/judged` tells those rows apart) unless
    `keep_nulls` (clients that read the nulls, such as rewardkit's verl loop manager).
    """
    logs: dict[str, list] = {}
    for r in results:
        for k, v in r["extra_logs"].items():
            logs.setdefault(k, []).append(0.0 if v is None and not keep_nulls else v)
    return {"rewards": [r["reward"] for r in results], "scores": [r["score"] for r in results],
            "extra_logs": logs}


class _LoopThread:
    """A private asyncio loop in a daemon thread, for the synchronous `reward_func` form."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True,
                         name="rewardkit-openrlhf").start()

    def run(self, coro_fn: Any) -> Any:
        async def wrapped():
            return await coro_fn()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result()


def make_reward_func(task: str | Task, rewards: Sequence[RewardLike], *, tokenizer: str | Any,
                     max_new_tokens: int, group_size: int = 1, groups_per_step: int = 1,
                     wait_s: float = 60.0, timeout_s: float | None = None):
    """OpenRLHF's local form: put `reward_func = make_reward_func(...)` in a Python file and
    pass the file as `--reward.remote_url`. `group_size` = `--rollout.n_samples_per_prompt`.

    OpenRLHF calls it from worker threads, one sample per call; each call blocks until the
    sample's group is scored (at most `wait_s` seconds, then the partial group is scored).
    """
    counter = TokenCounter(tokenizer, max_new_tokens)
    scorer = EngineScorer(task, rewards, timeout_s=timeout_s)
    runner = _LoopThread()
    grouper = runner.run(lambda: _make_grouper(scorer, group_size, wait_s, max_new_tokens,
                                               groups_per_step))

    def reward_func(queries: list[str], prompts: list[str], labels: list, **kwargs: Any) -> dict:
        try:
            parsed = parse_get_reward({"query": list(queries), "prompts": list(prompts),
                                       "labels": list(labels)})
        except BadRequest as e:
            raise UserError(f"reward_func: {e}") from None
        samples = [counter.sample(q, p, lab) for q, p, lab in zip(*parsed)]
        body = response_body(runner.run(lambda: grouper.submit(samples)))
        try:
            import torch
        except ImportError:  # pragma: no cover - OpenRLHF always has torch
            return body
        return {"rewards": torch.tensor(body["rewards"]), "scores": torch.tensor(body["scores"]),
                "extra_logs": body["extra_logs"]}

    reward_func.scorer = scorer  # for saving its state: reward_func.scorer.state_dict()
    return reward_func


async def _make_grouper(scorer: EngineScorer, group_size: int, wait_s: float,
                        max_new_tokens: int, groups_per_step: int) -> Grouper:
    return Grouper(scorer, group_size=group_size, wait_s=wait_s, max_new_tokens=max_new_tokens,
                   groups_per_step=groups_per_step)
