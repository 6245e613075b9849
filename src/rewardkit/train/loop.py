"""GRPO-family reinforcement learning on one machine, as one readable loop.

    rewardkit train configs/grpo.yaml --out runs/grpo          # or: train(cfg, "runs/grpo")

One step:
  1. take P prompts and sample G completions each; the sampler's seed comes from (seed, step,
     round, rank), so a resumed run samples exactly what the uninterrupted run would have
  2. verify each completion once (task.verify), score it with every per-group reward ->
     a (G, K) array per group, and a NaN-aware weighted total per completion (NaN when a
     primary reward, e.g. accuracy, is NaN: the verifier could not judge)
  3. filters: dynamic sampling drops groups whose totals are all equal and refills the batch
     from new prompts (DAPO, DLER), sampling `filters.oversample` x the missing groups per
     round; `filters.recompose` picks the batch from the kept groups; then batch-level rewards
     (GRPO-λ) are scored once over the finished batch of every rank; overlong filtering gives
     truncated completions zero weight
  4. advantages (P, G) over the whole batch (KL may first be taken out of the reward)
  5. PPO-style update: `epochs` x `updates_per_epoch` optimizer steps, each accumulating
     gradients over minibatches; per-token loss (clip / gspo / cispo / ...), aggregation, KL to a
     reference and entropy bonus, grad clipping, AdamW with warm-up and decay
  6. stateful rewards learn from the step's batch (RewardScorer.end_step); metrics; checkpoint

With epochs = updates_per_epoch = 1 the update is on-policy: old log-probs equal the current ones,
so `old_logp = logp.detach()` is exact and saves a forward pass.

Distributed (`accelerate launch --num_processes N -m rewardkit train ...`): groups stay whole in
one process; each rank samples and scores its share of the prompts; advantages are computed over
the gathered batch; the training forward runs through accelerate's DDP wrapper, which sums the
gradients (each minibatch loss normalised by whole-batch counts) in an optimizer step's last
backward; every rank takes the same step. Metrics and rewards see groups without token arrays.

Each step function takes only the parts it uses (run.py lists them): the policy, the rollout
(problems, task, rewards), the loss, the optimizer, the distributed context, and the config.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardkit.advantages import compute_advantages
from rewardkit.config import TrainConfig
from rewardkit.losses import aggregate
from rewardkit.rewards.combine import RewardScorer
from rewardkit.sampling.base import Sampler, SamplingParams
from rewardkit.train import filters
from rewardkit.train.data import seed_for
from rewardkit.train.dist import Dist
from rewardkit.train.metrics import (
    StepStats,
    accuracies,
    peak_memory,
    rollout_metrics,
    sample_rows,
    slim_group,
    warn_if_unhealthy,
)
from rewardkit.train.optimizer import Optimization
from rewardkit.train.parts import LossSpec, Policy, Rollout
from rewardkit.train.policy import Row, TokenBatch, completion_ids
from rewardkit.train.run import Run
from rewardkit.types import Completion, Group
from rewardkit.verify import status_fractions, verify_groups


@dataclass
class Batch:
    """Verified, scored groups of one rank, with the prompt texts the sampler saw."""

    groups: list[Group] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)  # one (G, K) array per group
    prompts: list[str] = field(default_factory=list)

    def add(self, other: Batch, keep: np.ndarray | list[int]) -> None:
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else keep
        for i in idx:
            self.groups.append(other.groups[i])
            self.scores.append(other.scores[i])
            self.prompts.append(other.prompts[i])


def train(cfg: TrainConfig, out: str | Path, *, resume: bool = False,
          sampler: Sampler | None = None, stop_after: int | None = None,
          progress: bool = True) -> list[dict[str, Any]]:
    """Run (or resume) training into `out`; returns this process's metric rows."""
    run = Run.build(cfg, Path(out), resume=resume, sampler=sampler, progress=progress)
    policy, rollout, optim, loss, dist = run.policy, run.rollout, run.optim, run.loss, run.dist
    scorer, log = rollout.scorer, run.rundir.log
    rows = []
    try:
        for step in range(run.rundir.start_step + 1, cfg.steps + 1):
            t0 = time.perf_counter()
            kept, seen, timing = collect(policy, rollout, dist, cfg, step)            # 1-3
            t1 = time.perf_counter()
            rows_local = prepare_rows(policy, scorer, loss, dist, cfg, kept)          # 4
            update = policy_update(policy, optim, loss, dist, cfg, rows_local, step)  # 5
            policy.sync_sampler()  # a vLLM engine samples the next step with the new weights
            t2 = time.perf_counter()
            slim = [slim_group(g) for g in seen.groups]  # no per-token arrays between ranks
            everything = dist.gather(list(zip(slim, seen.scores, seen.prompts)))
            groups, scores, prompts = ([list(x) for x in zip(*everything)] if everything
                                       else ([], [], []))
            scorer.end_step(groups, step=step - 1)                      # 6 (0-based step)
            row = {"step": step, **update,
                   **rollout_metrics(groups, scores, scorer.labels, scorer.weights,
                                     scorer.primary),
                   **status_fractions(groups),
                   "kept_groups": int(dist.sum(len(kept.groups))), "sampled_groups": len(groups),
                   "refill_rounds": timing["rounds"] - 1}
            if cfg.eval_every and step % cfg.eval_every == 0 and dist.is_main:
                row |= evaluate(policy.sampler, rollout, cfg, step)
            row |= {"time/step_s": time.perf_counter() - t0, "time/generate_s": timing["generate"],
                    "time/score_s": timing["score"], "time/update_s": t2 - t1,
                    **peak_memory(dist.device)}
            warn_if_unhealthy(log, cfg, step, row)
            log.step(row, sample_rows(step, groups, scores, scorer.labels, scorer.weights,
                                      prompts, primary=scorer.primary))
            rows.append(row)
            if step == cfg.steps or (cfg.checkpoint.every and step % cfg.checkpoint.every == 0):
                run.rundir.save(step, policy=policy, optim=optim, rollout=rollout, dist=dist)
            if stop_after is not None and step >= stop_after:
                break
    finally:
        log.close()
    return rows


