"""VLLMSampler: output conversion and seeds without vLLM; a real run only where vLLM + CUDA exist."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

from rewardkit.sampling.base import SamplingParams
from rewardkit.sampling.vllm import VLLMSampler, completion_from_vllm, request_seed

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def _out(ids, reason, text="t", logprobs=None):
    return SimpleNamespace(token_ids=ids, finish_reason=reason, text=text, logprobs=logprobs)


def test_completion_from_vllm_stop_and_length():
    c = completion_from_vllm(_out([5, 6, 1], "stop"), eos_token_ids=[1])
    assert (c.num_tokens, c.finish_reason, c.token_ids) == (3, "stop", (5, 6, 1))
    c = completion_from_vllm(_out([5, 6], "length"))
    assert (c.num_tokens, c.finish_reason, c.truncated) == (2, "length", True)
    for reason in ("abort", "error"):  # no sample of the policy: never a reward's input
        with pytest.raises(RuntimeError, match=f"finish_reason='{reason}'"):
            completion_from_vllm(_out([5], reason))


def test_completion_from_vllm_picks_sampled_token_logprob():
    lp = lambda x: SimpleNamespace(logprob=x)  # noqa: E731
    # vLLM returns the sampled token plus top-k alternatives per step; we keep the sampled one
    steps = [{5: lp(-0.5), 9: lp(-1.0)}, {6: lp(-2.0)}]
    c = completion_from_vllm(_out([5, 6], "length", logprobs=steps))
    assert c.logprobs == (-0.5, -2.0)


def test_request_seeds_distinct_per_completion_and_stable():
    seeds = {request_seed(7, i, k) for i in range(50) for k in range(16)}
    assert len(seeds) == 50 * 16
    assert all(0 <= s < 2**63 for s in seeds)


@pytest.mark.skipif(HAS_VLLM, reason="checks the message shown when vllm is missing")
def test_missing_vllm_raises_clear_import_error():
    with pytest.raises(ImportError, match="HFSampler"):
        VLLMSampler("some/model")


@pytest.mark.gpu
def test_vllm_sampler_end_to_end(tmp_path):
    pytest.importorskip("vllm")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("vLLM needs CUDA")
    from transformers import AutoModelForCausalLM

    from rewardkit.models.tiny import build_tiny_model
    from rewardkit.sampling.vllm import _in_process_model

    # head size 32: vLLM 0.11's FlashAttention takes 32-256
    path = build_tiny_model(tmp_path / "m", layers=2, hidden=128, heads=4)
    s = VLLMSampler(str(path), gpu_memory_utilization=0.2, max_model_len=256, dtype="float32")
    assert _in_process_model(s.llm) is not None
    p = SamplingParams(n=3, max_new_tokens=16, temperature=1.0, seed=1, return_logprobs=True)
    a = s.sample(["hi", "2+2="], p)
    assert [len(g) for g in a] == [3, 3]
    for c in (c for g in a for c in g):
        assert c.num_tokens == len(c.token_ids) == len(c.logprobs) <= 16
    assert len({c.token_ids for c in a[0]}) > 1

    # weight sync: after load_weights from other weights, vLLM's log-probs are those weights'
    other = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32).cuda()
    with torch.no_grad():
        for q in other.parameters():
            q.add_(torch.randn_like(q) * 0.5)
    s.load_weights(other)
    (c,) = s.sample(["2+2="], SamplingParams(n=1, max_new_tokens=8, seed=2,
                                            return_logprobs=True))[0]
    prompt = s.encode("2+2=")
    ids = torch.tensor([prompt + list(c.token_ids)], device="cuda")
    with torch.no_grad():
        logp = other(ids).logits.float().log_softmax(-1)[0, len(prompt) - 1:-1]
    expected = logp.gather(-1, ids[0, len(prompt):, None])[:, 0].tolist()
    assert max(abs(x - y) for x, y in zip(c.logprobs, expected)) < 1e-2
