"""Policy losses, loss aggregation and KL estimators (torch; only the trainer imports this).

Every registered loss has the same form, verl's return shape without its `config` argument:

    fn(logp (B, T), old_logp (B, T), advantages (B,) or (B, T), mask (B, T), *, <params>)
        -> (per-token loss (B, T), stats: dict[str, float])

`logp` are the current policy's log-probs of the sampled tokens (with grad), `old_logp` those of
the policy that sampled them (no grad), `mask` is 1 on completion tokens. The per-token loss is 0
off the mask (padding may hold any finite or infinite value). Stats are plain floats named without
a prefix (`clip_frac_high`, `ratio_mean`, ...); the trainer logs them as `loss/<name>`. Reducing
the (B, T) loss to a scalar is `aggregate`'s job, kept apart so a recipe picks it independently:
token_mean (DAPO), seq_mean (original GRPO, GSPO), constant (Dr. GRPO), sum (DRPO, or a trainer
that divides by a global token count itself).

A loss that needs more of the batch than those four (DRPO: rewards, question ids) says so with
`@batch_fields(...)`; the trainer passes exactly the declared fields and nothing else.

Log-ratios log π − log π_old are clamped to ±20 before exp, as verl does, so one bad token cannot
overflow the ratio (a clamped token has no gradient through the ratio).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rewardkit.errors import UserError
from rewardkit.registry import LOSSES

LOG_RATIO_CLAMP = 20.0
AGGREGATIONS = ("token_mean", "seq_mean", "constant", "sum")
BATCH_FIELDS = {
    "rewards": "(B,) total reward of each row",
    "group_ids": "(B,) index of each row's question in the step's batch",
    "max_new_tokens": "the sampling budget (int)",
    "n_questions": "questions in the whole optimizer step's batch, all minibatches and ranks",
    "n_tokens": "completion tokens on the mask in that whole batch",
}
"""what `batch_fields` may declare, and what the trainer passes for each"""


def batch_fields(*fields: str, whole_groups: bool = False):
    """Declare the batch data a loss takes as keyword arguments beyond (logp, old_logp,
    advantages, mask): names from BATCH_FIELDS. `whole_groups=True` asks the trainer to keep
    every question's completions in one minibatch (no length sort), as per-question losses need.

    >>> @batch_fields("rewards", whole_groups=True)
    ... def my_loss(logp, old_logp, advantages, mask, *, rewards): ...
    >>> my_loss.batch_fields, my_loss.whole_groups
    (('rewards',), True)
    """
    unknown = sorted(set(fields) - set(BATCH_FIELDS))
    if unknown:
        raise ValueError(f"unknown batch field {unknown[0]!r}; known: {', '.join(BATCH_FIELDS)}")

    def declare(fn):
        fn.batch_fields = tuple(fields)
        fn.whole_groups = whole_groups
        return fn

    return declare


# ---------------------------------------------------------------------------------------------
# helpers


def _prepare(
    logp: Tensor, old_logp: Tensor, advantages: Tensor | None, mask: Tensor
) -> tuple[Tensor, Tensor, Tensor | None, Tensor, Tensor]:
    """Float mask, padding-safe log-probs, advantages as (B, 1) or (B, T), clamped log-ratio."""
    if logp.shape != old_logp.shape or logp.shape != mask.shape or logp.dim() != 2:
        raise ValueError(
            f"logp, old_logp and mask must share one (B, T) shape; got {tuple(logp.shape)}, "
            f"{tuple(old_logp.shape)}, {tuple(mask.shape)}"
        )
    m = mask.to(logp.dtype)  # (B, T)
    on = m > 0
    # Padding can hold -inf or garbage; zero it so 0·inf never turns into NaN (grad still flows).
    logp = torch.where(on, logp, torch.zeros_like(logp))
    old_logp = torch.where(on, old_logp.to(logp.dtype), torch.zeros_like(logp))
    adv = None
    if advantages is not None:
        adv = advantages.to(device=logp.device, dtype=logp.dtype)
        if adv.dim() == 1:
            adv = adv.unsqueeze(-1)  # (B, 1): one advantage per sequence, broadcast to tokens
        if adv.shape not in ((logp.shape[0], 1), logp.shape):
            raise ValueError(f"advantages must be (B,) or (B, T); got {tuple(advantages.shape)}")
    log_ratio = (logp - old_logp).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)  # (B, T)
    return m, logp, adv, log_ratio, on


def _mean(x: Tensor, m: Tensor) -> float:
    """Masked mean as a float; NaN when nothing is on the mask."""
    n = m.sum()
    return float((x * m).sum() / n) if n > 0 else math.nan


def _ratio_stats(ratio: Tensor, log_ratio: Tensor, m: Tensor) -> dict[str, float]:
    """Ratio summary and k3 estimate of KL(π_old ‖ π) over the masked tokens."""
    on = m > 0
    if not on.any():
        return {"ratio_mean": math.nan, "ratio_min": math.nan, "ratio_max": math.nan,
                "approx_kl": math.nan}  # fmt: skip
    return {
        "ratio_mean": _mean(ratio, m),
        "ratio_min": float(ratio[on].min()),
        "ratio_max": float(ratio[on].max()),
        "approx_kl": _mean(ratio - 1 - log_ratio, m),
    }


# ---------------------------------------------------------------------------------------------
# policy losses


@LOSSES.register("clip")
def clip(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip: float | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """PPO clipped surrogate with separate bounds (clip-higher) and optional dual clip.

    With ρ = exp(log π − log π_old) per token,
        ℓ = max(−ρ·A, −clip(ρ, 1 − clip_low, 1 + clip_high)·A),
    and with dual clip c (> 1), for A < 0 only: ℓ = min(ℓ, −c·A).

    "Proximal Policy Optimization Algorithms" (https://arxiv.org/abs/1707.06347); clip-higher
    from DAPO (https://arxiv.org/abs/2503.14476: clip_low 0.2, clip_high 0.28); dual clip from
    "Mastering Complex Control in MOBA Games with Deep RL" (https://arxiv.org/abs/1912.09729; verl
    `clip_ratio_c`; DLER uses 10). Defaults 0.2 / 0.2 / off. That is TRL's PPO clip without a
    dual clip; verl's `vanilla` policy loss (core_algos.compute_policy_loss_vanilla, checked at
    commit 012be9d) always applies the dual clip, with clip_ratio_c = 3.0 unless set: pass
    dual_clip=3.0 to match verl. (verl's `pg_clipfrac` also counts differently: tokens where the
    clipped term is larger, whatever the advantage's sign.)

    A token whose ratio is past the bound on the side its advantage pushes toward gets no gradient:
    `clip_frac_high` counts A > 0 with ρ > 1 + clip_high, `clip_frac_low` A < 0 with
    ρ < 1 − clip_low, `dual_clip_frac` A < 0 with ρ > c. Also `ratio_mean/min/max`, `approx_kl`.

    >>> import torch
    >>> logp = torch.log(torch.tensor([[1.25, 1.25]]))  # old_logp = 0 → ratio 1.25
    >>> loss, stats = clip(logp, torch.zeros(1, 2), torch.tensor([1.0]), torch.ones(1, 2))
    >>> loss  # −clip(1.25, 0.8, 1.2)·1 = −1.2
    tensor([[-1.2000, -1.2000]])
    >>> stats["clip_frac_high"]
    1.0
    """
    if dual_clip is not None and dual_clip <= 1.0:
        raise ValueError(f"dual_clip must be > 1 (e.g. 3 or 10), got {dual_clip}")
    m, _, adv, log_ratio, on = _prepare(logp, old_logp, advantages, mask)
    ratio = torch.exp(log_ratio)  # (B, T)
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    loss = torch.maximum(unclipped, clipped)  # pessimistic bound
    if dual_clip is not None:
        # A < 0 and ρ very large: the max above would be unbounded; cap it at −c·A.
        loss = torch.where(adv < 0, torch.minimum(loss, -adv * dual_clip), loss)
    loss = torch.where(on, loss, torch.zeros_like(loss))

    with torch.no_grad():
        high = ((ratio > 1.0 + clip_high) & (adv > 0)).to(m.dtype)
        low = ((ratio < 1.0 - clip_low) & (adv < 0)).to(m.dtype)
        dual = torch.zeros_like(m)
        if dual_clip is not None:
            dual = ((ratio > dual_clip) & (adv < 0)).to(m.dtype)
        stats = {
            "clip_frac_high": _mean(high, m),
            "clip_frac_low": _mean(low, m),
            "dual_clip_frac": _mean(dual, m),
            **_ratio_stats(ratio, log_ratio, m),
        }
    return loss, stats


@LOSSES.register("gspo")
def gspo(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float = 3e-4,
    clip_high: float = 4e-4,
) -> tuple[Tensor, dict[str, float]]:
    """GSPO: PPO clipping on the sequence-level, length-normalised (geometric-mean) ratio.

    s_i = exp((1/|y_i|)·Σ_t (log π − log π_old)), the geometric mean of the token ratios;
    ℓ_{i,t} = max(−s_{i,t}·A, −clip(s_{i,t}, 1 − clip_low, 1 + clip_high)·A) with the GSPO-token
    ratio s_{i,t} = sg(s_i)·π(y_t)/sg(π(y_t)): its value is s_i and its gradient s_i·∇log π(y_t),
    so with (B,) advantages and `seq_mean` aggregation this is exactly GSPO's sequence objective,
    and (B, T) advantages give GSPO-token.

    "Group Sequence Policy Optimization" (https://arxiv.org/abs/2507.18071). The paper clips at
    3e-4 / 4e-4 (these defaults): sequence ratios sit much closer to 1 than token ratios, so PPO's
    0.2 would never clip. Aggregate with `seq_mean` (the paper). A whole sequence is clipped or
    not; `clip_frac_low/high` count tokens of clipped sequences; `seq_ratio_mean` over sequences.

    >>> import torch
    >>> logp = torch.log(torch.tensor([[2.0, 0.5]]))  # token ratios 2 and 0.5, geometric mean 1
    >>> loss, stats = gspo(logp, torch.zeros(1, 2), torch.tensor([1.0]), torch.ones(1, 2))
    >>> loss, stats["seq_ratio_mean"]
    (tensor([[-1., -1.]]), 1.0)
    """
    m, logp, adv, log_ratio, on = _prepare(logp, old_logp, advantages, mask)
    n_tok = m.sum(-1, keepdim=True)  # (B, 1)
    seq_log_ratio = (log_ratio * m).sum(-1, keepdim=True) / n_tok.clamp(min=1)  # (B, 1)
    # Value s_i on every token; gradient s_i·∇log π(y_t) (the GSPO-token construction).
    ratio = torch.exp(logp - logp.detach() + seq_log_ratio.detach())  # (B, T)
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    loss = torch.where(on, torch.maximum(unclipped, clipped), torch.zeros_like(ratio))

    with torch.no_grad():
        seq_ratio = torch.exp(seq_log_ratio)  # (B, 1)
        high = ((seq_ratio > 1.0 + clip_high) & (adv > 0)).to(m.dtype).expand_as(m)
        low = ((seq_ratio < 1.0 - clip_low) & (adv < 0)).to(m.dtype).expand_as(m)
        has = (n_tok > 0).to(m.dtype)  # sequences with at least one token
        stats = {
            "clip_frac_high": _mean(high, m),
            "clip_frac_low": _mean(low, m),
            "seq_ratio_mean": _mean(seq_ratio, has),
            **_ratio_stats(torch.exp(log_ratio), log_ratio, m),
        }
    return loss, stats


@LOSSES.register("cispo")
def cispo(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float = 1.0,
    clip_high: float = 4.0,
) -> tuple[Tensor, dict[str, float]]:
    """CISPO: REINFORCE weighted by a clipped, stop-gradient importance weight.

    ℓ_t = −sg(clip(ρ_t, 1 − clip_low, 1 + clip_high))·A·log π(y_t), ρ_t = π(y_t)/π_old(y_t).
    Unlike PPO no token loses its gradient: only the weight is bounded, so rare "fork" tokens
    ("However", "Wait", "Recheck") keep contributing after the first update.

    "MiniMax-M1: Scaling Test-Time Compute Efficiently with Lightning Attention"
    (https://arxiv.org/abs/2506.13585). The paper sets no lower bound (a large ε_low: the default
    1.0 makes it 0) and tunes only the upper one; the default clip_high = 4 caps the weight at 5,
    the ε_max = 5 that ScaleRL (https://arxiv.org/abs/2510.13786) and TRL recommend. The paper
    normalises by the tokens in the batch: aggregate with `token_mean`. The loss value is not
    comparable with `clip`'s (it contains log π); its gradient is. `clip_frac_high/low` count
    tokens whose weight was capped from above/below, whatever the advantage's sign.

    >>> import torch
    >>> logp = torch.log(torch.tensor([[0.5, 0.5]]))
    >>> old = logp - torch.log(torch.tensor([[1.0, 8.0]]))  # ratios 1 and 8 (capped at 5)
    >>> loss, stats = cispo(logp, old, torch.tensor([1.0]), torch.ones(1, 2))
    >>> loss  # −w·A·log 0.5 = [0.6931, 5·0.6931]
    tensor([[0.6931, 3.4657]])
    """
    m, logp, adv, log_ratio, on = _prepare(logp, old_logp, advantages, mask)
    ratio = torch.exp(log_ratio)
    weight = ratio.clamp(1.0 - clip_low, 1.0 + clip_high).detach()  # (B, T), no gradient
    loss = torch.where(on, -weight * adv * logp, torch.zeros_like(logp))
    with torch.no_grad():
        stats = {
            "clip_frac_high": _mean((ratio > 1.0 + clip_high).to(m.dtype), m),
            "clip_frac_low": _mean((ratio < 1.0 - clip_low).to(m.dtype), m),
            **_ratio_stats(ratio, log_ratio, m),
        }
    return loss, stats


@LOSSES.register("drpo")
@batch_fields("rewards", "group_ids", "max_new_tokens", "n_questions", "n_tokens",
              whole_groups=True)
def drpo(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor | None,
    mask: Tensor,
    *,
    rewards: Tensor,
    group_ids: Tensor,
    max_new_tokens: int | None = None,
    n_questions: int | None = None,
    n_tokens: float | None = None,
    tau: float = 10.0,
    lam: float = 0.1,
    beta: float = 1e3,
    delta: float = 1e-4,
) -> tuple[Tensor, dict[str, float]]:
    """DRPO: decoupled length reward for correct answers, discriminative against wrong ones.

    "DRPO: Efficient Reasoning via Decoupled Reward Policy Optimization"
    (https://arxiv.org/abs/2510.04474; code Optimization-AI/DRPO, `compute_policy_loss_drpo`).
    Sequence-level. Per completion: score s = mean token log π, length ratio ℓ = L/L_max, length
    weight w = exp((1 − ℓ)/λ). For each question q with both positives (r = 1) and negatives
    (r = 0):
        J_q = Σ_{+} w₊·s₊ / Σ_{+} w₊ − τ·log mean_{−} exp(s₋/τ)
    and the loss is −(1/Q)·Σ_q J_q + sg(max(β·(KL − δ), 0))·KL, where Q counts every question in
    the batch (also those without both kinds, which contribute only to KL) and KL is the token
    mean of k3 between π_old and π (a trust region instead of a ratio clip).

    Extra inputs: `rewards` (B,) with 1 = correct, 0 = wrong (any other value, NaN included, is
    neither and is left out), `group_ids` (B,) ints naming each completion's question, and
    `max_new_tokens` L_max (default: the mask width T, which is what the released code divides by).
    Lengths L are the mask sums; a sequence with no tokens on the mask is left out. `advantages`
    is ignored (pass None): DRPO builds its own weights. `n_questions` (Q) and `n_tokens` (the
    KL's token count) default to this call's; a trainer that splits a batch into minibatches of
    whole questions passes the whole batch's, so the minibatch losses add up to the batch's.
    The adaptive KL weight sg(max(β·(KL − δ), 0)) is computed from this call's KL (its tokens
    only), so with several minibatches it is per minibatch; the KL gradient is 0 at ratio 1, so
    the first (on-policy) update does not depend on it.

    The per-token loss spreads each sequence's share over its tokens so that
    `aggregate(loss, mask, "sum")` is exactly the objective above, value and gradient: aggregate
    DRPO with `sum`. (The released code replaces log-mean-exp by a surrogate with the same
    gradient but a constant value; here the reported value is the true one.) Defaults are the
    1.5B script's: τ = 10, λ = 0.1, β = 1e3, δ = 1e-4. Smaller λ prefers short correct answers
    more; λ → ∞ turns the length signal off. Stats: `objective` (mean J_q), `kl`, `kl_coef`,
    `valid_group_frac`, `ratio_mean`, ...

    >>> import torch
    >>> logp = torch.log(torch.tensor([[0.5, 0.5], [0.25, 0.25]]))
    >>> loss, stats = drpo(logp, logp, None, torch.ones(2, 2), rewards=torch.tensor([1.0, 0.0]),
    ...                    group_ids=torch.tensor([0, 0]), tau=1.0)
    >>> round(stats["objective"], 4)  # J = s₊ − τ·s₋ = log 0.5 − log 0.25 = log 2
    0.6931
    """
    m, logp, _, log_ratio, on = _prepare(logp, old_logp, None, mask)
    device, dtype = logp.device, logp.dtype
    r = torch.as_tensor(rewards, device=device, dtype=dtype).reshape(-1)  # (B,)
    gid = torch.as_tensor(group_ids, device=device).reshape(-1)  # (B,)
    if r.shape[0] != logp.shape[0] or gid.shape[0] != logp.shape[0]:
        raise ValueError("drpo: rewards and group_ids need one entry per sequence (B,)")

    lengths = m.sum(-1)  # (B,)
    has_tokens = lengths > 0
    inv_len = 1.0 / lengths.clamp(min=1)
    scores = (logp * m).sum(-1) * inv_len  # (B,) s(y), with grad
    l_max = float(max_new_tokens or mask.shape[-1])
    weight = torch.exp((1.0 - lengths / l_max) / lam)  # (B,) length weight, a constant
    pos = (r == 1) & has_tokens
    neg = (r == 0) & has_tokens

    _, group = torch.unique(gid, return_inverse=True)  # (B,) in 0..Q-1
    n_q = int(group.max()) + 1 if group.numel() else 0
    member = group.unsqueeze(0) == torch.arange(n_q, device=device).unsqueeze(1)  # (Q, B)
    n_pos, n_neg = (member & pos).sum(1), (member & neg).sum(1)  # (Q,)
    valid_q = (n_pos > 0) & (n_neg > 0)  # (Q,) question has both kinds
    valid = valid_q[group]  # (B,)

    with torch.no_grad():
        # Positives: length weights normalised within the question's positives.
        w_pos = torch.where(member & pos, weight, torch.zeros_like(weight))  # (Q, B)
        w_norm = (w_pos / w_pos.sum(1, keepdim=True).clamp(min=1e-30)).sum(0)  # (B,)
        # Negatives: d/ds₋ of τ·log mean exp(s₋/τ) is softmax(s₋/τ) over the question's negatives.
        z = torch.where(member & neg, scores / tau, torch.full_like(w_pos, -math.inf))  # (Q, B)
        lse = torch.logsumexp(z, dim=1, keepdim=True)  # (Q, 1)
        lse = torch.where(n_neg.unsqueeze(1) > 0, lse, torch.zeros_like(lse))
        soft = torch.where(member & neg, torch.exp(z - lse), torch.zeros_like(z)).sum(0)  # (B,)
        lme = (lse.squeeze(1) - torch.log(n_neg.clamp(min=1).to(dtype)))[group]  # (B,)
        q_norm = max(n_q if n_questions is None else n_questions, 1)  # Q in −(1/Q)·Σ_q J_q
        coef_pos = torch.where(valid & pos, w_norm, torch.zeros_like(w_norm)) / q_norm
        coef_neg = torch.where(valid & neg, soft, torch.zeros_like(soft)) / q_norm

    # Σ_t of row i: −coef₊·s_i for positives; coef₋·[(s_i − sg s_i) + τ·LME] for negatives, whose
    # sum over the negatives has value τ·LME_q/Q and gradient Σ softmax_i·∇s_i/Q, as it should.
    per_tok = (
        -coef_pos.unsqueeze(1) * logp
        + coef_neg.unsqueeze(1) * ((logp - logp.detach()) + tau * lme.unsqueeze(1))
    ) * inv_len.unsqueeze(1)  # (B, T)

    ratio = torch.exp(log_ratio)
    k3 = ratio - 1 - log_ratio  # (B, T) k3 estimate of KL(π_old ‖ π), ≥ 0
    n_here = m.sum().clamp(min=1)  # this call's tokens on the mask
    kl = (k3 * m).sum() / n_here  # this call's token mean
    kl_coef = (beta * (kl - delta)).clamp(min=0).detach()  # the adaptive trust-region weight
    kl_norm = n_here if n_tokens is None else max(float(n_tokens), 1.0)
    loss = torch.where(on, per_tok + kl_coef * k3 / kl_norm, torch.zeros_like(per_tok))

    with torch.no_grad():
        stats = {
            "objective": float(-(per_tok * m).sum()) * q_norm / max(n_q, 1),  # mean J_q here
            "kl": float(kl),
            "kl_coef": float(kl_coef),
            "valid_group_frac": float(valid_q.to(dtype).mean()) if n_q else math.nan,
            **_ratio_stats(ratio, log_ratio, m),
        }
    return loss, stats


# ---------------------------------------------------------------------------------------------
# aggregation


def aggregate(loss: Tensor, mask: Tensor, mode: str, *, max_tokens: int | None = None,
              n_tokens: float | None = None, n_seqs: float | None = None,
              n_rows: float | None = None) -> Tensor:
    """Reduce a per-token loss (B, T) to a scalar.

    - `token_mean` (DAPO, https://arxiv.org/abs/2503.14476): Σ ℓ·m / N_tok, N_tok = Σ m; long
      answers weigh per token.
    - `seq_mean` (original GRPO): Σ_i (Σ_t ℓ·m / Σ_t m) / N_seq, N_seq = the rows with a token on
      the mask; rows with none are left out of the mean (not counted as 0).
    - `constant` (Dr. GRPO, https://arxiv.org/abs/2503.20783): Σ ℓ·m / (max_tokens × N_rows),
      N_rows all rows; max_tokens is the sampling budget. No length bias from the normaliser.
      verl's `seq-mean-token-sum-norm` is Σ ℓ·m / T with T the padded response width
      (`loss_mask.shape[-1]`) and no division by the rows: with T = max_tokens, this mode is
      verl's divided by the number of rows.
    - `sum`: Σ ℓ·m, for losses that normalise themselves (DRPO, given its global counts).

    The counts default to this call's. A trainer that accumulates minibatches (or ranks) passes
    the counts of the whole batch, so the minibatch results add up to the one-batch result
    (N_tok and N_seq of the whole batch; N_rows all its rows). With nothing on the mask every
    mode returns 0 (still attached to the graph).

    >>> import torch
    >>> loss = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    >>> mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    >>> [float(aggregate(loss, mask, mode, max_tokens=4)) for mode in AGGREGATIONS]
    [2.5, 3.0, 1.25, 10.0]
    >>> float(aggregate(loss[:1], mask[:1], "seq_mean", n_seqs=2))  # row 1 of 2: (6/3)/2
    1.0
    """
    m = mask.to(loss.dtype)
    total = torch.where(m > 0, loss * m, torch.zeros_like(loss))  # (B, T); NaN-safe on padding
    if mode == "token_mean":
        count = m.sum().clamp(min=1) if n_tokens is None else max(float(n_tokens), 1.0)
        return total.sum() / count
    if mode == "seq_mean":
        n_tok = m.sum(-1)  # (B,)
        has = (n_tok > 0).to(loss.dtype)  # (B,)
        per_seq = total.sum(-1) / n_tok.clamp(min=1)  # (B,)
        count = has.sum().clamp(min=1) if n_seqs is None else max(float(n_seqs), 1.0)
        return (per_seq * has).sum() / count
    if mode == "constant":
        if max_tokens is None or max_tokens <= 0:
            raise ValueError("aggregation 'constant' needs max_tokens > 0 (the sampling budget)")
        rows = loss.shape[0] if n_rows is None else float(n_rows)
        return total.sum() / (max(rows, 1) * max_tokens)
    if mode == "sum":
        return total.sum()
    raise UserError(f"unknown loss aggregation {mode!r}; known: {', '.join(AGGREGATIONS)}")


# ---------------------------------------------------------------------------------------------
# KL estimators and entropy


def kl_k1(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k1 = log π − log π_ref per token: unbiased for KL(π ‖ π_ref) under samples of π, but
    high-variance and often negative per token. Schulman, "Approximating KL Divergence"
    (http://joschu.net/blog/kl-approx.html); verl `kl`.

    >>> import torch
    >>> kl_k1(torch.tensor([-1.0]), torch.tensor([-2.0]))
    tensor([1.])
    """
    return logp - ref_logp


def kl_k2(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k2 = ½(log π − log π_ref)² per token: biased, low variance, ≥ 0 (verl `mse`).

    >>> import torch
    >>> kl_k2(torch.tensor([-1.0]), torch.tensor([-2.0]))
    tensor([0.5000])
    """
    return 0.5 * (logp - ref_logp) ** 2


def kl_k3(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k3 = exp(log π_ref − log π) − (log π_ref − log π) − 1 per token, clamped to [−10, 10].

    Unbiased for KL(π ‖ π_ref) under samples of π, low variance, and ≥ 0 since e^x ≥ 1 + x
    (verl `low_var_kl`, the GRPO paper's estimator; the clamp is verl's). Schulman,
    "Approximating KL Divergence" (http://joschu.net/blog/kl-approx.html).

    >>> import torch
    >>> kl_k3(torch.tensor([-1.0]), torch.tensor([-2.0]))  # e⁻¹ + 1 − 1
    tensor([0.3679])
    """
    d = ref_logp - logp
    return (torch.exp(d) - d - 1).clamp(-10.0, 10.0)


KL_ESTIMATORS = {"k1": kl_k1, "k2": kl_k2, "k3": kl_k3}


def kl_estimator(name: str):
    """The KL estimator called `name` (k1, k2, k3); a `UserError` lists them otherwise."""
    try:
        return KL_ESTIMATORS[name]
    except KeyError:
        raise UserError(
            f"unknown KL estimator {name!r}; known: {', '.join(KL_ESTIMATORS)}"
        ) from None


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of the softmax over the last axis, (..., V) -> (...): logsumexp(z) − Σ p·z.

    >>> import torch
    >>> entropy_from_logits(torch.zeros(1, 4))  # uniform over 4: log 4
    tensor([1.3863])
    """
    logits = logits.float()
    return torch.logsumexp(logits, dim=-1) - (torch.softmax(logits, dim=-1) * logits).sum(-1)