def off_policy(cfg: TrainConfig) -> bool:
    """Several optimizer steps per batch: the policy moves between them, so the ratio needs the
    sampling policy's log-probs; with one, `old_logp = logp.detach()` is exact."""
    return cfg.optim.epochs * cfg.optim.updates_per_epoch > 1


# ---------------------------------------------------------------------------------------------
# 1-3: sample, verify, score, filter


def collect(policy: Policy, rollout: Rollout, dist: Dist, cfg: TrainConfig, step: int
            ) -> tuple[Batch, Batch, dict[str, float]]:
    """This rank's batch (its kept groups, recomposed to its share of `prompts_per_step`), every
    group it sampled, and timings. Refills and over-samples when filtering.

    The batch's score arrays are the same objects as in `seen`, so the batch-level columns filled
    at the end show in both (dropped groups keep NaN there: they are in no batch)."""
    scorer = rollout.scorer
    want = cfg.prompts_per_step // dist.world + (dist.rank < cfg.prompts_per_step % dist.world)
    rounds = 1 + (cfg.filters.max_refill_rounds if cfg.filters.dynamic_sampling else 0)
    kept, seen = Batch(), Batch()
    timing = {"generate": 0.0, "score": 0.0, "rounds": 0}
    for rnd in range(rounds):
        missing = [int(n) for n in dist.all_gather(max(0, want - len(kept.groups)))]  # per rank
        if sum(missing) == 0:
            break
        need = [filters.prompts_to_sample(n, cfg.filters.oversample) for n in missing]
        # Every rank advances the same shared cursor and takes its own slice of it.
        problems = rollout.data.take(sum(need))[sum(need[: dist.rank]):][: need[dist.rank]]
        prompts = [rollout.task.prompt(p) for p in problems]
        t = time.perf_counter()
        completions = sample_with_needs(policy, scorer.needs, cfg, prompts,
                                        seed_for(cfg.seed, step, rnd, dist.rank))
        t2 = time.perf_counter()
        groups = verify_groups(rollout.task, [Group(p, cs, cfg.sampling.max_new_tokens)
                                              for p, cs in zip(problems, completions)])
        # Rewards see 0-based steps (steps completed before this one, rewards/base.py).
        fresh = Batch(groups, scorer.score_groups(groups, step=step - 1), prompts)
        timing["generate"] += t2 - t
        timing["score"] += time.perf_counter() - t2
        timing["rounds"] += 1
        seen.add(fresh, list(range(len(groups))))
        totals = [scorer.group_total(s) for s in fresh.scores]  # P arrays (G,)
        keep = (filters.informative_groups(totals) if cfg.filters.dynamic_sampling
                else np.ones(len(totals), dtype=bool))
        kept.add(fresh, keep)
    # Which kept groups form the batch (DAPO: the first `want`; a recomposition hook may choose).
    final = rollout.recompose([scorer.group_total(s) for s in kept.scores], target=want)
    out = Batch()
    out.add(kept, final[:want])
    t = time.perf_counter()
    score_batch_level(scorer, dist, out, step - 1)
    timing["score"] += time.perf_counter() - t
    return out, seen, timing


