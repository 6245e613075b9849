"""Log-probabilities of chosen tokens from hidden states, in chunks over the tokens.

The output head is where long reasoning runs out of memory: one (N, V) fp32 logits tensor at
N = 16 x 4096 completion tokens and V = 152k (Qwen2) is 40 GB, and a plain
`log_softmax(logits).gather(...)` keeps several of them in the autograd graph. Here the head,
the log-softmax and the gather run on at most `chunk_tokens` tokens at a time:

    log p(a) = z_a / tau - logsumexp(z / tau),   z = head(h)          (per token)
    H        = logsumexp(z / tau) - sum_v softmax(z / tau)_v z_v / tau   (entropy, nats)

With a gradient and more than one chunk, each chunk runs under `torch.utils.checkpoint`: the
graph keeps only the chunk's hidden states (chunk, H) and its outputs, and the backward pass
recomputes one chunk's logits at a time. Peak memory of the head is then one chunk's logits,
whatever the sequence length; the price is one more head product per chunk in the backward
pass, paid only when there is more than one chunk.

This is the idea of TRL's `selective_log_softmax` (trl/trainer/utils.py, which loops over rows
so that the log-softmax is never materialised), taken one step further: TRL still receives the
full (B, T, V) logits from the model; here the head itself runs per chunk.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.checkpoint import checkpoint

LOGITS_PER_CHUNK = 2**25
"""logits computed at once (32M: 128 MiB in fp32; 220 tokens at V = 152k)"""


def chunk_tokens_for(vocab_size: int) -> int:
    """Tokens per chunk so that one chunk holds about LOGITS_PER_CHUNK logits.

    >>> chunk_tokens_for(151_936), chunk_tokens_for(64)
    (220, 524288)
    """
    return max(1, LOGITS_PER_CHUNK // max(1, vocab_size))


def _chunk(states: torch.Tensor, targets: torch.Tensor, head: Callable, temperature: float,
           entropy: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p of targets (c,), entropy (c,) or an empty tensor) for states (c, H); `entropy` is
    "none", "grad" (in the graph) or "logged" (computed without a graph)."""
    z = head(states).float()  # (c, V)
    if temperature > 0:
        z = z / temperature
    lse = z.logsumexp(-1)  # (c,)
    logp = z.gather(-1, targets[:, None]).squeeze(-1) - lse
    if entropy == "none":
        return logp, logp.new_empty(0)
    with torch.set_grad_enabled(torch.is_grad_enabled() and entropy == "grad"):
        return logp, lse - (z.softmax(-1) * z).sum(-1)


def selective_logprobs(states: torch.Tensor, targets: torch.Tensor, head: Callable, *,
                       temperature: float, entropy: bool | str = False, chunk_tokens: int
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log p(targets) (N,) under softmax(head(states) / temperature), and the entropy (N,) when
    asked: with a gradient only for `entropy="grad"` (an entropy bonus), else without a graph.

    states: (N, H) hidden states (or logits, with an identity head); targets: (N,) token ids.
    temperature 0 means 1 (greedy sampling has no temperature to undo).

    >>> z = torch.tensor([[0.0, 0.0], [0.0, 2.0]])  # logits of 2 tokens over V = 2
    >>> logp, ent = selective_logprobs(z, torch.tensor([0, 1]), lambda s: s, temperature=1.0,
    ...                                entropy=True, chunk_tokens=1)
    >>> logp  # log(1/2); 2 - log(1 + e^2) = -0.1269
    tensor([-0.6931, -0.1269])
    >>> ent  # log 2; p = (0.1192, 0.8808), log p = (-2.1269, -0.1269): 0.2535 + 0.1118
    tensor([0.6931, 0.3653])
    """
    chunked_graph = (torch.is_grad_enabled() and states.requires_grad
                     and states.shape[0] > chunk_tokens)
    mode = "none" if not entropy else "grad" if entropy == "grad" else "logged"
    logps, ents = [], []
    for lo in range(0, states.shape[0], chunk_tokens):
        s, t = states[lo: lo + chunk_tokens], targets[lo: lo + chunk_tokens]  # (c, H), (c,)
        if chunked_graph:  # keep (c, H) in the graph, not (c, V); recompute in backward
            lp, ent = checkpoint(_chunk, s, t, head, temperature, mode, use_reentrant=False)
        else:
            lp, ent = _chunk(s, t, head, temperature, mode)
        logps.append(lp)
        ents.append(ent)
    if not logps:
        empty = states.new_zeros(0, dtype=torch.float32)
        return empty, (empty if entropy else None)
    return torch.cat(logps), (torch.cat(ents) if entropy else None)
