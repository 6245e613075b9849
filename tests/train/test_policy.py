"""Token log-probs of completions: the grid layout and the head-on-completions fast path."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from rewardkit.train.policy import Row, collate, completion_logits, token_logprobs


@pytest.fixture(scope="module")
def model(tiny_model):
    return AutoModelForCausalLM.from_pretrained(tiny_model).eval()


ROWS = [Row([5, 6, 7], [8, 9]), Row([5], [10, 11, 12, 1]), Row([4, 4], [])]


def reference_logprobs(model, rows):
    """One unpadded forward per row; log-prob of completion token j from position p + j - 1."""
    out = []
    for r in rows:
        ids = torch.tensor([r.prompt_ids + r.completion_ids])
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
        p = len(r.prompt_ids)
        out.append([float(logp[p + j - 1, t]) for j, t in enumerate(r.completion_ids)])
    return out


def test_logprobs_match_unpadded_forward_per_row(model):
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    with torch.no_grad():
        logp, ent = token_logprobs(model, batch, temperature=1.0, entropy=True)
    assert logp.shape == ent.shape == (3, 4)  # T = longest completion
    assert batch.mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]]
    for i, expected in enumerate(reference_logprobs(model, ROWS)):
        torch.testing.assert_close(logp[i, : len(expected)], torch.tensor(expected),
                                   rtol=1e-5, atol=1e-5)
    assert (ent[batch.mask > 0] > 0).all()


def test_fast_path_equals_full_logits(model):
    from rewardkit.train.policy import _decoder_and_head

    assert _decoder_and_head(model) is not None  # the fast path is the one under test
    batch = collate(ROWS, pad_id=0, device=torch.device("cpu"))
    with torch.no_grad():
        fast = completion_logits(model, batch)
        full = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        V = full.shape[-1]
        slow = full.gather(1, batch.positions[..., None].expand(-1, -1, V))
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


def test_temperature_divides_logits(model):
    batch = collate(ROWS[:1], pad_id=0, device=torch.device("cpu"))
    with torch.no_grad():
        logits = completion_logits(model, batch).float()
        logp, _ = token_logprobs(model, batch, temperature=0.5)
    expected = torch.log_softmax(logits / 0.5, -1).gather(-1, batch.targets[..., None])[..., 0]
    torch.testing.assert_close(logp, expected)