def sample_with_needs(policy: Policy, needs: frozenset[str], cfg: TrainConfig,
                      prompts: list[str], seed: int) -> list[list[Completion]]:
    """G completions per prompt, carrying the per-token fields the rewards read (`needs`):
    the sampler's log-probs / entropies, and SAR's question-free log-probs from the trainer."""
    if not prompts:
        return []
    params = SamplingParams(
        n=cfg.sampling.group_size, max_new_tokens=cfg.sampling.max_new_tokens,
        temperature=cfg.sampling.temperature, top_p=cfg.sampling.top_p, seed=seed,
        return_logprobs="logprobs" in needs, return_entropies="entropies" in needs)
    completions = policy.sampler.sample(prompts, params)
    if "unconditional_logprobs" in needs:
        completions = with_unconditional_logprobs(policy, completions,
                                                  batch_size=cfg.optim.minibatch_size)
    return completions


@torch.no_grad()
def with_unconditional_logprobs(policy: Policy, completions: list[list[Completion]], *,
                                batch_size: int) -> list[list[Completion]]:
    """Copies carrying `unconditional_logprobs`: log pi(a_j | a_<j) of each completion's tokens
    with no question before them (SAR's ppl(a), https://arxiv.org/abs/2509.05489).

    "No question" is a one-token context, the tokenizer's BOS token (its EOS token when it has
    none, as GPT-2-style models start documents), since the first answer token needs something
    to be predicted from. Temperature 1 and no top-p, like the sampler's `logprobs`
    (sampling/hf.py), so both perplexities use the same distribution."""
    tok = policy.tokenizer
    start = [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]
    flat = [c for cs in completions for c in cs]
    rows = [Row(start, completion_ids(tok, c)) for c in flat]
    policy.fill_logprobs([r for r in rows if r.completion_ids], "old_logp", temperature=1.0,
                         batch_size=batch_size)
    values = [tuple(r.old_logp.tolist()) if r.old_logp is not None else () for r in rows]
    out = iter(dataclasses.replace(c, unconditional_logprobs=v) for c, v in zip(flat, values))
    return [[next(out) for _ in cs] for cs in completions]


def score_batch_level(scorer: RewardScorer, dist: Dist, batch: Batch, step: int) -> None:
    """Fill the batch-level reward columns (GRPO-λ) of `batch`'s score arrays, in place, scored
    once over the step's whole batch: the kept groups of every rank, in rank order."""
    if not scorer.batch_level.any():
        return
    # One (groups, scores) pair per rank, at any world size alike: slim, but with the per-token
    # arrays the rewards declared they read (@needs).
    slim = [slim_group(g, keep=scorer.needs) for g in batch.groups]
    parts = dist.gather([(slim, batch.scores)])
    groups = [g for gs, _ in parts for g in gs]
    scores = [s for _, ss in parts for s in ss]
    filled = scorer.score_batch_level(groups, scores, step=step)
    offset = sum(len(gs) for gs, _ in parts[: dist.rank])
    for mine, new in zip(batch.scores, filled[offset: offset + len(batch.scores)]):
        mine[...] = new


# ---------------------------------------------------------------------------------------------
# 4: rows with old/reference log-probs and advantages


