"""The distributed context of a run: which process this is, how many there are, and the few
collective operations the loop needs. In one process every collective is the identity, and
`Dist()` needs no accelerate at all, so a step function can be called with hand-built parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from rewardkit.errors import UserError
from rewardkit.train.policy import CompletionForward


@dataclass
class Dist:
    """This process's place among the run's processes (ranks), and collectives over them."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    accelerator: Any = None
    """accelerate's Accelerator when the run made one (it prepares DDP and the optimizer)"""

    @classmethod
    def start(cls, device: str) -> Dist:
        """The process state accelerate sets up (one process, or `accelerate launch`'s)."""
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, parse_flag_from_env

        if device == "cuda" and not torch.cuda.is_available():
            raise UserError("device: cuda was asked for but no CUDA device is available")
        # No buffer broadcast in DDP's forward: ranks run different numbers of forward passes
        # (their shares of a step's groups differ), so a collective there would deadlock.
        for flag, kind in (("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED",
                                                             "DEEPSPEED")):
            if parse_flag_from_env(flag):  # what `accelerate launch --use_fsdp` etc. set
                check_distributed_type(kind)
        try:
            acc = Accelerator(cpu=device == "cpu", kwargs_handlers=[
                DistributedDataParallelKwargs(broadcast_buffers=False)])
        except ImportError as e:  # e.g. a DeepSpeed config without deepspeed installed
            raise UserError(f"accelerate: {e}") from None
        check_distributed_type(acc.distributed_type)
        return cls(acc.process_index, acc.num_processes, acc.device, acc)

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes the run directory and logs."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            self.accelerator.wait_for_everyone()

    def gather(self, objects: list) -> list:
        """Every rank's list, concatenated in rank order."""
        if self.world == 1:
            return objects
        from accelerate.utils import gather_object

        return gather_object(objects)

    def all_gather(self, value: Any) -> list:
        """Every rank's `value`, in rank order."""
        return self.gather([value])

    def sum(self, value: float) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return float(t.item())

    def all(self, flag: bool) -> bool:
        """True when `flag` is true on every rank."""
        return self.sum(float(not flag)) == 0

    def distribute(self, model: Any, optimizer: torch.optim.Optimizer) -> tuple[Any, Any]:
        """(DDP-wrapped training forward of `model`, optimizer) with several processes; (None,
        `optimizer`) in one. The wrapper sums (not averages: each minibatch loss is normalised by
        whole-batch counts) the gradients during the backward pass of an optimizer step's last
        minibatch."""
        if self.world == 1:
            return None, optimizer
        ddp = self.accelerator.prepare_model(CompletionForward(model))
        ddp.register_comm_hook(None, _sum_gradients)
        return ddp, self.accelerator.prepare_optimizer(optimizer)


SUPPORTED_LAUNCHES = ("NO", "MULTI_CPU", "MULTI_GPU")


def check_distributed_type(kind: Any) -> None:
    """One process or DDP (`accelerate launch`'s default); FSDP, DeepSpeed and the rest are
    refused before a model loads: the sampler reads the policy's full weights and the gradient
    hook sums DDP buckets, neither of which holds for sharded parameters."""
    name = getattr(kind, "value", str(kind))
    if name not in SUPPORTED_LAUNCHES:
        raise UserError(f"accelerate launch: distributed type {name} is not supported; rewardkit "
                        "trains in one process or with DDP (accelerate launch --num_processes N "
                        "without --use_fsdp / --use_deepspeed)")


def _sum_gradients(state, bucket):  # no annotations: DDP checks them, and they are strings here
    """DDP communication hook: sum a gradient bucket over ranks (DDP's default averages)."""
    work = torch.distributed.all_reduce(bucket.buffer(), async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])
