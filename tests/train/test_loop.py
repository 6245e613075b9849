"""CPU end-to-end runs of the training loop on a tiny random model (tests/train/tinyrun.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rewardkit.config import load_config
from rewardkit.train import run as run_module
from rewardkit.train.checkpoint import latest_checkpoint, read_jsonl
from rewardkit.train.loop import train
from rewardkit.train.optimizer import TrainingError


def weights(directory) -> dict[str, torch.Tensor]:
    return load_file(directory / "model.safetensors")


def test_end_to_end_updates_weights_and_writes_run(make_config, tiny_model, tmp_path, monkeypatch):
    loaded = []
    monkeypatch.setattr(run_module, "load_reference", lambda *a, **k: loaded.append(1))
    cfg = load_config(make_config(steps=2))
    out = tmp_path / "run"
    rows = train(cfg, out)

    assert not loaded  # kl_coef == 0: no reference model is loaded
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert math.isfinite(r["loss"]) and math.isfinite(r["grad_norm"]) and r["grad_norm"] > 0
        assert r["sampled_groups"] == r["kept_groups"] == 2
        assert 0 <= r["length/truncated_frac"] <= 1 and r["length/mean"] <= 6
        assert r["reward/tinyrun.digits/mean"] == r["reward/mean"]  # one reward, weight 1
    written = read_jsonl(out / "metrics.jsonl")
    assert [w["step"] for w in written] == [1, 2]
    assert written[0]["reward/mean"] == rows[0]["reward/mean"]
    # 2 prompts x 4 completions sampled; the first 4 are kept as samples
    samples = [json.loads(x) for x in (out / "samples" / "step-1.jsonl").read_text().splitlines()]
    assert len(samples) == 4 and {"text", "num_tokens", "rewards", "reward"} <= set(samples[0])
    assert (out / "config.yaml").exists()

    step, ckpt = latest_checkpoint(out)
    assert step == 2
    before, after = weights(tiny_model), weights(ckpt)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) > len(before) // 2, changed
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["data_consumed"] == 4  # 2 steps x 2 prompts, no refill


def test_refuses_to_overwrite_a_run(make_config, tmp_path):
    cfg = load_config(make_config(steps=1))
    train(cfg, tmp_path / "run")
    from rewardkit.errors import UserError

    with pytest.raises(UserError, match="--resume"):
        train(cfg, tmp_path / "run")


def _consumed(out) -> int:
    return json.loads((latest_checkpoint(out)[1] / "trainer_state.json").read_text())[
        "data_consumed"]


@pytest.mark.parametrize(("filters", "plan", "expected"), [
    # Over-sampling 1.5x: round 0 samples ceil(1.5 * 2) = 3 prompts and keeps 1 (the mixed one);
    # round 1 samples ceil(1.5 * 1) = 2 and keeps both -> 3 kept, recompose trims to 2.
    ({"oversample": 1.5}, [["equal", "mixed", "equal"], ["mixed", "mixed"]],
     {"calls": [3, 2], "kept": 2, "refills": 1, "sampled": 5, "recompose_saw": 3}),
    # Deficit-only refill (oversample 1): 2 prompts keep 1, then 1 prompt keeps 1.
    ({}, [["equal", "mixed"], ["mixed"]],
     {"calls": [2, 1], "kept": 2, "refills": 1, "sampled": 3, "recompose_saw": 2}),
    # Nothing informative: every round (1 + max_refill_rounds 2) is used, nothing is kept.
    ({}, [["equal", "equal"], ["equal", "equal"], ["equal", "equal"]],
     {"calls": [2, 2, 2], "kept": 0, "refills": 2, "sampled": 6, "recompose_saw": 0}),
], ids=["oversample", "deficit", "exhausted"])
def test_dynamic_sampling_exact_counts(make_config, tmp_path, filters, plan, expected):
    import tinyrun

    calls, original = [], tinyrun.keep_last
    tinyrun.keep_last = lambda totals, *, target: calls.append(len(totals)) or original(
        totals, target=target)
    sampler = tinyrun.ScriptedSampler(plan)
    try:
        cfg = load_config(make_config(steps=1, rewards=[{"name": "accuracy"}], filters={
            "dynamic_sampling": True, "max_refill_rounds": 2, "recompose": "tinyrun.keep_last",
            **filters}))
        row = train(cfg, tmp_path / "run", sampler=sampler)[0]
    finally:
        tinyrun.keep_last = original
    assert sampler.calls == expected["calls"]
    assert row["kept_groups"] == expected["kept"]
    assert row["refill_rounds"] == expected["refills"]
    assert row["sampled_groups"] == expected["sampled"]
    assert _consumed(tmp_path / "run") == expected["sampled"]
    assert calls == [expected["recompose_saw"]]
    assert math.isnan(row["loss"]) if expected["kept"] == 0 else math.isfinite(row["loss"])


def _spy(monkeypatch, name: str) -> list:
    """Record the arguments of loop.<name>, by parameter name, while still running it."""
    import inspect

    from rewardkit.train import loop

    seen, original = [], getattr(loop, name)

    def spy(*args, **kwargs):
        seen.append(inspect.signature(original).bind(*args, **kwargs).arguments)
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, name, spy)
    return seen


def test_unjudged_completion_gets_zero_advantage_and_leaves_the_statistics(
        make_config, tmp_path, monkeypatch):
    # Group 0: right, wrong, timeout, right; group 1: right, wrong, right, wrong.
    # Rewards accuracy (primary) + plus_half (0.5 always). Totals:
    #   group 0: [1.5, 0.5, NaN, 1.5] (accuracy NaN -> total NaN, not 0.5)
    #   group 1: [1.5, 0.5, 1.5, 0.5]
    # GRPO, Bessel std, eps 1e-6:
    #   group 0 over the three judged: mean 7/6, deviations 1/3, -2/3, 1/3, var (6/9)/2 = 1/3,
    #     std 1/sqrt(3) -> advantages 1/sqrt(3), -2/sqrt(3), 0 (timeout), 1/sqrt(3)
    #   group 1: mean 1, deviations +-0.5, var 1/3 -> +-0.5 * sqrt(3) = +-0.8660
    import tinyrun

    rows_seen = _spy(monkeypatch, "policy_update")
    cfg = load_config(make_config(steps=1, task="tinyrun.TimeoutCountTask",
                                  rewards=[{"name": "accuracy"}, {"name": "tinyrun.plus_half"}]))
    train(cfg, tmp_path / "run", sampler=tinyrun.ScriptedSampler([["timeout", "mixed"]]))
    rows = rows_seen[0]["rows"]
    r3 = 1 / math.sqrt(3)
    assert [r.advantage for r in rows] == pytest.approx(
        [r3, -2 * r3, 0.0, r3] + [0.5 * math.sqrt(3), -0.5 * math.sqrt(3)] * 2, rel=1e-5)
    assert math.isnan(rows[2].reward)


def test_batch_level_reward_sees_the_finished_batch(make_config, tmp_path, monkeypatch):
    # Round 0: a "mixed" group (2 of 4 right) is kept, an "equal" one dropped; round 1: a "three"
    # group (3 of 4 right). grpo_lambda(top_fraction=0.5, coef=0.4) over the step's batch of
    # P = 2 groups: k = ceil(0.5 * 2) = 1, cut-off ratio 0.75 -> only "three" is shaped.
    #   "mixed": 0 everywhere. (Scored per round, it was ranked against the dropped group only,
    #            so it was selected and shaped.)
    #   "three": its three right replies are one answer (1-2 digits + EOS), shorter than the wrong
    #            "xxx" + EOS: kimi lam = 0.5 - 0 = 0.5 for them and 0.5 - 1 = -0.5 for the wrong
    #            one -> 0.4 * [0.5, 0.5, 0.5, min(0, -0.5)] = [0.2, 0.2, 0.2, -0.2]
    import tinyrun

    from rewardkit.rewards import RewardScorer, RewardSpec

    kept_seen = _spy(monkeypatch, "prepare_rows")
    rewards = [{"name": "accuracy"}, {"name": "grpo_lambda", "params": {"top_fraction": 0.5}}]
    cfg = load_config(make_config(steps=1, rewards=rewards, filters={
        "dynamic_sampling": True, "max_refill_rounds": 1}))
    train(cfg, tmp_path / "run",
          sampler=tinyrun.ScriptedSampler([["mixed", "equal"], ["three"]]))
    kept = kept_seen[0]["kept"]
    assert [g.correct for g in kept.groups] == [(True, False, True, False),
                                                (True, True, True, False)]
    assert kept.scores[0][:, 1].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert kept.scores[1][:, 1].tolist() == pytest.approx([0.2, 0.2, 0.2, -0.2])
    # `rewardkit score` scores a step as one batch: the same numbers.
    scorer = RewardScorer([RewardSpec(r["name"], params=r.get("params", {})) for r in rewards])
    for mine, theirs in zip(kept.scores, scorer.score(kept.groups, step=1)):
        np.testing.assert_array_equal(mine, theirs)


def test_steps_log_peak_memory(make_config, tmp_path):
    rows = train(load_config(make_config(steps=1)), tmp_path / "run")
    assert 0.01 < rows[0]["memory/rss_peak_gib"] < 64  # this process, in GiB (KiB / 2**20)
    assert "memory/cuda_peak_gib" not in rows[0]  # only on a GPU (tests/train/test_gpu.py)


def test_batch_level_reward_gets_the_per_token_arrays_it_needs(make_config, tmp_path):
    # The batch is gathered slim (no per-token arrays), except what rewards declared with @needs.
    cfg = load_config(make_config(steps=1, rewards=[
        {"name": "tinyrun.digits"}, {"name": "tinyrun.batch_entropies_seen", "weight": 0.0}]))
    rows = train(cfg, tmp_path / "run")
    assert rows[0]["reward/tinyrun.batch_entropies_seen/mean"] == 1.0


def test_off_policy_epochs_and_kl(make_config, tmp_path):
    cfg = load_config(make_config(
        steps=2, loss={"kl_coef": 0.1, "kl_estimator": "k3", "entropy_coef": 0.01},
        optim={"epochs": 2, "updates_per_epoch": 2, "minibatch_size": 3}))
    rows = train(cfg, tmp_path / "run")
    for r in rows:
        assert math.isfinite(r["loss"]) and r["kl"] >= 0
        assert "loss/clip_frac_high" in r and r["loss/ratio_max"] >= 1.0
    # step 1 starts at the reference, so its first update sees KL 0 exactly; later updates move
    assert rows[1]["kl"] > 0


def test_bf16_autocast_trains(make_config, tiny_model, tmp_path):
    cfg = load_config(make_config(steps=2, autocast="bf16"))
    rows = train(cfg, tmp_path / "run")
    assert all(math.isfinite(r["loss"]) and r["grad_norm"] > 0 for r in rows)
    saved = tmp_path / "run" / "checkpoints" / "step-2"
    # the weights stay fp32 (autocast only changes the precision of the products)
    assert json.loads((saved / "config.json").read_text())["dtype"] == "float32"


def test_overlong_mask_gives_truncated_completions_no_weight(make_config, tiny_model, tmp_path):
    # The random 100-token model almost never emits EOS within 6 tokens: every completion is cut.
    cfg = load_config(make_config(steps=1, filters={"overlong_mask": True}))
    row = train(cfg, tmp_path / "run")[0]
    assert row["length/truncated_frac"] == 1.0  # precondition of this test
    assert row["grad_norm"] == 0.0 and row["loss"] == 0.0
    _, ckpt = latest_checkpoint(tmp_path / "run")
    before, after = weights(tiny_model), weights(ckpt)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_nonfinite_loss_is_skipped_then_stops(make_config, tiny_model, tmp_path):
    cfg = load_config(make_config(steps=5, loss={"name": "tinyrun.nan_loss"}))
    with pytest.raises(TrainingError, match="NaN/inf"):
        train(cfg, tmp_path / "run")
    rows = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [r["nonfinite_skipped"] for r in rows] == [1, 2]  # the third raised before logging
    assert all(r["loss"] is None for r in rows)  # NaN is written as null
    _, ckpt = latest_checkpoint(tmp_path / "run")
    before, after = weights(tiny_model), weights(ckpt)
    assert all(torch.equal(before[k], after[k]) for k in before)  # NaN never reached the weights


def test_lora_trains_adapter_only(make_config, tiny_model, tmp_path):
    cfg = load_config(make_config(steps=1, lora_rank=4))
    rows = train(cfg, tmp_path / "run")
    assert math.isfinite(rows[0]["loss"])
    _, ckpt = latest_checkpoint(tmp_path / "run")
    adapter = load_file(ckpt / "adapter_model.safetensors")
    assert adapter and all("lora" in k for k in adapter)
    assert not (ckpt / "model.safetensors").exists()


def test_periodic_eval_on_held_out_problems(make_config, tmp_path):
    cfg = load_config(make_config(steps=2, eval_every=2, eval_problems=3))
    rows = train(cfg, tmp_path / "run")
    assert "eval/accuracy" not in rows[0]  # only every 2nd step
    assert 0.0 <= rows[1]["eval/accuracy"] <= 1.0
    assert 0 < rows[1]["eval/length_mean"] <= 6


def test_recomposition_hook_chooses_the_batch(make_config, tmp_path):
    # Without dynamic sampling every group is kept: the hook named by dotted path is called once
    # per step with the 2 kept groups' totals and the target batch size 2.
    import tinyrun

    calls = []
    original = tinyrun.keep_last

    def spy(totals, *, target):
        calls.append((len(totals), target))
        return original(totals, target=target)

    tinyrun.keep_last = spy
    try:
        cfg = load_config(make_config(steps=1, filters={"recompose": "tinyrun.keep_last"}))
        train(cfg, tmp_path / "run")
    finally:
        tinyrun.keep_last = original
    assert calls == [(2, 2)]


def test_unknown_recomposition_is_a_config_error(make_config):
    from rewardkit.errors import UserError

    with pytest.raises(UserError, match="filters.recompose"):
        load_config(make_config(filters={"recompose": "nope"}))


def test_sar_gets_logprobs_from_the_sampler_and_question_free_ones_from_the_trainer(
        make_config, tiny_model, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    asked = []
    original = run_module.make_sampler

    def recording(*args, **kwargs):
        sampler = original(*args, **kwargs)
        sample = sampler.sample
        sampler.sample = lambda prompts, params: asked.append(params) or sample(prompts, params)
        return sampler

    monkeypatch.setattr(run_module, "make_sampler", recording)
    kept_seen = _spy(monkeypatch, "prepare_rows")
    cfg = load_config(make_config(steps=1, autocast="none", rewards=[
        {"name": "accuracy"}, {"name": "sar", "params": {"alpha": 0.5}}]))  # fp32 products
    train(cfg, tmp_path / "run")
    assert [(p.return_logprobs, p.return_entropies) for p in asked] == [(True, False)]
    # ppl(a) without the question: log softmax of a plain forward pass over [start] + answer.
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    for c in [c for g in kept_seen[0]["kept"].groups for c in g.completions]:
        ids = torch.tensor([[start, *c.token_ids]])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)  # (T, V)
        expected = logp.gather(1, ids[0, 1:, None])[:, 0]  # (T,)
        assert len(c.logprobs) == len(c.unconditional_logprobs) == c.num_tokens
        assert list(c.unconditional_logprobs) == pytest.approx(expected.tolist(), abs=1e-5)
