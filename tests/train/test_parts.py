"""The loop's step functions on hand-built parts (issue 16 item 6): an update, the optimizer's
non-finite guard, a collection round and the rows for an update, each without a run directory,
an accelerator or (where the step needs none) a model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tinyrun
import torch

from rewardkit.config import OptimConfig, load_config
from rewardkit.errors import UserError
from rewardkit.rewards.combine import RewardScorer, RewardSpec
from rewardkit.train import loop
from rewardkit.train.data import ProblemStream
from rewardkit.train.dist import Dist, check_distributed_type
from rewardkit.train.optimizer import MAX_NONFINITE_IN_A_ROW, Optimization, TrainingError
from rewardkit.train.parts import LossSpec, Policy, Rollout
from rewardkit.train.policy import Row, load_policy, token_logprobs
from rewardkit.types import Completion, Group

CPU = torch.device("cpu")


def snapshot(params) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


# -- the optimizer part alone -----------------------------------------------------------------


def test_optimizer_steps_skips_nonfinite_steps_and_stops_after_the_limit():
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    # warm-up over 2 optimizer steps: lr 0.05, then 0.1; a skipped step must not advance it
    optim = Optimization.adamw(layer, OptimConfig(lr=0.1, warmup_steps=2, max_grad_norm=1e9),
                               steps=10)
    x = torch.randn(4, 3)

    def backward(scale: float = 1.0) -> list[torch.Tensor]:
        (layer(x).pow(2).sum() * scale).backward()
        return [p.grad.clone() for p in optim.params]

    assert optim.lr == pytest.approx(0.05)
    grads, before = backward(), snapshot(optim.params)
    norm = optim.step(True)
    assert norm == pytest.approx(float(torch.cat([g.ravel() for g in grads]).norm()), rel=1e-6)
    for p, w, g in zip(optim.params, before, grads):  # Adam's first step: lr * g / (|g| + eps)
        torch.testing.assert_close(p.detach(), w - 0.05 * g / (g.abs() + 1e-8))
        assert p.grad is None  # cleared for the next step
    assert optim.lr == pytest.approx(0.1)

    # A NaN gradient never reaches the weights; the schedule does not move.
    before = snapshot(optim.params)
    backward(float("nan"))
    assert math.isnan(optim.step(True))
    # Another rank's NaN loss (finite=False) skips a step with finite local gradients too.
    backward()
    assert math.isfinite(optim.step(False))
    assert all(torch.equal(p, w) for p, w in zip(optim.params, before))
    assert optim.counters == {"nonfinite_skipped": 2, "nonfinite_in_a_row": 2}
    assert optim.lr == pytest.approx(0.1) and all(p.grad is None for p in optim.params)

    # A good step resets the run of bad ones; MAX_NONFINITE_IN_A_ROW bad ones stop training.
    backward()
    optim.step(True)
    assert optim.counters == {"nonfinite_skipped": 2, "nonfinite_in_a_row": 0}
    before = snapshot(optim.params)
    for _ in range(MAX_NONFINITE_IN_A_ROW - 1):
        backward(float("inf"))
        optim.step(True)
    backward(float("inf"))
    with pytest.raises(TrainingError, match=f"{MAX_NONFINITE_IN_A_ROW} optimizer steps in a row"):
        optim.step(True)
    assert optim.counters["nonfinite_skipped"] == 2 + MAX_NONFINITE_IN_A_ROW
    assert all(torch.equal(p, w) for p, w in zip(optim.params, before))


# -- policy_update on a policy, an optimizer, a loss and one process ---------------------------


def hand_rows(tokenizer) -> list[Row]:
    """2 groups x 4 completions of unequal lengths (1-5 tokens), advantages of both signs."""
    prompts = [tokenizer("1+2=").input_ids, tokenizer("13+4=").input_ids]
    lengths = [[3, 1, 5, 2], [4, 4, 1, 3]]
    advantages = [[1.0, -1.0, 0.5, -0.5], [-1.5, 1.5, 0.0, 0.25]]
    rng = np.random.default_rng(0)
    return [Row(prompts[g], [int(t) for t in rng.integers(3, 20, n)], advantage=a, group=g)
            for g in range(2) for n, a in zip(lengths[g], advantages[g])]


def test_policy_update_on_hand_built_parts(make_config, tiny_model):
    # minibatch 3 over 8 rows: gradients accumulate over 3 minibatches of one optimizer step
    cfg = load_config(make_config(autocast="none", optim={"lr": 0.01, "minibatch_size": 3,
                                                          "max_grad_norm": 0.5}))
    model, tokenizer = load_policy(str(tiny_model), device=CPU, dtype=torch.float32)
    policy = Policy(model, tokenizer, CPU)  # no sampler, no reference, no DDP
    optim = Optimization.adamw(model, cfg.optim, steps=cfg.steps)
    rows = hand_rows(tokenizer)

    # By hand: on-policy clip with token_mean is -sum_i A_i sum_t log pi(t) / N in gradient,
    # -sum_i A_i n_i / N in value (every ratio is 1), N = 23 completion tokens.
    n_tokens = sum(len(r.completion_ids) for r in rows)
    expected_loss = -sum(r.advantage * len(r.completion_ids) for r in rows) / n_tokens
    logp, _ = token_logprobs(model, policy.collate(rows), temperature=cfg.sampling.temperature)
    adv = torch.tensor([r.advantage for r in rows])[:, None]
    objective = -(adv * logp).sum() / n_tokens  # logp is 0 off the completion tokens
    grads = torch.autograd.grad(objective, optim.params)
    expected_norm = float(torch.cat([g.ravel() for g in grads]).norm())
    assert expected_norm > cfg.optim.max_grad_norm  # so clipping acts
    before = snapshot(optim.params)

    out = loop.policy_update(policy, optim, LossSpec.from_config(cfg.loss), Dist(), cfg, rows,
                             step=1)
    assert out["loss"] == pytest.approx(expected_loss, rel=1e-6)
    assert out["grad_norm"] == pytest.approx(expected_norm, rel=1e-4)
    assert out["loss/ratio_min"] == out["loss/ratio_max"] == 1.0
    assert out["lr"] == 0.01 and out["nonfinite_skipped"] == 0
    # Adam's first step after clipping to 0.5: lr * g / (|g| + eps), g = clipped gradient.
    scale = cfg.optim.max_grad_norm / (expected_norm + 1e-6)
    for p, w, g in zip(optim.params, before, grads):
        g = g * scale
        # (tolerance: see test_invariance: near-zero gradient entries round differently)
        torch.testing.assert_close(p.detach(), w - 0.01 * g / (g.abs() + 1e-8),
                                   rtol=1e-4, atol=1e-4)


def test_policy_update_with_nothing_to_learn_from_takes_no_step(make_config, tiny_model):
    cfg = load_config(make_config())
    model, tokenizer = load_policy(str(tiny_model), device=CPU, dtype=torch.float32)
    optim = Optimization.adamw(model, cfg.optim, steps=cfg.steps)
    before = snapshot(optim.params)
    out = loop.policy_update(Policy(model, tokenizer, CPU), optim, LossSpec.from_config(cfg.loss),
                             Dist(), cfg, [], step=1)
    assert math.isnan(out["loss"]) and math.isnan(out["grad_norm"])
    assert all(torch.equal(p, w) for p, w in zip(optim.params, before))


# -- collect: a rollout and a sampler, no model at all -----------------------------------------


def test_collect_refills_with_a_scripted_sampler_and_no_model(make_config):
    cfg = load_config(make_config(rewards=[{"name": "accuracy"}], filters={
        "dynamic_sampling": True, "max_refill_rounds": 2}))
    task = tinyrun.CountTask()
    sampler = tinyrun.ScriptedSampler([["equal", "mixed"], ["three"]])
    policy = Policy(model=None, tokenizer=None, device=CPU, sampler=sampler)
    rollout = Rollout(task, RewardScorer([RewardSpec("accuracy")]),
                      ProblemStream(task.problems("train", 10, 0), seed=0))

    kept, seen, timing = loop.collect(policy, rollout, Dist(), cfg, step=1)
    # round 0: 2 prompts, the all-wrong group is dropped; round 1: 1 more prompt, kept
    assert sampler.calls == [2, 1] and timing["rounds"] == 2
    assert len(seen.groups) == 3 and rollout.data.consumed == 3
    assert [sum(g.correct) for g in kept.groups] == [2, 3]
    assert [s[:, 0].tolist() for s in kept.scores] == [[1, 0, 1, 0], [1, 1, 1, 0]]
    assert kept.prompts == [task.prompt(g.problem) for g in kept.groups]


# -- prepare_rows: a policy with a reference, a scorer, a loss, one process ---------------------


def test_prepare_rows_takes_the_kl_out_of_the_reward(make_config, tiny_model):
    cfg = load_config(make_config(autocast="none", loss={"kl_coef": 0.5, "kl_in_reward": True}))
    model, tokenizer = load_policy(str(tiny_model), device=CPU, dtype=torch.float32)
    ref, _ = load_policy(str(tiny_model), device=CPU, dtype=torch.float32)
    torch.manual_seed(0)
    with torch.no_grad():  # a reference the policy has moved away from
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    policy = Policy(model, tokenizer, CPU, ref=ref)
    task = tinyrun.CountTask()
    problems = task.problems("train", 2, 0)
    ids = [[(5, 6), (7,), (8, 9, 10), (11, 12)], [(3, 4, 5, 6), (7, 8), (9,), (10, 11, 12)]]
    groups = [Group(p, [Completion("", len(t), token_ids=t) for t in ts], 6)
              for p, ts in zip(problems, ids)]
    accuracy = [np.array([[1.0], [0.0], [1.0], [0.0]]), np.array([[0.0], [0.0], [1.0], [1.0]])]
    kept = loop.Batch(groups, accuracy, [task.prompt(p) for p in problems])

    rows = loop.prepare_rows(policy, RewardScorer([RewardSpec("accuracy")]),
                             LossSpec.from_config(cfg.loss), Dist(), cfg, kept)

    assert [r.prompt_ids for r in rows] == [tokenizer(task.prompt(p)).input_ids
                                            for p in problems for _ in range(4)]
    assert [tuple(r.completion_ids) for r in rows] == [t for ts in ids for t in ts]
    assert [r.reward for r in rows] == [1, 0, 1, 0, 0, 0, 1, 1]  # the reward before the KL
    kl = []
    for r in rows:  # by hand, one row at a time: k3 = e^(ref - pi) - (ref - pi) - 1, summed
        batch = policy.collate([Row(r.prompt_ids, r.completion_ids)])
        with torch.no_grad():
            pi = token_logprobs(model, batch, temperature=1.0)[0][0]
            pi_ref = token_logprobs(ref, batch, temperature=1.0)[0][0]
        torch.testing.assert_close(r.old_logp, pi, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(r.ref_logp, pi_ref, rtol=1e-5, atol=1e-5)
        d = (pi_ref - pi).double()
        kl.append(float((d.exp() - d - 1).sum()))
    assert min(kl) > 0
    shaped = np.array([r.reward - 0.5 * k for r, k in zip(rows, kl)]).reshape(2, 4)
    # GRPO over the shaped totals: (x - group mean) / (Bessel std + 1e-6)
    expected = (shaped - shaped.mean(1, keepdims=True)) / (shaped.std(1, ddof=1, keepdims=True)
                                                           + 1e-6)
    assert [r.advantage for r in rows] == pytest.approx(expected.ravel().tolist(), rel=1e-4)


@pytest.mark.parametrize("flag", ["ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED"])
def test_sharded_launches_are_refused_before_a_model_loads(monkeypatch, flag):
    # What `accelerate launch --use_fsdp` / `--use_deepspeed` set for the processes it starts.
    monkeypatch.setenv(flag, "true")
    with pytest.raises(UserError, match="is not supported; rewardkit trains in one process or"):
        Dist.start("cpu")


def test_one_process_and_ddp_launches_are_accepted():
    from accelerate.utils import DistributedType

    for kind in (DistributedType.NO, DistributedType.MULTI_CPU, DistributedType.MULTI_GPU):
        check_distributed_type(kind)
    with pytest.raises(UserError, match="distributed type XLA"):
        check_distributed_type(DistributedType.XLA)
