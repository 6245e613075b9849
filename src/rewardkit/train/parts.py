"""The model-side and problem-side parts the loop's step functions take:

- `Policy`: the model being trained with its tokenizer, reference, precision and sampler;
- `LossSpec`: the per-token loss and the terms added to it (KL, entropy), as configured;
- `Rollout`: where problems come from, how completions are judged and scored, and which kept
  groups form the batch.

The other parts have their own modules: the distributed context (`dist.py`), the optimizer with
its schedule and non-finite guard (`optimizer.py`) and the run directory (`rundir.py`); `run.py`
builds them all from a config. Each part can be made by hand, so a step function can be tested
without a run directory, an accelerator or a task.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

import rewardkit.losses as losses
from rewardkit.config import LossConfig, loss_kwargs
from rewardkit.registry import LOSSES
from rewardkit.rewards.combine import RewardScorer
from rewardkit.sampling.base import Sampler
from rewardkit.tasks.base import Task
from rewardkit.train.data import ProblemStream
from rewardkit.train.filters import Recompose, keep_first
from rewardkit.train.policy import (
    Row,
    TokenBatch,
    collate,
    encode_prompt,
    reference_context,
    token_logprobs,
)
from rewardkit.types import Problem

log = logging.getLogger("rewardkit.train")


@dataclass
class Policy:
    """The model being trained, as the loop uses it: its token batches, its log-probs in the
    training forward and without grad, its reference, and the sampler that draws from it."""

    model: Any
    tokenizer: Any
    device: torch.device
    autocast: torch.dtype | None = None
    """matrix products in this dtype (bf16 mixed precision), or None for the weights' own"""
    ref: Any = None
    """frozen reference for KL; None when there is no KL term, or with LoRA (adapters off)"""
    sampler: Sampler | None = None
    ddp: Any = None
    """the DDP-wrapped training forward with several processes (Dist.distribute), else None"""

    def encode(self, prompt: str) -> list[int]:
        """Exactly the prompt ids the sampler fed the model (training rows start with them)."""
        encode = getattr(self.sampler, "encode", None)
        return encode(prompt) if encode is not None else encode_prompt(self.tokenizer, prompt)

    def collate(self, rows: list[Row]) -> TokenBatch:
        return collate(rows, pad_id=self.tokenizer.pad_token_id, device=self.device)

    def logprobs(self, batch: TokenBatch, *, temperature: float, entropy: bool | str
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The training forward: (B, T) log-probs and entropies, through DDP when there is one."""
        return token_logprobs(self.model, batch, temperature=temperature, entropy=entropy,
                              autocast=self.autocast, forward=self.ddp)

    @torch.no_grad()
    def fill_logprobs(self, rows: list[Row], attr: str, *, temperature: float, batch_size: int,
                      model: Any = None) -> None:
        """Set `row.<attr>` to the (T_i,) log-probs of its completion under `model` (default:
        the policy), without grad, `batch_size` rows per forward pass."""
        model = self.model if model is None else model
        for i in range(0, len(rows), batch_size):
            chunk = rows[i: i + batch_size]
            logp, _ = token_logprobs(model, self.collate(chunk), temperature=temperature,
                                     autocast=self.autocast)
            for row, lp in zip(chunk, logp):
                setattr(row, attr, lp[: len(row.completion_ids)].detach())

    @contextlib.contextmanager
    def reference(self) -> Iterator[Any]:
        """The reference model to run inside the block (with LoRA: the policy, adapters off)."""
        model, context = reference_context(self.model, self.ref)
        with context:
            yield model

    def sync_sampler(self) -> None:
        """Copy the policy's weights into a sampler that holds its own (vLLM), after an update;
        HFSampler decodes from the policy's live weights and has nothing to copy."""
        load = getattr(self.sampler, "load_weights", None)
        if load is not None:
            load(self.model)

    def minibatch_context(self, last: bool):
        """Around one minibatch's forward and backward: with DDP, gradients accumulate locally
        (`no_sync`) except in an optimizer step's last minibatch, whose backward reduces them."""
        if self.ddp is None or last:
            return contextlib.nullcontext()
        return self.ddp.no_sync()

    def sync_gradients_without_rows(self) -> None:
        """A rank with no minibatch in an optimizer step still joins DDP's reduction of the
        gradients: one synchronised backward pass of a zero loss on a padding row."""
        if self.ddp is None:
            return
        pad = self.tokenizer.pad_token_id
        logp, _ = token_logprobs(self.model, self.collate([Row([pad], [pad], weight=0.0)]),
                                 temperature=1.0, forward=self.ddp)
        (logp.sum() * 0.0).backward()


@dataclass
class LossSpec:
    """The per-token policy loss with exactly the settings the config gave it, and the terms the
    loop adds to it: KL to the reference (in the loss, or taken out of the reward) and an
    entropy bonus. `aggregation` turns per-token values into the batch loss (losses.aggregate)."""

    fn: Callable[..., tuple[torch.Tensor, dict[str, Any]]]
    kwargs: dict[str, Any] = field(default_factory=dict)
    """only what the config set; everything else is the loss's own default"""
    batch_fields: set[str] = field(default_factory=set)
    """what the loss declared it takes from the batch (losses.batch_fields), nothing more"""
    whole_groups: bool = False
    """the loss needs every minibatch to hold whole groups (DRPO normalises per question)"""
    aggregation: str = "token_mean"
    kl_coef: float = 0.0
    kl_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = losses.kl_estimator("k3")
    kl_in_reward: bool = False
    entropy_coef: float = 0.0

    @classmethod
    def from_config(cls, loss: LossConfig) -> LossSpec:
        fn = LOSSES.get(loss.name)
        return cls(fn, loss_kwargs(loss), set(getattr(fn, "batch_fields", ())),
                   bool(getattr(fn, "whole_groups", False)), loss.aggregation, loss.kl_coef,
                   losses.kl_estimator(loss.kl_estimator), loss.kl_in_reward, loss.entropy_coef)

    @property
    def kl_in_loss(self) -> bool:
        return self.kl_coef > 0 and not self.kl_in_reward

    @property
    def kl_from_reward(self) -> bool:
        return self.kl_coef > 0 and self.kl_in_reward


@dataclass
class Rollout:
    """The problem side: a resumable stream of problems, the task that prompts and judges, the
    rewards that score, and the hook that picks a batch from the kept groups."""

    task: Task
    scorer: RewardScorer
    data: ProblemStream
    recompose: Recompose = keep_first
    _held_out: list[Problem] | None = field(default=None, init=False, repr=False)

    def held_out(self, n: int, seed: int) -> list[Problem]:
        """`n` held-out ("test") problems for periodic evaluation, made once; none (and a
        warning) when the task has no generator."""
        if self._held_out is None:
            self._held_out = []
            if hasattr(self.task, "problems"):
                self._held_out = list(self.task.problems("test", n, seed))
            else:
                log.warning("eval_every is set but task %r has no held-out generator; "
                            "use `rewardkit eval`", self.task.name)
        return self._held_out
