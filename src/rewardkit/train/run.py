"""The state the training loop carries between steps, and its plumbing: run directory, model,
optimizer and schedule, data cursor, rewards, checkpoints, and the few collective operations.

Kept apart from `loop.py` so that the loop reads as the algorithm.
"""

from __future__ import annotations

import contextlib
import logging
import math
from functools import partial
from pathlib import Path
from typing import Any

import torch
import yaml

import rewardkit.losses as losses
from rewardkit.config import TrainConfig, dump_config, loss_kwargs
from rewardkit.errors import UserError
from rewardkit.fileio import atomic_write_text
from rewardkit.precision import launcher_autocast, training_precision
from rewardkit.registry import LOSSES, UnknownName
from rewardkit.rewards.combine import RewardScorer, RewardSpec
from rewardkit.sampling.base import Sampler
from rewardkit.tasks import get_task
from rewardkit.train import checkpoint as ckpt
from rewardkit.train.data import ProblemStream, load_problems
from rewardkit.train.filters import resolve_recompose
from rewardkit.train.metrics import RunLog
from rewardkit.train.policy import (
    CompletionForward,
    Row,
    check_fast_paths,
    collate,
    enable_gradient_checkpointing,
    encode_prompt,
    load_policy,
    load_reference,
)
from rewardkit.train.policy import token_logprobs as _token_logprobs
from rewardkit.types import Problem

log = logging.getLogger("rewardkit.train")


class TrainingError(RuntimeError):
    """Training cannot go on (repeated non-finite losses); the message says what to try."""


