"""How a run is put together: the parts the loop's step functions take, built from a config.

    Dist          which process this is, and the collectives over processes      dist.py
    RunDir        config.yaml, metrics, samples, checkpoints                     rundir.py
    Policy        model, tokenizer, reference, precision, sampler                parts.py
    Rollout       problem stream, task (prompts, verdicts), rewards, recompose    parts.py
    Optimization  AdamW, learning-rate schedule, clipping, non-finite guard      optimizer.py
    LossSpec      the per-token loss as configured, KL and entropy terms         parts.py

Kept apart from `loop.py` so that the loop reads as the algorithm: `train` builds a `Run` and
hands each step function only the parts it uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rewardkit.config import TrainConfig
from rewardkit.errors import UserError
from rewardkit.precision import launcher_autocast, training_precision
from rewardkit.registry import UnknownName
from rewardkit.rewards.combine import RewardScorer, RewardSpec
from rewardkit.sampling.base import Sampler
from rewardkit.tasks import get_task
from rewardkit.train.data import ProblemStream, load_problems
from rewardkit.train.dist import Dist
from rewardkit.train.filters import resolve_recompose
from rewardkit.train.optimizer import Optimization, TrainingError
from rewardkit.train.parts import LossSpec, Policy, Rollout
from rewardkit.train.policy import (
    check_fast_paths,
    enable_gradient_checkpointing,
    load_policy,
    load_reference,
)
from rewardkit.train.rundir import RunDir

# TrainingError is raised by the parts (optimizer.py, rundir.py); importable from here too.
__all__ = ["Run", "TrainingError", "build_policy", "build_rollout", "make_sampler"]


def make_sampler(model: Any, tokenizer: Any, cfg: TrainConfig, *,
                 autocast: torch.dtype | None = None) -> Sampler:
    """The sampler `cfg.sampling.backend` names, over the policy's weights and tokenizer."""
    s = cfg.sampling
    if s.backend == "vllm":
        from rewardkit.sampling.vllm import VLLMSampler

        try:
            return VLLMSampler(cfg.model, tokenizer=tokenizer, chat_template=s.chat_template,
                               gpu_memory_utilization=s.vllm_gpu_memory_utilization,
                               seed=cfg.seed)
        except ImportError as e:
            raise UserError(f"sampling.backend: vllm: {e}") from None
    from rewardkit.sampling.hf import HFSampler

    # The sampler's fused decode step reads the base weights directly and would not see LoRA
    # adapters, so a peft-wrapped policy decodes through its own forward.
    lora = hasattr(model, "disable_adapter")
    return HFSampler(model, tokenizer, chat_template=s.chat_template, fast_decode=not lora,
                     autocast=autocast, max_batch_size=s.max_batch_size)


@dataclass
class Run:
    """The parts of one training run in one process, as `train` passes them to the loop."""

    cfg: TrainConfig
    dist: Dist
    rundir: RunDir
    policy: Policy
    rollout: Rollout
    optim: Optimization
    loss: LossSpec

    @classmethod
    def build(cls, cfg: TrainConfig, out: Path, *, resume: bool, sampler: Sampler | None,
              progress: bool = True) -> Run:
        """Every part, from `cfg`; resumed from the newest checkpoint in `out` with `resume`.
        The order matters for exact resume: the seed is set before the model is made (LoRA
        adapters are initialised from it) and the saved RNG state restored after everything
        that draws from it."""
        dist = Dist.start(cfg.device)
        rundir = RunDir.prepare(out, resume=resume, keep=cfg.checkpoint.keep)
        weights_from = rundir.resume_from[1] if rundir.resume_from else None
        # Data and rewards first: a reward the data cannot feed fails before a model loads,
        # and the verification pool starts while it loads.
        rollout = build_rollout(cfg)
        torch.manual_seed(cfg.seed)
        policy = build_policy(cfg, dist, sampler, weights_from=weights_from)
        optim = Optimization.adamw(policy.model, cfg.optim, steps=cfg.steps)
        policy.ddp, optim.optimizer = dist.distribute(policy.model, optim.optimizer)
        loss = LossSpec.from_config(cfg.loss)
        rundir.restore(optim=optim, rollout=rollout, dist=dist)
        rundir.begin(cfg, resume=resume, dist=dist)  # the first write into `out`
        rundir.start_log(total_steps=cfg.steps, enabled=dist.is_main, progress=progress)
        return cls(cfg, dist, rundir, policy, rollout, optim, loss)


def build_policy(cfg: TrainConfig, dist: Dist, sampler: Sampler | None, *,
                 weights_from: Path | None) -> Policy:
    """The policy `cfg.model` names (resumed weights from `weights_from`), its reference when
    there is a KL term, and the sampler (the given one, else the one the config names)."""
    if cfg.sampling.backend == "vllm" and dist.world > 1:  # before a model loads
        raise UserError(f"sampling.backend: vllm runs one engine in one training process; "
                        f"this run has {dist.world} (every rank's engine would take the first "
                        "GPU). Use sampling.backend: hf with accelerate launch")
    # fp32 weights unless asked otherwise; matrix products in bf16 (autocast) where native.
    dtype, autocast = training_precision(cfg.dtype, cfg.autocast, dist.device,
                                         lora_rank=cfg.lora_rank)
    if dist.accelerator is not None:
        # `accelerate launch --mixed_precision` is honoured (bf16) or refused (fp16, fp8).
        autocast = launcher_autocast(dist.accelerator.mixed_precision, autocast, dtype)
    model, tokenizer = load_policy(cfg.model, device=dist.device, dtype=dtype,
                                   lora_rank=cfg.lora_rank, weights_from=weights_from)
    check_fast_paths(model, device=dist.device)  # else the model's own forward
    if cfg.optim.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    # No reference model at all when there is no KL term.
    ref = (load_reference(cfg.model, model, device=dist.device, dtype=dtype)
           if cfg.loss.kl_coef > 0 else None)
    sampler = sampler or make_sampler(model, tokenizer, cfg, autocast=autocast)
    policy = Policy(model, tokenizer, dist.device, autocast=autocast, ref=ref, sampler=sampler)
    if weights_from is not None:  # a separate engine (vLLM) starts from `model`, not from it
        policy.sync_sampler()
    return policy


def build_rollout(cfg: TrainConfig) -> Rollout:
    """The task, its verifier pool, the rewards, the seeded problem stream and the hook that
    recomposes the batch. The pool starts in the background; every reward runs once on the
    first problem (`RewardScorer.check_problem`), so missing meta fails here, not at step 1."""
    from rewardkit.verify import configure, start_workers

    configure(workers=cfg.verify.workers or None, timeout_s=cfg.verify.timeout_s,
              memory_mb=cfg.verify.memory_mb)
    try:
        task = get_task(cfg.task, cfg.task_params)
    except UnknownName as e:
        raise UserError(f"task: {e}") from None
    start_workers(task)  # the verification pool starts while the model loads
    scorer = RewardScorer([RewardSpec(r.name, r.weight, r.params, r.primary)
                           for r in cfg.rewards])
    problems = load_problems(task, data=cfg.data, split="train", seed=cfg.seed)
    where = f"data: {cfg.data}" if cfg.data else f"task: {cfg.task}"
    scorer.check_problem(problems[0], where=where)
    data = ProblemStream(problems, seed=cfg.seed)
    return Rollout(task, scorer, data, resolve_recompose(cfg.filters.recompose))
