"""Policy losses, aggregation and KL estimators: hand-computed values, gradients, references."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from rewardkit.errors import UserError
from rewardkit.losses import (
    AGGREGATIONS,
    aggregate,
    cispo,
    clip,
    drpo,
    entropy_from_logits,
    gspo,
    kl_estimator,
    kl_k1,
    kl_k2,
    kl_k3,
)
from rewardkit.registry import LOSSES

E = math.e


def leaf(ratios: list[list[float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """A leaf `logp` (B, T) with old_logp = 0, so exp(logp − old_logp) is exactly `ratios`."""
    logp = torch.log(torch.tensor(ratios, dtype=torch.float64)).requires_grad_(True)
    return logp, torch.zeros_like(logp)


def ones(b: int, t: int) -> torch.Tensor:
    return torch.ones(b, t, dtype=torch.float64)


def t64(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# clip


def test_clip_values_by_hand():
    # ratio will be [e, e, e] for every row (logp = 1, old_logp = 0)
    logp, old = leaf([[E, E, E], [E, E, E]])
    adv = t64([1.0, -1.0])
    loss, stats = clip(logp, old, adv, ones(2, 3))
    # row 0, A = +1: max(−e·1, −clip(e, 0.8, 1.2)·1) = max(−2.718, −1.2) = −1.2 (clipped)
    # row 1, A = −1: max(e, 1.2) = e (the pessimistic, unclipped side)
    torch.testing.assert_close(loss.detach(), t64([[-1.2] * 3, [E] * 3]))
    # clipped: the three A > 0 tokens above 1.2, out of 6
    assert stats["clip_frac_high"] == pytest.approx(0.5)
    assert stats["clip_frac_low"] == 0.0 and stats["dual_clip_frac"] == 0.0
    assert stats["ratio_mean"] == pytest.approx(E)
    # approx_kl is k3 of (old ‖ new) = ρ − 1 − log ρ = e − 2
    assert stats["approx_kl"] == pytest.approx(E - 2)


def test_clip_low_side_by_hand():
    # ratio 1/e = 0.3679 in both rows
    logp, old = leaf([[1 / E], [1 / E]])
    loss, stats = clip(logp, old, t64([1.0, -1.0]), ones(2, 1))
    # A = +1: max(−0.3679, −clip(0.3679, 0.8, 1.2)) = max(−0.3679, −0.8) = −0.3679 (unclipped)
    # A = −1: max(0.3679, 0.8) = 0.8 (clipped at 1 − 0.2)
    torch.testing.assert_close(loss.detach(), t64([[-1 / E], [0.8]]))
    assert stats["clip_frac_low"] == pytest.approx(0.5)
    assert stats["clip_frac_high"] == 0.0


def test_clip_higher_asymmetry():
    # A positive-advantage token with ratio 1.25: inside [0.8, 1.28], outside [0.8, 1.2].
    for clip_high, expected, expected_grad, frac in [
        (0.28, -1.25, -1.25, 0.0),  # unclipped: ℓ = −ρA, dℓ/dlogp = −ρA = −1.25
        (0.20, -1.20, 0.0, 1.0),  # clipped at 1.2: ℓ = −1.2A is constant, gradient 0
    ]:
        logp, old = leaf([[1.25]])
        loss, stats = clip(logp, old, t64([1.0]), ones(1, 1), clip_high=clip_high)
        loss.sum().backward()
        assert loss.item() == pytest.approx(expected)
        assert logp.grad.item() == pytest.approx(expected_grad)
        assert stats["clip_frac_high"] == frac
    # The lower bound is untouched by clip_high: A < 0 with ratio 0.75 is clipped at 0.8 either way.
    for clip_high in (0.2, 0.28):
        logp, old = leaf([[0.75]])
        loss, _ = clip(logp, old, t64([-1.0]), ones(1, 1), clip_high=clip_high)
        assert loss.item() == pytest.approx(0.8)


def test_dual_clip_by_hand():
    # A = −1 everywhere, ratios [e, 5, 0.5]; dual_clip c = 3
    logp, old = leaf([[E, 5.0, 0.5]])
    loss, stats = clip(logp, old, t64([-1.0]), ones(1, 3), dual_clip=3.0)
    loss.sum().backward()
    # e:   max(e, 1.2) = e, then min(e, 3) = e       → unclipped, dℓ/dlogp = −Aρ = e
    # 5:   max(5, 1.2) = 5, then min(5, 3) = 3       → dual-clipped, gradient 0
    # 0.5: max(0.5, 0.8) = 0.8, min(0.8, 3) = 0.8    → low-clipped, gradient 0
    torch.testing.assert_close(loss.detach(), t64([[E, 3.0, 0.8]]))
    torch.testing.assert_close(logp.grad, t64([[E, 0.0, 0.0]]))
    assert stats["dual_clip_frac"] == pytest.approx(1 / 3)
    assert stats["clip_frac_low"] == pytest.approx(1 / 3)
    # Without dual clip the ratio-5 token costs 5 and keeps its gradient.
    loss, _ = clip(*leaf([[5.0]]), t64([-1.0]), ones(1, 1))
    assert loss.item() == pytest.approx(5.0)
    # Positive advantages are never dual-clipped: ratio 5, A = +1 → −clip(5)·1 = −1.2.
    loss, _ = clip(*leaf([[5.0]]), t64([1.0]), ones(1, 1), dual_clip=3.0)
    assert loss.item() == pytest.approx(-1.2)
    with pytest.raises(ValueError, match="dual_clip must be > 1"):
        clip(*leaf([[1.0]]), t64([1.0]), ones(1, 1), dual_clip=0.5)


def test_clip_gradients_flow_only_through_unclipped_tokens():
    # per-token advantages; ratios:  1.25 (A+, clipped), 1.0 (A+, inside), 0.5 (A−, clipped),
    # 0.5 (A+, unclipped: the pessimistic side), 1.1 (A−, inside)
    logp, old = leaf([[1.25, 1.0, 0.5, 0.5, 1.1]])
    adv = t64([[2.0, 2.0, -2.0, 2.0, -2.0]])
    loss, _ = clip(logp, old, adv, ones(1, 5))
    aggregate(loss, ones(1, 5), "sum").backward()
    # unclipped tokens: dℓ/dlogp = −A·ρ → [0, −2·1, 0, −2·0.5, 2·1.1]
    torch.testing.assert_close(logp.grad, t64([[0.0, -2.0, 0.0, -1.0, 2.2]]))


def test_clip_sequence_and_token_advantages_agree_and_mask_is_respected():
    torch.manual_seed(0)
    logp = (torch.randn(3, 4, dtype=torch.float64) * 0.3).requires_grad_(True)
    old = torch.zeros(3, 4, dtype=torch.float64)
    adv = t64([1.0, -0.5, 2.0])
    mask = t64([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]])
    seq_loss, seq_stats = clip(logp, old, adv, mask)
    tok_loss, tok_stats = clip(logp, old, adv.unsqueeze(1).expand(3, 4), mask)
    torch.testing.assert_close(seq_loss, tok_loss)
    assert seq_stats == tok_stats
    assert torch.all(seq_loss[mask == 0] == 0)


def test_padding_with_minus_inf_gives_no_nan():
    logp = t64([[-0.1, -math.inf]]).requires_grad_(True)
    old = t64([[-0.2, -math.inf]])
    mask = t64([[1, 0]])
    for name in ("clip", "gspo", "cispo"):
        logp.grad = None
        loss, stats = LOSSES.get(name)(logp, old, t64([1.0]), mask)
        aggregate(loss, mask, "token_mean").backward()
        assert torch.isfinite(loss).all() and torch.isfinite(logp.grad).all(), name
        assert logp.grad[0, 1] == 0.0 and all(math.isfinite(v) for v in stats.values()), name


# ---------------------------------------------------------------------------------------------
# gspo


def test_gspo_values_by_hand():
    # row 0: token ratios [2, 0.5] → s = exp(mean(log 2, log 0.5)) = exp(0) = 1 (inside the clip)
    # row 1: token ratios [e^0.1, e^0.3] → s = e^0.2 = 1.2214 > 1 + 4e-4, A = +1 → clipped at 1.0004
    logp, old = leaf([[2.0, 0.5], [math.exp(0.1), math.exp(0.3)]])
    loss, stats = gspo(logp, old, t64([1.0, 1.0]), ones(2, 2))
    aggregate(loss, ones(2, 2), "seq_mean").backward()
    # every token carries its sequence's ratio: ℓ = −s·A
    torch.testing.assert_close(loss.detach(), t64([[-1.0, -1.0], [-1.0004, -1.0004]]))
    # seq_mean: J = ½(ℓ_0 + ℓ_1); row 0: dℓ_0/dlogp_t = −A·s/|y| = −1/2, halved by the mean: −0.25
    # row 1 is clipped: gradient 0
    torch.testing.assert_close(logp.grad, t64([[-0.25, -0.25], [0.0, 0.0]]))
    assert stats["clip_frac_high"] == pytest.approx(0.5)
    assert stats["seq_ratio_mean"] == pytest.approx((1 + math.exp(0.2)) / 2)


def test_gspo_matches_sequence_objective_reference():
    # With a wide clip range nothing is clipped and GSPO's gradient is that of
    # −mean_i A_i·s_i, s_i = exp(mean_t(logp − old) over the sequence's tokens).
    torch.manual_seed(1)
    base = torch.randn(4, 5, dtype=torch.float64) * 0.2
    old = torch.randn(4, 5, dtype=torch.float64) * 0.2
    mask = t64([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0]])
    adv = t64([1.0, -2.0, 0.5, -0.3])

    logp = base.clone().requires_grad_(True)
    loss, _ = gspo(logp, old, adv, mask, clip_low=10.0, clip_high=10.0)
    aggregate(loss, mask, "seq_mean").backward()

    ref_logp = base.clone().requires_grad_(True)
    s = torch.exp(((ref_logp - old) * mask).sum(-1) / mask.sum(-1))
    (-(adv * s).mean()).backward()
    torch.testing.assert_close(logp.grad, ref_logp.grad * mask)


# ---------------------------------------------------------------------------------------------
# cispo


def test_cispo_values_and_gradients_by_hand():
    # logp = log 0.5 on both tokens; old chosen so the ratios are [1, 8]; A = +1
    logp = torch.log(t64([[0.5, 0.5]])).requires_grad_(True)
    old = logp.detach() - torch.log(t64([[1.0, 8.0]]))
    loss, stats = cispo(logp, old, t64([1.0]), ones(1, 2))
    loss.sum().backward()
    # weights sg(clip(ρ, 0, 5)) = [1, 5]; ℓ = −w·A·log 0.5 = [0.6931, 3.4657]
    torch.testing.assert_close(loss.detach(), t64([[math.log(2), 5 * math.log(2)]]))
    # dℓ/dlogp = −w·A: the capped token keeps a gradient (−5), unlike PPO's clip
    torch.testing.assert_close(logp.grad, t64([[-1.0, -5.0]]))
    assert stats["clip_frac_high"] == pytest.approx(0.5)
    # the same token under `clip` (ratio 8, A > 0) has no gradient at all
    logp2, old2 = leaf([[8.0]])
    clip(logp2, old2, t64([1.0]), ones(1, 1))[0].sum().backward()
    assert logp2.grad.item() == 0.0


def test_cispo_lower_bound():
    # clip_low 0.2: ratio 0.5 → weight 0.8; A = −1, logp = log 0.5 → ℓ = −0.8·(−1)·(−0.6931)
    logp = torch.log(t64([[0.5]])).requires_grad_(True)
    old = logp.detach() - math.log(0.5)
    loss, stats = cispo(logp, old, t64([-1.0]), ones(1, 1), clip_low=0.2)
    assert loss.item() == pytest.approx(-0.8 * math.log(2))
    assert stats["clip_frac_low"] == 1.0


# ---------------------------------------------------------------------------------------------
# drpo


def drpo_reference(logp, old, mask, rewards, group_ids, l_max, tau, lam, beta, delta):
    """The DRPO loss written directly with autograd (true log-mean-exp), one question at a time."""
    lengths = mask.sum(-1)
    s = (logp * mask).sum(-1) / lengths
    w = torch.exp((1 - lengths / l_max) / lam)
    questions = sorted(set(group_ids))
    total = torch.zeros((), dtype=logp.dtype)
    for q in questions:
        idx = [i for i, g in enumerate(group_ids) if g == q]
        pos = [i for i in idx if rewards[i] == 1]
        neg = [i for i in idx if rewards[i] == 0]
        if not pos or not neg:
            continue
        wp = w[pos]
        j_pos = (wp * s[pos]).sum() / wp.sum()
        lme = torch.logsumexp(s[neg] / tau, 0) - math.log(len(neg))
        total = total + j_pos - tau * lme
    log_ratio = logp - old
    k3 = torch.exp(log_ratio) - 1 - log_ratio
    kl = (k3 * mask).sum() / mask.sum()
    coef = torch.clamp(beta * (kl - delta), min=0).detach()
    return -total / len(questions) + coef * kl


def test_drpo_by_hand():
    # q0: positive with s = log 0.5, negative with s = log 0.25; q1: both correct (no pair)
    # τ = 1, one positive so its weight normalises to 1:
    # J_0 = s₊ − τ·log mean exp(s₋/τ) = log 0.5 − log 0.25 = log 2 = 0.6931
    # Q = 2 questions (q1 counts in Q): objective = 0.6931 / 2 = 0.3466; KL = 0 (old = new)
    logp = torch.log(t64([[0.5, 0.5], [0.25, 0.25], [0.9, 0.9], [0.8, 0.8]])).requires_grad_(True)
    loss, stats = drpo(
        logp, logp.detach(), None, ones(4, 2),
        rewards=t64([1, 0, 1, 1]), group_ids=torch.tensor([0, 0, 1, 1]), tau=1.0,
    )  # fmt: skip
    total = aggregate(loss, ones(4, 2), "sum")
    total.backward()
    assert stats["objective"] == pytest.approx(math.log(2) / 2)
    assert total.item() == pytest.approx(-math.log(2) / 2)
    assert stats["kl"] == 0.0 and stats["kl_coef"] == 0.0
    assert stats["valid_group_frac"] == 0.5
    # d loss / d logp_t = −(1/Q)(1/L) for the positive = −1/4, +(1/Q)(1/L)·softmax = +1/4 for
    # the single negative, and 0 for q1's sequences.
    torch.testing.assert_close(logp.grad, t64([[-0.25, -0.25], [0.25, 0.25], [0, 0], [0, 0]]))


def test_drpo_with_whole_batch_counts_adds_up_over_questions():
    # test_drpo_by_hand's batch, one question per call, each told the batch has Q = 2 questions
    # and 8 tokens: the two calls' losses add up to the one-call loss, −log 2 / 2, with the same
    # gradient (−1/4, +1/4 on q0's positive and negative; q1 has no pair).
    logp = torch.log(t64([[0.5, 0.5], [0.25, 0.25], [0.9, 0.9], [0.8, 0.8]])).requires_grad_(True)
    total = 0.0
    for rows in ([0, 1], [2, 3]):
        loss, _ = drpo(logp[rows], logp[rows].detach(), None, ones(2, 2),
                       rewards=t64([1, 0, 1, 1])[rows], group_ids=torch.tensor([0, 0, 1, 1])[rows],
                       tau=1.0, n_questions=2, n_tokens=8)
        total = total + aggregate(loss, ones(2, 2), "sum")
    total.backward()
    assert total.item() == pytest.approx(-math.log(2) / 2)
    torch.testing.assert_close(logp.grad, t64([[-0.25, -0.25], [0.25, 0.25], [0, 0], [0, 0]]))


def test_drpo_length_weights_by_hand():
    # two positives of lengths 1 and 3 and one negative, L_max = 4, λ = 1:
    # ℓ = [0.25, 0.75] → w = [e^0.75, e^0.25] → normalised [1/(1+e^−0.5), 1/(1+e^0.5)]
    #                                                    = [0.62246, 0.37754]
    # the shorter correct answer gets the larger push: dloss/dlogp_t = −w̃/(Q·L) per token
    logp = t64([[-1.0, 0, 0, 0], [-1.0, -1.0, -1.0, 0], [-2.0, -2.0, 0, 0]]).requires_grad_(True)
    mask = t64([[1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0]])
    loss, _ = drpo(logp, logp.detach(), None, mask, rewards=t64([1, 1, 0]),
                   group_ids=[7, 7, 7], max_new_tokens=4, lam=1.0)  # fmt: skip
    aggregate(loss, mask, "sum").backward()
    w0 = 1 / (1 + math.exp(-0.5))
    assert logp.grad[0, 0].item() == pytest.approx(-w0)
    assert logp.grad[1, 0].item() == pytest.approx(-(1 - w0) / 3)
    assert logp.grad[2, 0].item() == pytest.approx(1 / 2)  # one negative: softmax 1, L = 2


@pytest.mark.parametrize("seed", range(3))
def test_drpo_matches_reference(seed):
    g = torch.Generator().manual_seed(seed)
    b, t = 8, 6
    base = -torch.rand(b, t, generator=g, dtype=torch.float64) * 3
    old = base + torch.randn(b, t, generator=g, dtype=torch.float64) * 0.05  # KL > δ: penalty on
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    mask = (torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)).to(torch.float64)
    # q0: one positive, two negatives (the softmax over negatives matters); q1: one of each;
    # q2: all correct, so it only counts in Q.
    rewards = [1, 0, 0, 1, 0, 1, 1, 1]
    group_ids = [0, 0, 0, 1, 1, 2, 2, 2]
    kwargs = dict(tau=2.0, lam=0.5, beta=10.0, delta=1e-4)

    logp = base.clone().requires_grad_(True)
    loss, stats = drpo(logp, old, None, mask, rewards=t64(rewards),
                       group_ids=torch.tensor(group_ids), max_new_tokens=10, **kwargs)  # fmt: skip
    total = aggregate(loss, mask, "sum")
    total.backward()

    ref_logp = base.clone().requires_grad_(True)
    ref = drpo_reference(ref_logp, old, mask, rewards, group_ids, 10, **kwargs)
    ref.backward()
    assert stats["kl_coef"] > 0
    torch.testing.assert_close(total, ref)
    torch.testing.assert_close(logp.grad, ref_logp.grad * mask)


def test_drpo_ignores_non_binary_and_empty_sequences():
    # A NaN reward or a reward of 0.5 is neither positive nor negative; an empty sequence neither.
    logp = torch.log(t64([[0.5, 0.5], [0.25, 0.25], [0.1, 0.1], [0.2, 0.2]])).requires_grad_(True)
    mask = t64([[1, 1], [1, 1], [1, 1], [0, 0]])
    rewards = t64([1, 0, float("nan"), 0])
    loss, stats = drpo(logp, logp.detach(), None, mask, rewards=rewards,
                       group_ids=[0, 0, 0, 0], tau=1.0)  # fmt: skip
    assert stats["objective"] == pytest.approx(math.log(2))  # same as without rows 2 and 3
    assert torch.all(loss[2:] == 0)


# ---------------------------------------------------------------------------------------------
# aggregation


def test_aggregation_modes_by_hand():
    loss = t64([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]])  # the 9s are padding
    mask = t64([[1, 1, 1], [1, 0, 0]])
    # token_mean: (1 + 2 + 3 + 4) / 4 tokens = 2.5
    assert aggregate(loss, mask, "token_mean").item() == pytest.approx(2.5)
    # seq_mean: mean of per-sequence means (6/3, 4/1) = (2 + 4)/2 = 3
    assert aggregate(loss, mask, "seq_mean").item() == pytest.approx(3.0)
    # constant (Dr. GRPO): 10 / (max_tokens 5 × 2 sequences) = 1.0
    assert aggregate(loss, mask, "constant", max_tokens=5).item() == pytest.approx(1.0)
    # sum: 10
    assert aggregate(loss, mask, "sum").item() == pytest.approx(10.0)


def test_aggregation_with_whole_batch_counts_adds_up_over_minibatches():
    # The batch of test_aggregation_modes_by_hand plus a masked row, cut into one-row
    # minibatches; each gets the whole batch's counts (4 tokens, 2 rows with tokens, 3 rows).
    loss = t64([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0], [7.0, 7.0, 7.0]])
    mask = t64([[1, 1, 1], [1, 0, 0], [0, 0, 0]])  # row 2: overlong-masked (weight 0)
    counts = {"n_tokens": 4, "n_seqs": 2, "n_rows": 3}
    expected = {  # one batch, by hand
        "token_mean": 10 / 4,  # (1 + 2 + 3 + 4) / 4 = 2.5
        "seq_mean": (6 / 3 + 4 / 1) / 2,  # rows with tokens only: (2 + 4) / 2 = 3
        "constant": 10 / (3 * 5),  # Σ / (N_rows 3 × max_tokens 5) = 0.6667
        "sum": 10.0,
    }
    for mode, value in expected.items():
        parts = [aggregate(loss[i: i + 1], mask[i: i + 1], mode, max_tokens=5, **counts)
                 for i in range(3)]
        assert sum(p.item() for p in parts) == pytest.approx(value), mode
        whole = aggregate(loss, mask, mode, max_tokens=5)
        assert whole.item() == pytest.approx(value), mode


def test_seq_mean_leaves_out_empty_sequences_and_constant_does_not():
    loss = t64([[1.0, 2.0], [5.0, 5.0]])
    mask = t64([[1, 1], [0, 0]])  # the second sequence is fully masked (e.g. overlong)
    # seq_mean: only the first sequence, 3/2 = 1.5 (not (1.5 + 0)/2)
    assert aggregate(loss, mask, "seq_mean").item() == pytest.approx(1.5)
    # constant divides by all rows: 3 / (2 × 2) = 0.75
    assert aggregate(loss, mask, "constant", max_tokens=2).item() == pytest.approx(0.75)


def test_aggregation_gradients_and_empty_mask():
    loss = t64([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).requires_grad_(True)
    mask = t64([[1, 1, 0], [1, 0, 0]])
    aggregate(loss, mask, "seq_mean").backward()
    # seq_mean = ½(½(ℓ00 + ℓ01) + ℓ10): ∂ = [¼, ¼, 0], [½, 0, 0]
    torch.testing.assert_close(loss.grad, t64([[0.25, 0.25, 0], [0.5, 0, 0]]))
    for mode in AGGREGATIONS:
        out = aggregate(loss, torch.zeros(2, 3), mode, max_tokens=4)
        assert out.item() == 0.0 and out.requires_grad


def test_aggregation_errors():
    with pytest.raises(UserError, match="unknown loss aggregation 'mean'"):
        aggregate(ones(1, 1), ones(1, 1), "mean")
    with pytest.raises(ValueError, match="max_tokens"):
        aggregate(ones(1, 1), ones(1, 1), "constant")


# ---------------------------------------------------------------------------------------------
# KL estimators and entropy


def test_kl_estimators_by_hand():
    logp, ref = t64([-1.0, -2.0, -0.5]), t64([-2.0, -1.0, -0.5])
    # k1 = logp − ref = [1, −1, 0]
    torch.testing.assert_close(kl_k1(logp, ref), t64([1.0, -1.0, 0.0]))
    # k2 = ½(logp − ref)² = [0.5, 0.5, 0]
    torch.testing.assert_close(kl_k2(logp, ref), t64([0.5, 0.5, 0.0]))
    # k3 with d = ref − logp = [−1, 1, 0]: e^d − d − 1 = [e⁻¹, e − 2, 0] = [0.36788, 0.71828, 0]
    torch.testing.assert_close(kl_k3(logp, ref), t64([1 / E, E - 2, 0.0]))
    # the clamp: d = 15 → e^15 − 16 ≈ 3.3e6, clamped to 10
    assert kl_k3(t64([0.0]), t64([15.0])).item() == 10.0
    assert kl_estimator("k3") is kl_k3
    with pytest.raises(UserError, match="known: k1, k2, k3"):
        kl_estimator("low_var_kl")


def test_k3_is_nonnegative():
    g = torch.Generator().manual_seed(0)
    logp, ref = torch.randn(1000, generator=g) * 3, torch.randn(1000, generator=g) * 3
    assert kl_k3(logp, ref).min() >= 0
    assert kl_k2(logp, ref).min() >= 0
    assert kl_k1(logp, ref).min() < 0  # k1 is not: a single token can go either way


def test_k1_and_k3_estimate_the_kl_from_samples():
    # p = softmax([1, 0, −1]), q = uniform; sample tokens from p: mean k1 and k3 → KL(p ‖ q).
    p = torch.softmax(t64([1.0, 0.0, -1.0]), 0)
    q = torch.full((3,), 1 / 3, dtype=torch.float64)
    true_kl = float((p * (p / q).log()).sum())  # ≈ 0.1663
    g = torch.Generator().manual_seed(0)
    tokens = torch.multinomial(p, 200_000, replacement=True, generator=g)
    logp, ref = p.log()[tokens], q.log()[tokens]
    assert kl_k1(logp, ref).mean().item() == pytest.approx(true_kl, abs=0.005)
    assert kl_k3(logp, ref).mean().item() == pytest.approx(true_kl, abs=0.005)


def test_entropy_from_logits():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 7, generator=g)
    expected = torch.distributions.Categorical(logits=logits).entropy()
    torch.testing.assert_close(entropy_from_logits(logits), expected)


# ---------------------------------------------------------------------------------------------
# registry contract


@pytest.mark.parametrize("name", ["clip", "gspo", "cispo", "drpo"])
def test_loss_contract(name):
    fn = LOSSES.get(name)
    params = inspect.signature(fn).parameters.values()
    assert all(p.kind is not p.VAR_KEYWORD for p in params)
    assert "https://arxiv.org/abs/" in (fn.__doc__ or "")
    torch.manual_seed(0)
    logp = (torch.randn(4, 3) * 0.1 - 1).requires_grad_(True)
    extra = {"rewards": torch.tensor([1.0, 0, 1, 0]), "group_ids": [0, 0, 1, 1]}
    loss, stats = fn(logp, logp.detach() + 0.05, torch.randn(4), torch.ones(4, 3),
                     **(extra if name == "drpo" else {}))  # fmt: skip
    assert loss.shape == (4, 3) and loss.requires_grad
    assert stats and all(type(v) is float for v in stats.values())