def lr_factor(i: int, *, warmup: int, total: int, schedule: str) -> float:
    """Multiplier of the base lr at optimizer step i: linear warm-up, then constant/cosine/linear.

    >>> [round(lr_factor(i, warmup=2, total=6, schedule="linear"), 2) for i in range(6)]
    [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]
    """
    if i < warmup:
        return (i + 1) / warmup
    progress = min(1.0, (i - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress if schedule == "linear" else 1.0


def make_sampler(model: Any, tokenizer: Any, cfg: TrainConfig, *,
                 autocast: torch.dtype | None = None) -> Sampler:
    """The sampler `cfg.sampling.backend` names, over the policy's weights and tokenizer."""
    s = cfg.sampling
    if s.backend == "vllm":
        from rewardkit.sampling.vllm import VLLMSampler

        try:
            return VLLMSampler(cfg.model, tokenizer=tokenizer, chat_template=s.chat_template,
                               gpu_memory_utilization=s.vllm_gpu_memory_utilization)
        except ImportError as e:
            raise UserError(f"sampling.backend: vllm: {e}") from None
    from rewardkit.sampling.hf import HFSampler

    # The sampler's fused decode step reads the base weights directly and would not see LoRA
    # adapters, so a peft-wrapped policy decodes through its own forward.
    lora = hasattr(model, "disable_adapter")
    return HFSampler(model, tokenizer, chat_template=s.chat_template, fast_decode=not lora,
                     autocast=autocast, max_batch_size=s.max_batch_size)


class Run:
    """Everything the loop holds between steps (one instance per process)."""

    def __init__(self, cfg: TrainConfig, out: Path, *, resume: bool, sampler: Sampler | None,
                 progress: bool = True) -> None:
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs

        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise UserError("device: cuda was asked for but no CUDA device is available")
        # No buffer broadcast in DDP's forward: ranks run different numbers of forward passes
        # (their shares of a step's groups differ), so a collective there would deadlock.
        self.acc = Accelerator(cpu=cfg.device == "cpu", kwargs_handlers=[
            DistributedDataParallelKwargs(broadcast_buffers=False)])
        self.rank, self.world = self.acc.process_index, self.acc.num_processes
        self.device = self.acc.device
        self.cfg, self.out = cfg, Path(out)
        found = self._prepare_dir(resume)
        self.start_step = found[0] if found else 0

        torch.manual_seed(cfg.seed)  # LoRA adapters are initialised from the global generator
        # fp32 weights unless asked otherwise; matrix products in bf16 (autocast) where native.
        dtype, autocast = training_precision(cfg.dtype, cfg.autocast, self.device,
                                             lora_rank=cfg.lora_rank)
        # `accelerate launch --mixed_precision` is honoured (bf16) or refused (fp16, fp8).
        self.autocast = launcher_autocast(self.acc.mixed_precision, autocast, dtype)
        self.model, self.tokenizer = load_policy(cfg.model, device=self.device, dtype=dtype,
                                                 lora_rank=cfg.lora_rank,
                                                 weights_from=found[1] if found else None)
        check_fast_paths(self.model, device=self.device)  # else the model's own forward
        if cfg.optim.gradient_checkpointing:
            enable_gradient_checkpointing(self.model)
        # No reference model at all when there is no KL term.
        self.ref = (load_reference(cfg.model, self.model, device=self.device, dtype=dtype)
                    if cfg.loss.kl_coef > 0 else None)
        self.sampler = sampler or make_sampler(self.model, self.tokenizer, cfg,
                                               autocast=self.autocast)
        if found:  # a separate engine (vLLM) starts from `model`, not from the checkpoint
            self.sync_sampler()
        # Training rows must start with the prompt ids the sampler fed the model.
        self.encode = getattr(self.sampler, "encode", None) or partial(encode_prompt,
                                                                       self.tokenizer)
        from rewardkit.verify import configure, start_workers

        configure(workers=cfg.verify.workers or None, timeout_s=cfg.verify.timeout_s,
                  memory_mb=cfg.verify.memory_mb)
        try:
            self.task = get_task(cfg.task, cfg.task_params)
        except UnknownName as e:
            raise UserError(f"task: {e}") from None
        start_workers(self.task)  # the verification pool starts while the first step samples
        self.scorer = RewardScorer([RewardSpec(r.name, r.weight, r.params, r.primary)
                                    for r in cfg.rewards])
        self.data = ProblemStream(load_problems(self.task, data=cfg.data, split="train",
                                                seed=cfg.seed), seed=cfg.seed)

        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.optim.lr,
                                           weight_decay=cfg.optim.weight_decay)
        per_step = cfg.optim.epochs * cfg.optim.updates_per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, partial(
            lr_factor, warmup=cfg.optim.warmup_steps * per_step, total=cfg.steps * per_step,
            schedule=cfg.optim.schedule))
        self.off_policy = per_step > 1  # else old_logp == logp.detach() exactly
        # Several processes: the training forward runs through accelerate's DDP wrapper, which
        # sums (not averages: each minibatch loss is normalised by whole-batch counts) the
        # gradients during the backward pass of an optimizer step's last minibatch.
        self.ddp = None
        if self.world > 1:
            self.ddp = self.acc.prepare_model(CompletionForward(self.model))
            self.ddp.register_comm_hook(None, _sum_gradients)
            self.optimizer = self.acc.prepare_optimizer(self.optimizer)
        self.recompose = resolve_recompose(cfg.filters.recompose)

        self.loss_fn = LOSSES.get(cfg.loss.name)
        # Only what the config set; everything else is the loss's own default.
        self.loss_kwargs = loss_kwargs(cfg.loss)
        # What the loss declared it takes from the batch (losses.batch_fields), nothing more.
        self.loss_batch_args = set(getattr(self.loss_fn, "batch_fields", ()))
        self.loss_whole_groups = bool(getattr(self.loss_fn, "whole_groups", False))
        self.kl_fn = losses.kl_estimator(cfg.loss.kl_estimator)
        self.aggregate = losses.aggregate

        self.counters = {"nonfinite_skipped": 0, "nonfinite_in_a_row": 0}
        if found:
            state = ckpt.load_checkpoint(found[1], optimizer=self.optimizer,
                                         scheduler=self.scheduler, rank=self.rank)
            self.data.consumed = state["data_consumed"]
            self.scorer.load_state_dict(state["reward_state"])
            self.counters.update(state["counters"])
        self._eval_problems: list[Problem] | None = None
        self.log = RunLog(self.out, total_steps=cfg.steps, start_step=self.start_step,
                          enabled=self.acc.is_main_process, progress=progress)

    # -- run directory ----------------------------------------------------------------------------
    def _prepare_dir(self, resume: bool) -> tuple[int, Path] | None:
        out = self.out
        if not resume and ((out / "metrics.jsonl").exists() or ckpt.list_checkpoints(out)):
            raise UserError("already holds a run; pass --resume to continue it, or choose "
                            "another --out", where=str(out))
        found = ckpt.latest_checkpoint(out) if resume else None
        if self.acc.is_main_process:
            out.mkdir(parents=True, exist_ok=True)
            ckpt.clean_staging(out)
            ckpt.truncate_metrics(out, found[0] if found else 0)
            saved = out / "config.yaml"
            if resume and saved.exists():
                old, new = yaml.safe_load(saved.read_text()), yaml.safe_load(dump_config(self.cfg))
                changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                if changed:
                    log.warning("resuming with a changed config: %s", ", ".join(changed))
            atomic_write_text(saved, dump_config(self.cfg))
            if resume:
                log.info("resuming from %s", found[1] if found else "scratch (no checkpoint)")
            if found and found[0] >= self.cfg.steps:
                log.warning("the run already reached step %d of %d; raise `steps` to continue",
                            found[0], self.cfg.steps)
        self.acc.wait_for_everyone()
        return found

    def save(self, step: int) -> None:
        if self.world > 1:  # every rank must hold the same weights; only rank 0 writes them
            checksum = float(sum(p.detach().double().sum() for p in self.params))
            if len(set(self.all_gather(checksum))) > 1:
                raise TrainingError(f"step {step}: the ranks' weights diverged")
        state = {"step": step, "data_consumed": self.data.consumed,
                 "reward_state": self.scorer.state_dict(), "counters": self.counters,
                 "world_size": self.world}
        ckpt.save_checkpoint(self.out, step, model=self.model, tokenizer=self.tokenizer,
                             optimizer=self.optimizer, scheduler=self.scheduler,
                             trainer_state=state, keep=self.cfg.checkpoint.keep, rank=self.rank,
                             barrier=self.acc.wait_for_everyone)

    # -- model helpers ----------------------------------------------------------------------------
    def sync_sampler(self) -> None:
        """Copy the policy's weights into a sampler that holds its own (vLLM), after an update;
        HFSampler decodes from the policy's live weights and has nothing to copy."""
        load = getattr(self.sampler, "load_weights", None)
        if load is not None:
            load(self.model)

    @torch.no_grad()
    def fill_logprobs(self, rows: list[Row], attr: str, model: Any, *,
                      temperature: float | None = None) -> None:
        """Set `row.<attr>` to the (T_i,) log-probs of its completion under `model` (no grad),
        at `temperature` (default: the sampling temperature)."""
        size = self.cfg.optim.minibatch_size
        if temperature is None:
            temperature = self.cfg.sampling.temperature
        for i in range(0, len(rows), size):
            chunk = rows[i: i + size]
            batch = collate(chunk, pad_id=self.tokenizer.pad_token_id, device=self.device)
            logp, _ = _token_logprobs(model, batch, temperature=temperature,
                                      autocast=self.autocast)
            for row, lp in zip(chunk, logp):
                setattr(row, attr, lp[: len(row.completion_ids)].detach())

    def eval_problems(self) -> list[Problem]:
        if self._eval_problems is None:
            self._eval_problems = []
            if hasattr(self.task, "problems"):
                self._eval_problems = list(self.task.problems("test", self.cfg.eval_problems,
                                                              self.cfg.seed))
            else:
                log.warning("eval_every is set but task %r has no held-out generator; "
                            "use `rewardkit eval`", self.cfg.task)
        return self._eval_problems if self.acc.is_main_process else []

    # -- collectives (no-ops in one process) ------------------------------------------------------
    def gather(self, objects: list) -> list:
        """Every rank's list, concatenated in rank order."""
        if self.world == 1:
            return objects
        from accelerate.utils import gather_object

        return gather_object(objects)

    def all_gather(self, value: int) -> list[int]:
        return self.gather([value])

    def sum(self, value: float) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return float(t.item())

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
        batch = collate([Row([pad], [pad], weight=0.0)], pad_id=pad, device=self.device)
        logp, _ = _token_logprobs(self.model, batch, temperature=1.0, forward=self.ddp)
        (logp.sum() * 0.0).backward()


def _sum_gradients(state, bucket):  # no annotations: DDP checks them, and they are strings here
    """DDP communication hook: sum a gradient bucket over ranks (DDP's default averages)."""
    work = torch.distributed.all_reduce(bucket.buffer(), async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])
