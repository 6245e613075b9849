"""The run directory part: `config.yaml`, metrics and samples (RunLog), and checkpoints, saved
from and restored into the other parts (their formats: checkpoint.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from rewardkit.config import TrainConfig, dump_config
from rewardkit.errors import UserError
from rewardkit.fileio import atomic_write_text
from rewardkit.train import checkpoint as ckpt
from rewardkit.train.metrics import RunLog
from rewardkit.train.optimizer import TrainingError

if TYPE_CHECKING:
    from rewardkit.train.dist import Dist
    from rewardkit.train.optimizer import Optimization
    from rewardkit.train.parts import Policy, Rollout

log = logging.getLogger("rewardkit.train")


@dataclass
class RunDir:
    """Where a run writes; the checkpoint it resumes from, if any."""

    out: Path
    resume_from: tuple[int, Path] | None = None
    """(step, directory) of the newest complete checkpoint when resuming"""
    keep: int = 2
    """checkpoints kept (older ones are removed)"""
    log: RunLog | None = None

    @property
    def start_step(self) -> int:
        """The last step already done: the loop continues after it."""
        return self.resume_from[0] if self.resume_from else 0

    @classmethod
    def prepare(cls, out: Path, *, resume: bool, keep: int) -> RunDir:
        """Refuse to overwrite a run unless resuming; find the checkpoint to resume from.
        Writes nothing: `begin` does, once every part of the run is built, so a run that fails
        to start (bad data, a missing model) leaves the directory as it was."""
        out = Path(out)
        if not resume and ((out / "metrics.jsonl").exists() or ckpt.list_checkpoints(out)):
            raise UserError("already holds a run; pass --resume to continue it, or choose "
                            "another --out", where=str(out))
        return cls(out, ckpt.latest_checkpoint(out) if resume else None, keep)

    def begin(self, cfg: TrainConfig, *, resume: bool, dist: Dist) -> None:
        """On rank 0: clear what a killed run left past the checkpoint and write config.yaml
        (warning about keys changed since the run started). Every rank waits for it."""
        out, found = self.out, self.resume_from
        if dist.is_main:
            out.mkdir(parents=True, exist_ok=True)
            ckpt.clean_staging(out)
            ckpt.truncate_metrics(out, found[0] if found else 0)
            saved = out / "config.yaml"
            if resume and saved.exists():
                old, new = yaml.safe_load(saved.read_text()), yaml.safe_load(dump_config(cfg))
                changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                if changed:
                    log.warning("resuming with a changed config: %s", ", ".join(changed))
            atomic_write_text(saved, dump_config(cfg))
            if resume:
                log.info("resuming from %s", found[1] if found else "scratch (no checkpoint)")
            if found and found[0] >= cfg.steps:
                log.warning("the run already reached step %d of %d; raise `steps` to continue",
                            found[0], cfg.steps)
        dist.barrier()

    def start_log(self, *, total_steps: int, enabled: bool, progress: bool) -> RunLog:
        self.log = RunLog(self.out, total_steps=total_steps, start_step=self.start_step,
                          enabled=enabled, progress=progress)
        return self.log

    def save(self, step: int, *, policy: Policy, optim: Optimization, rollout: Rollout,
             dist: Dist) -> None:
        """A checkpoint of every part's state after `step`. Collective: every rank calls it."""
        if dist.world > 1:  # every rank must hold the same weights; only rank 0 writes them
            checksum = float(sum(p.detach().double().sum() for p in optim.params))
            if len(set(dist.all_gather(checksum))) > 1:
                raise TrainingError(f"step {step}: the ranks' weights diverged")
        state = {"step": step, "data_consumed": rollout.data.consumed,
                 "reward_state": rollout.scorer.state_dict(), "counters": optim.counters,
                 "world_size": dist.world}
        ckpt.save_checkpoint(self.out, step, model=policy.model, tokenizer=policy.tokenizer,
                             optimizer=optim.optimizer, scheduler=optim.scheduler,
                             trainer_state=state, keep=self.keep, rank=dist.rank,
                             barrier=dist.barrier)

    def restore(self, *, optim: Optimization, rollout: Rollout, dist: Dist) -> None:
        """Load the optimizer, schedule, data cursor, reward state, guard counters and this
        rank's RNG from the checkpoint being resumed (the weights were loaded with the model)."""
        if self.resume_from is None:
            return
        state = ckpt.load_checkpoint(self.resume_from[1], optimizer=optim.optimizer,
                                     scheduler=optim.scheduler, rank=dist.rank)
        rollout.data.consumed = state["data_consumed"]
        rollout.scorer.load_state_dict(state["reward_state"])
        optim.counters.update(state["counters"])
