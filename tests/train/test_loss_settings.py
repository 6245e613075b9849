"""Loss hyperparameters from the config to the trainer: one place to set them, unset means the
loss's own default (issue 11.2, B2), and a warning when clip settings cannot act (11.1, B3)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from rewardkit.config import load_config
from rewardkit.errors import UserError
from rewardkit.train.parts import LossSpec


def trainer_loss(make_config, **loss) -> LossSpec:
    """The loss part as the trainer builds it from a config (no model, task or run directory)."""
    cfg = load_config(make_config(loss={"name": "clip", "aggregation": "token_mean"} | loss))
    return LossSpec.from_config(cfg.loss)


def test_gspo_runs_with_its_own_clip_range(make_config):
    spec = trainer_loss(make_config, name="gspo", aggregation="seq_mean")
    assert spec.kwargs == {}  # nothing set: GSPO's 3e-4 / 4e-4 apply
    # A sequence ratio of 1.001 with A > 0 is past GSPO's 1 + 4e-4 (clipped), inside PPO's 1.2.
    logp = torch.full((1, 2), 0.001)  # old_logp 0: every token ratio e^0.001 ≈ 1.001
    _, stats = spec.fn(logp, torch.zeros(1, 2), torch.tensor([1.0]), torch.ones(1, 2),
                       **spec.kwargs)
    assert stats["clip_frac_high"] == 1.0


def test_cispo_runs_with_its_own_clip_range(make_config):
    spec = trainer_loss(make_config, name="cispo")
    assert spec.kwargs == {}  # CISPO's 1.0 / 4.0: the weight is capped at 5, not 1.2
    logp = torch.log(torch.tensor([[0.5]]))
    old = logp - torch.log(torch.tensor([[3.0]]))  # ratio 3: under 5, so its weight stays 3
    loss, stats = spec.fn(logp, old, torch.tensor([1.0]), torch.ones(1, 1), **spec.kwargs)
    assert stats["clip_frac_high"] == 0.0
    # ℓ = −w·A·log π = −3·1·log 0.5 = 3·0.693147 = 2.079442
    assert float(loss) == pytest.approx(2.079442, abs=1e-5)


def test_clip_gets_exactly_what_was_set(make_config):
    spec = trainer_loss(make_config, clip_high=0.28, dual_clip=10.0)
    assert spec.kwargs == {"clip_high": 0.28, "dual_clip": 10.0}  # clip_low: clip's 0.2


def test_a_parameter_set_twice_is_an_error(make_config):
    path = make_config(loss={"name": "clip", "clip_high": 0.28, "params": {"clip_high": 0.3}})
    with pytest.raises(UserError, match=r"loss\.params\.clip_high: set twice"):
        load_config(path)


def test_a_named_field_the_loss_does_not_take_is_an_error(make_config):
    path = make_config(loss={"name": "drpo", "aggregation": "sum", "clip_low": 0.2},
                       optim={"minibatch_size": 4})
    with pytest.raises(UserError, match=r"loss\.clip_low: loss 'drpo' has no parameter"):
        load_config(path)


@pytest.mark.parametrize(("value", "message"), [({"dual_clip": 1.0}, "must be > 1"),
                                                ({"clip_low": -0.1}, "must be >= 0")])
def test_bad_clip_values_are_errors(make_config, value, message):
    with pytest.raises(UserError, match=message):
        load_config(make_config(loss={"name": "clip"} | value))


@pytest.mark.parametrize(("loss", "optim", "warns"), [
    ({"clip_high": 0.28}, {}, True),                       # DAPO's clip-higher, one update
    ({"dual_clip": 10.0}, {"epochs": 1}, True),            # DLER's dual clip, one update
    ({"clip_high": 0.28}, {"updates_per_epoch": 2}, False),
    ({"clip_high": 0.28}, {"epochs": 2}, False),
    ({"clip_high": 0.2}, {}, False),                       # clip's own default: nothing to say
    ({}, {}, False),
])
def test_warns_when_clip_settings_cannot_act(make_config, caplog, loss, optim, warns):
    path = make_config(loss={"name": "clip"} | loss, optim={"minibatch_size": 4} | optim)
    with caplog.at_level(logging.WARNING, logger="rewardkit.config"):
        load_config(path)
    assert any("no clip bound can act" in r.getMessage() for r in caplog.records) == warns


def test_more_updates_than_groups_warns_and_trains(make_config, tmp_path, caplog):
    from rewardkit.train.loop import train

    path = make_config(steps=1, prompts_per_step=2, optim={"updates_per_epoch": 3})
    with caplog.at_level(logging.WARNING, logger="rewardkit.config"):
        cfg = load_config(path)
    assert any("only 2 steps per epoch have data" in r.getMessage() for r in caplog.records)
    (row,) = train(cfg, tmp_path / "run", progress=False)
    assert row["lr"] == cfg.optim.lr and row["grad_norm"] > 0


CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").rglob("*.yaml"))


@pytest.mark.parametrize("path", [p for p in CONFIGS if not p.name.startswith("sft_")],
                         ids=lambda p: p.name)
def test_no_shipped_config_sets_a_clip_that_cannot_act(path, caplog):
    with caplog.at_level(logging.WARNING, logger="rewardkit.config"):
        load_config(path)
    assert not [r for r in caplog.records if "no clip bound can act" in r.getMessage()]


# D8: losses declare the batch fields they take; parameter names alone change nothing.


def test_drpo_declares_its_batch_fields(make_config):
    spec = trainer_loss(make_config, name="drpo", aggregation="sum")
    assert spec.batch_fields == {"rewards", "group_ids", "max_new_tokens", "n_questions",
                                 "n_tokens"}
    assert spec.whole_groups


def test_a_parameter_name_alone_neither_batches_nor_passes_fields(make_config, tmp_path):
    import declared_losses

    declared_losses.SEEN.clear()
    # minibatch 3 with G = 4 would be refused for a whole-groups loss; this one declared nothing
    cfg = load_config(make_config(steps=1, loss={"name": "declared_losses.named_like_drpo"},
                                  optim={"minibatch_size": 3}))
    from rewardkit.train.loop import train

    train(cfg, tmp_path / "run", progress=False)
    assert declared_losses.SEEN and all(s["group_ids"] is None for s in declared_losses.SEEN)


def test_a_declared_user_loss_gets_its_fields(make_config, tmp_path):
    import declared_losses

    declared_losses.SEEN.clear()
    cfg = load_config(make_config(steps=1, loss={"name": "declared_losses.declared"}))
    from rewardkit.train.loop import train

    train(cfg, tmp_path / "run", progress=False)
    assert declared_losses.SEEN[0]["rewards"].shape == declared_losses.SEEN[0]["group_ids"].shape


def test_an_undeclared_required_field_is_a_config_error(make_config):
    path = make_config(loss={"name": "declared_losses.undeclared_required"})
    with pytest.raises(UserError, match=r"requires 'rewards'.*batch_fields"):
        load_config(path)