def prepare_rows(policy: Policy, scorer: RewardScorer, loss: LossSpec, dist: Dist,
                 cfg: TrainConfig, kept: Batch) -> list[Row]:
    """One training row per kept completion: prompt ids as sampled, completion ids, overlong
    weight, total reward, the log-probs the loss will need, and its advantage."""
    G = cfg.sampling.group_size
    totals = np.array([scorer.total(s) for s in kept.scores]).reshape(-1, G)  # (P, G)
    truncated = np.array([[c.truncated for c in g.completions] for g in kept.groups], dtype=bool)
    weights = (filters.overlong_weights(truncated.reshape(-1, G)) if cfg.filters.overlong_mask
               else np.ones_like(totals))  # (P, G)
    rows = []
    for g, (group, prompt) in enumerate(zip(kept.groups, kept.prompts)):
        p_ids = policy.encode(prompt)  # exactly the ids the sampler fed the model
        for i, c in enumerate(group.completions):
            rows.append(Row(p_ids, completion_ids(policy.tokenizer, c),
                            weight=float(weights[g, i]), reward=float(totals[g, i]), group=g))
    sampled_at = {"temperature": cfg.sampling.temperature, "batch_size": cfg.optim.minibatch_size}
    # Old log-probs are only needed when the policy moves between optimizer steps of one batch.
    if off_policy(cfg) or loss.kl_from_reward:
        policy.fill_logprobs(rows, "old_logp", **sampled_at)
    if loss.kl_coef > 0:
        with policy.reference() as ref:
            policy.fill_logprobs(rows, "ref_logp", model=ref, **sampled_at)

    lengths = np.array([g.lengths for g in kept.groups], dtype=np.float64).reshape(-1, G)
    if loss.kl_from_reward:  # sequence KL, subtracted from the reward
        kl = np.array([float(loss.kl_fn(r.old_logp, r.ref_logp).sum()) for r in rows])
        totals = totals - loss.kl_coef * kl.reshape(-1, G)
    # Advantages over the whole (gathered) batch, then this rank's rows.
    parts = dist.gather([(totals, lengths)])  # one (totals, lengths) pair per rank
    adv = compute_advantages(cfg.advantage.name, np.concatenate([t for t, _ in parts]),
                             lengths=np.concatenate([n for _, n in parts]),
                             max_new_tokens=cfg.sampling.max_new_tokens,
                             params=cfg.advantage.params)  # (P_all, G)
    offset = sum(len(t) for t, _ in parts[: dist.rank])
    for row, a in zip(rows, np.asarray(adv)[offset: offset + len(totals)].ravel()):
        row.advantage = float(a)
    return rows


# ---------------------------------------------------------------------------------------------
# 5: the update


