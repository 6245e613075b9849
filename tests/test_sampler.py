"""HFSampler against `model.generate` and against a teacher-forced forward pass.

A tiny random Qwen2 model is built once per module in a temp dir (no downloads). A random model
rarely samples EOS greedily, so the greedy tests pick as EOS a token that greedy decoding does
produce for some rows at some step: rows then stop at different steps, which exercises EOS
handling, row compaction and early exit against generate's own stopping. At its initial scale
the random model is nearly blind to position and context (greedy repeats one character), so the
greedy tests use a "sharpened" copy whose weight matrices are scaled up: its greedy outputs vary
with context, and an off-by-one position or a mis-ordered row makes them differ from generate.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rewardkit.models.tiny import build_tiny_model  # noqa: E402
from rewardkit.sampling._fast_decode import FastDecoder  # noqa: E402
from rewardkit.sampling.base import SamplingParams  # noqa: E402
from rewardkit.sampling.hf import HFSampler, _make_cache, _PreallocatedLayer  # noqa: E402

PROMPTS = ["What is 2+3?", "hi", "Compute 12*7 and box it.", "x"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The models are tiny: with 2 threads on a shared, loaded CPU these tests ran ~6x slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), layers=2, hidden=64, heads=4, seed=3)


@pytest.fixture(scope="module")
def sampler(tiny_dir):
    return HFSampler.from_pretrained(str(tiny_dir), device="cpu")


@pytest.fixture(scope="module")
def sharp(tiny_dir):
    return _sharpen(HFSampler.from_pretrained(str(tiny_dir), device="cpu").model)


def _sharpen(model, factor=6.0):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and "embed" not in name:
                p.mul_(factor)
    return model


def _generate_greedy(model, tok, prompts, max_new, eos):
    """Reference: HF generate, greedy, left padding; cut each row after its first EOS."""
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        out = model.generate(
            **enc,
            do_sample=False,
            max_new_tokens=max_new,
            eos_token_id=eos,
            pad_token_id=tok.pad_token_id,
        )
    rows = []
    for row in out[:, enc["input_ids"].shape[1] :].tolist():
        rows.append(row[: row.index(eos) + 1] if eos in row else row)
    return rows


def _frequent_mid_token(rows):
    """A token first produced at step >= 3 by at least one row (so rows stop at varied steps)."""
    for row in rows:
        for tok in row[3:]:
            if tok not in row[:3]:
                return tok
    return rows[0][-1]


def _check_greedy_matches_generate(model, tok, max_batch_size=None, fast_decode=True):
    free = _generate_greedy(model, tok, PROMPTS, 30, eos=tok.eos_token_id)
    eos = _frequent_mid_token(free)
    ref = _generate_greedy(model, tok, PROMPTS, 30, eos=eos)
    s = HFSampler(
        model, tok, eos_token_ids=[eos], max_batch_size=max_batch_size, fast_decode=fast_decode
    )
    got = s.sample(PROMPTS, SamplingParams(n=2, max_new_tokens=30, temperature=0))
    lengths = set()
    for ref_row, group in zip(ref, got):
        for c in group:
            assert list(c.token_ids) == ref_row
            assert c.num_tokens == len(ref_row)
            assert c.finish_reason == ("stop" if ref_row[-1] == eos else "length")
            lengths.add(c.num_tokens)
    return lengths


@pytest.mark.parametrize("fast_decode", [True, False])
def test_greedy_equals_generate(sampler, sharp, fast_decode):
    # fast_decode=True runs the hand-written decode step (checked to be in use below),
    # False runs model(...) each step.
    assert FastDecoder.build(sharp) is not None
    lengths = _check_greedy_matches_generate(sharp, sampler.tokenizer, fast_decode=fast_decode)
    # The chosen EOS must actually stop some rows early, or the test proves less than it claims.
    assert min(lengths) < 30


def test_greedy_equals_generate_in_small_blocks(sampler, sharp):
    # max_batch_size=3 splits a prompt's 2 rows across blocks: the prefill sharing must cope.
    _check_greedy_matches_generate(sharp, sampler.tokenizer, max_batch_size=3)


def test_sliding_window_model_uses_dynamic_cache_and_matches_generate(tmp_path):
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tok = AutoTokenizer.from_pretrained(build_tiny_model(tmp_path, seed=5))
    cfg = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        use_sliding_window=True,
        sliding_window=6,
        max_window_layers=1,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(0)
    model = _sharpen(Qwen2ForCausalLM(cfg).eval())
    assert not isinstance(_make_cache(model, 10).layers[0], _PreallocatedLayer)
    _check_greedy_matches_generate(model, tok)


def test_llama_with_gqa_matches_generate(sampler):
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = sampler.tokenizer
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(1)
    model = _sharpen(LlamaForCausalLM(cfg).eval())
    assert FastDecoder.build(model) is not None
    _check_greedy_matches_generate(model, tok)


def test_weight_updates_are_seen_between_calls(tiny_dir):
    # The fast step decodes with fused copies of the weights: they must be rebuilt per call.
    s = HFSampler.from_pretrained(str(tiny_dir), device="cpu")
    _sharpen(s.model)
    p = SamplingParams(n=1, max_new_tokens=20, temperature=0)
    before = s.sample(PROMPTS, p)
    with torch.no_grad():
        for layer in s.model.model.layers:
            layer.mlp.up_proj.weight.mul_(-1.0)  # an in-place "optimizer step"
    after = s.sample(PROMPTS, p)
    assert [g[0].token_ids for g in after] != [g[0].token_ids for g in before]
    ref = _generate_greedy(s.model, s.tokenizer, PROMPTS, 20, eos=s.tokenizer.eos_token_id)
    assert [list(g[0].token_ids) for g in after] == ref


def test_same_seed_same_samples_other_seed_differs(sampler):
    p = SamplingParams(n=4, max_new_tokens=20, temperature=1.0, seed=11)
    a = sampler.sample(PROMPTS, p)
    b = sampler.sample(PROMPTS, p)
    c = sampler.sample(PROMPTS, SamplingParams(n=4, max_new_tokens=20, temperature=1.0, seed=12))
    assert a == b
    assert [x.token_ids for g in a for x in g] != [x.token_ids for g in c for x in g]
    # the n completions of one prompt are distinct draws, not copies
    assert len({x.token_ids for x in a[0]}) > 1


def test_shapes_and_finish_reasons(sampler):
    eos = sampler.tokenizer.eos_token_id
    groups = sampler.sample(
        PROMPTS, SamplingParams(n=8, max_new_tokens=40, temperature=1.0, seed=0)
    )
    assert [len(g) for g in groups] == [8] * len(PROMPTS)
    reasons = set()
    for c in (c for g in groups for c in g):
        assert c.num_tokens == len(c.token_ids) <= 40
        if c.finish_reason == "stop":
            assert c.token_ids[-1] == eos and eos not in c.token_ids[:-1]
        else:
            assert c.num_tokens == 40 and eos not in c.token_ids
        assert c.text == sampler.tokenizer.decode(c.token_ids, skip_special_tokens=True)
        reasons.add(c.finish_reason)
    # ~1% EOS chance per step over 40 steps and 32 rows: both kinds occur for this seed
    assert reasons == {"stop", "length"}


def _teacher_forced_logp(model, tok, prompt, completion, temperature=1.0):
    """log-softmax(logits / T) of each completion token, from one unpadded forward pass."""
    ids = tok(prompt)["input_ids"] + list(completion)
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0].float() / temperature  # (L, V)
    logp = torch.log_softmax(logits[len(ids) - len(completion) - 1 : -1], -1)  # (T, V)
    return logp, logp.gather(1, torch.tensor(completion)[:, None]).squeeze(1)


def test_logprobs_and_entropies_match_teacher_forcing(sampler):
    p = SamplingParams(
        n=3,
        max_new_tokens=15,
        temperature=0.7,
        seed=2,
        return_logprobs=True,
        return_entropies=True,
    )
    for prompt, group in zip(PROMPTS, sampler.sample(PROMPTS, p)):
        for c in group:
            assert len(c.logprobs) == len(c.entropies) == c.num_tokens
            # "policy" log-probs are at temperature 1 whatever temperature sampled them
            full, want = _teacher_forced_logp(sampler.model, sampler.tokenizer, prompt, c.token_ids)
            assert torch.allclose(torch.tensor(c.logprobs), want, atol=1e-4)
            ent = -(full.exp() * full).sum(-1)
            assert torch.allclose(torch.tensor(c.entropies), ent, atol=1e-4)


def test_sampling_logprobs_use_temperature(sampler):
    s = HFSampler(sampler.model, sampler.tokenizer, logprobs_at="sampling")
    p = SamplingParams(n=2, max_new_tokens=10, temperature=0.5, seed=4, return_logprobs=True)
    for prompt, group in zip(PROMPTS, s.sample(PROMPTS, p)):
        for c in group:
            _, want = _teacher_forced_logp(s.model, s.tokenizer, prompt, c.token_ids, 0.5)
            assert torch.allclose(torch.tensor(c.logprobs), want, atol=1e-4)


def test_tiny_top_p_is_greedy(sampler):
    # top_p -> 0 keeps only the most likely token, so sampling must reproduce greedy decoding.
    greedy = sampler.sample(PROMPTS, SamplingParams(n=1, max_new_tokens=12, temperature=0))
    nucleus = sampler.sample(
        PROMPTS, SamplingParams(n=3, max_new_tokens=12, temperature=1.0, top_p=1e-6, seed=9)
    )
    for g, group in zip(greedy, nucleus):
        assert all(c.token_ids == g[0].token_ids for c in group)


def test_top_p_filter_keeps_smallest_nucleus():
    from rewardkit.sampling.hf import _top_p_filter

    # probs 0.5, 0.3, 0.2: the mass above each token is 0, 0.5, 0.8.
    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3]]))
    kept = torch.isfinite(_top_p_filter(logits, 0.6))  # 0.5 < 0.6 keeps 0.3; 0.8 >= 0.6 drops 0.2
    assert kept.tolist() == [[False, True, True]]
    kept = torch.isfinite(_top_p_filter(logits, 0.5))  # 0.5 >= 0.5: the top token alone suffices
    assert kept.tolist() == [[False, True, False]]


def test_stop_strings(sampler):
    free = sampler.sample(PROMPTS, SamplingParams(n=1, max_new_tokens=30, temperature=0))
    text = free[0][0].text
    stop = text[5:7]  # two characters greedy decoding produces for prompt 0
    s = HFSampler(sampler.model, sampler.tokenizer, stop=[stop])
    got = s.sample(PROMPTS, SamplingParams(n=1, max_new_tokens=30, temperature=0))
    c = got[0][0]
    assert c.finish_reason == "stop"
    first = text.index(stop) + len(stop)
    assert c.text == text[:first]  # one char per token here, so the cut is exact
    for g, f in zip(got, free):  # rows without the stop string are unaffected
        if stop not in f[0].text:
            assert g[0].token_ids == f[0].token_ids and g[0].finish_reason == "length"


def test_chat_template_is_applied(sampler):
    tok = sampler.tokenizer
    tok.chat_template = "{% for m in messages %}<<{{ m['content'] }}>>{% endfor %}A:"
    try:
        s = HFSampler(sampler.model, tok, chat_template=True)
        assert tok.decode(s.encode("2+2")) == "<<2+2>>A:"
    finally:
        tok.chat_template = None


def test_zero_new_tokens_and_bad_params(sampler):
    out = sampler.sample(["a", "b"], SamplingParams(n=2, max_new_tokens=0))
    assert [[c.num_tokens for c in g] for g in out] == [[0, 0], [0, 0]]
    with pytest.raises(ValueError):
        sampler.sample(["a"], SamplingParams(top_p=0.0))
    with pytest.raises(ValueError):
        sampler.sample(["a"], SamplingParams(temperature=-1.0))


def test_from_pretrained_auto_dtype_on_cpu(tiny_dir):
    s = HFSampler.from_pretrained(str(tiny_dir), device="cpu", dtype="auto")
    assert next(s.model.parameters()).dtype == torch.float32
    assert s.eos_token_ids == (s.tokenizer.eos_token_id,)


def test_attend_matches_sdpa_with_gqa_and_mask():
    from rewardkit.sampling._fast_decode import _attend

    g = torch.Generator().manual_seed(0)
    b, nh, nkv, kv, hd = 3, 4, 2, 5, 8
    q = torch.randn(b, nh, 1, hd, generator=g)
    keys = torch.randn(b, nkv, kv, hd, generator=g)
    values = torch.randn(b, nkv, kv, hd, generator=g)
    keep = torch.rand(b, kv, generator=g) > 0.4
    keep[:, -1] = True  # the newest position is always visible
    mask = keep[:, None, None, :]
    want = torch.nn.functional.scaled_dot_product_attention(
        q, keys, values, attn_mask=mask, enable_gqa=True)  # (b, nh, 1, hd)
    assert torch.allclose(_attend(q, keys, values, mask), want.reshape(b, nh * hd), atol=1e-6)


def test_bf16_autocast_sampling(sampler):
    # Matrix products in bf16 over the fp32 weights: the sampled tokens' log-probs stay within
    # bf16 rounding of an fp32 teacher-forced pass, and are not bit-equal to it (bf16 was used).
    s = HFSampler(sampler.model, sampler.tokenizer, autocast=torch.bfloat16)
    p = SamplingParams(n=2, max_new_tokens=12, temperature=1.0, seed=4, return_logprobs=True)
    diffs = []
    for prompt, group in zip(PROMPTS, s.sample(PROMPTS, p)):
        for c in group:
            _, want = _teacher_forced_logp(sampler.model, sampler.tokenizer, prompt, c.token_ids)
            diffs.append((torch.tensor(c.logprobs) - want).abs().max())
    assert max(diffs) < 0.05 and max(diffs) > 0
    # the hand-written step and the model's own forward agree under autocast too
    slow = HFSampler(sampler.model, sampler.tokenizer, autocast=torch.bfloat16, fast_decode=False)
    for a, b in zip(s.sample(PROMPTS, p), slow.sample(PROMPTS, p)):
        for x, y in zip(a, b):
            n = min(len(x.logprobs), len(y.logprobs))
            assert torch.allclose(torch.tensor(x.logprobs[:n]), torch.tensor(y.logprobs[:n]),
                                  atol=0.05)
    assert next(sampler.model.parameters()).dtype == torch.float32  # weights untouched


def test_the_kv_cache_goes_by_the_installed_transformers_name(sampler):
    import warnings

    from rewardkit.sampling.hf import cache_kwarg

    class OldForward(torch.nn.Module):  # transformers before the rename
        def forward(self, input_ids=None, past_key_values=None, use_cache=None):
            return None

    assert cache_kwarg(OldForward()) == "past_key_values"
    # transformers 5.24 warns on every call that still passes `past_key_values`
    slow = HFSampler(sampler.model, sampler.tokenizer, fast_decode=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        slow.sample(PROMPTS[:1], SamplingParams(n=1, max_new_tokens=3, temperature=0))