def policy_update(policy: Policy, optim: Optimization, loss: LossSpec, dist: Dist,
                  cfg: TrainConfig, rows: list[Row], step: int) -> dict[str, float]:
    """`epochs` x `updates_per_epoch` optimizer steps on this rank's rows (in step with the
    other ranks); the mean loss and gradient norm over them, and the loss statistics."""
    G = cfg.sampling.group_size
    counters = {"lr": optim.lr, "nonfinite_skipped": optim.counters["nonfinite_skipped"]}
    if dist.sum(len(rows)) == 0:  # every group was filtered out: nothing to learn from
        return {"loss": math.nan, "grad_norm": math.nan} | counters
    stats = StepStats()
    loss_sum, grad_norm_sum, n_updates = 0.0, 0.0, 0  # means over the optimizer steps taken
    for epoch in range(cfg.optim.epochs):
        # Shuffle whole groups: a minibatch that is a multiple of G keeps its groups intact
        # (DRPO normalises per question).
        rng = np.random.default_rng(seed_for(cfg.seed, step, epoch, dist.rank))
        groups = rng.permutation(len(rows) // G if rows else 0)
        for part in np.array_split(groups, cfg.optim.updates_per_epoch):
            part_rows = [rows[g * G + i] for g in part for i in range(G)]
            if not loss.whole_groups:  # no whole groups needed: sort by length, less padding
                part_rows.sort(key=lambda r: len(r.prompt_ids) + len(r.completion_ids))
            # Every minibatch loss is normalised by the counts of the whole part on all ranks,
            # so the gradients summed over minibatches and ranks equal those of one big batch.
            norms = global_counts(dist, part_rows, n_groups=len(part))
            if norms["n_rows"] == 0:  # more optimizer steps than groups: nothing in this one
                continue
            finite, starts = True, range(0, len(part_rows), cfg.optim.minibatch_size)
            for i in starts:
                last = i == starts[-1]
                with policy.minibatch_context(last):  # DDP reduces gradients in the last backward
                    mb = policy.collate(part_rows[i: i + cfg.optim.minibatch_size])
                    mb_loss, mb_stats = minibatch_loss(policy, loss, cfg, mb, norms)
                    value = float(mb_loss.detach())  # one device sync per minibatch
                    loss_sum += value  # NaN shows here
                    finite = finite and math.isfinite(value)
                    if math.isfinite(value):
                        stats.add(mb_stats, weight=float(mb.mask.sum()))
                    if math.isfinite(value) or (last and policy.ddp is not None):
                        mb_loss.backward()  # (a non-finite step is skipped: its gradients unused)
            if not starts:
                policy.sync_gradients_without_rows()
            grad_norm_sum += optim.step(dist.all(finite))  # skipped if any rank saw NaN/inf
            n_updates += 1
    return ({"loss": dist.sum(loss_sum) / n_updates, "grad_norm": grad_norm_sum / n_updates}
            | stats.reduce(dist)
            | counters | {"nonfinite_skipped": optim.counters["nonfinite_skipped"]})


def global_counts(dist: Dist, rows: list[Row], *, n_groups: int) -> dict[str, float]:
    """Normalisers of one optimizer step's batch, summed over ranks: completion tokens on the
    mask (weighted), rows with a token on the mask, all rows, and whole groups (questions)."""
    return {
        "n_tokens": dist.sum(sum(len(r.completion_ids) * r.weight for r in rows)),
        "n_seqs": dist.sum(sum(1 for r in rows if r.completion_ids and r.weight > 0)),
        "n_rows": dist.sum(len(rows)),
        "n_questions": dist.sum(n_groups),
    }


def minibatch_loss(policy: Policy, loss: LossSpec, cfg: TrainConfig, mb: TokenBatch,
                   norms: dict[str, float]) -> tuple[torch.Tensor, dict[str, float]]:
    """One minibatch's part of the batch loss (normalised by the batch's `norms`), and its
    statistics (each over this minibatch)."""
    logp, entropy = policy.logprobs(mb, temperature=cfg.sampling.temperature,
                                    entropy="grad" if loss.entropy_coef > 0 else True)
    old_logp = mb.old_logp if off_policy(cfg) else logp.detach()  # on-policy: exact, no pass
    adv = mb.advantages[:, None].expand_as(logp)  # (B, T): a sequence's advantage on its tokens
    extra = {"rewards": mb.rewards, "group_ids": mb.group_ids,
             "max_new_tokens": cfg.sampling.max_new_tokens,  # for losses that take them (DRPO)
             "n_questions": norms["n_questions"], "n_tokens": norms["n_tokens"]}
    extra = {k: v for k, v in extra.items() if k in loss.batch_fields}
    loss_tok, stats = loss.fn(logp, old_logp, adv, mb.mask, **loss.kwargs, **extra)  # (B, T)
    stats = {f"loss/{k}": float(v) for k, v in stats.items()}
    if loss.kl_in_loss:
        kl = loss.kl_fn(logp, mb.ref_logp)
        loss_tok = loss_tok + loss.kl_coef * kl
        stats["kl"] = float(aggregate(kl.detach(), mb.mask, "token_mean"))
    if loss.entropy_coef > 0:
        loss_tok = loss_tok - loss.entropy_coef * entropy
    stats["entropy"] = float(aggregate(entropy.detach(), mb.mask, "token_mean"))
    stats["advantage/abs_mean"] = float(mb.advantages.abs().mean())
    mb_loss = aggregate(loss_tok, mb.mask, loss.aggregation,
                        max_tokens=cfg.sampling.max_new_tokens, n_tokens=norms["n_tokens"],
                        n_seqs=norms["n_seqs"], n_rows=norms["n_rows"])
    return mb_loss, stats


def evaluate(sampler: Sampler, rollout: Rollout, cfg: TrainConfig, step: int
             ) -> dict[str, float]:
    """Greedy `eval/accuracy`, `eval/accuracy_judged` (as `metrics.accuracies` defines them) and
    length on held-out problems (generator tasks); the loop calls it on rank 0 only."""
    problems = rollout.held_out(cfg.eval_problems, cfg.seed)
    if not problems:
        return {}
    prompts = [rollout.task.prompt(p) for p in problems]
    params = SamplingParams(n=1, max_new_tokens=cfg.sampling.max_new_tokens, temperature=0.0,
                            seed=seed_for(cfg.seed, step, 10**6))
    groups = verify_groups(rollout.task, [Group(p, cs, cfg.sampling.max_new_tokens) for p, cs
                                          in zip(problems, sampler.sample(prompts, params))])
    scores = accuracies([c for g in groups for c in g.correct])
    return {**{f"eval/{k}": v for k, v in scores.items()},
            "eval/length_mean": float(np.mean([n for g in groups for n in g.lengths]))}
