"""Issue 16 item 2: `sampling.backend: vllm` in the training loop, on CPU through a fake engine
that implements the small part of vLLM's API the sampler uses (LLM.generate with token-id
prompts and per-request SamplingParams, get_tokenizer, the in-process model's load_weights,
reset_prefix_cache). The real engine is exercised by the GPU test at the end."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

import rewardkit.sampling.vllm as vllm_module
from rewardkit.config import load_config
from rewardkit.errors import UserError
from rewardkit.sampling.base import encode_prompt_ids
from rewardkit.train import loop
from rewardkit.train.checkpoint import latest_checkpoint
from rewardkit.train.loop import train


class FakeEngineModel:
    """The engine's model: `load_weights` takes (HF name, tensor) pairs, as vLLM's models do."""

    def __init__(self, model):
        self.model = model
        self.loads = 0

    def parameters(self):
        return self.model.parameters()

    def load_weights(self, weights):
        self.model.load_state_dict(dict(weights))
        self.loads += 1


class FakeLLM:
    """A CPU stand-in for vllm.LLM over its own copy of the weights (loaded from `model`)."""

    made: list[FakeLLM] = []

    def __init__(self, model, **options):
        self.options = options
        self.hf = AutoModelForCausalLM.from_pretrained(model).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.engine_model = FakeEngineModel(self.hf)
        worker = SimpleNamespace(model_runner=SimpleNamespace(model=self.engine_model))
        self.llm_engine = SimpleNamespace(
            model_executor=SimpleNamespace(driver_worker=SimpleNamespace(worker=worker)))
        self.requests, self.seeds, self.resets = [], [], 0
        FakeLLM.made.append(self)

    def get_tokenizer(self):
        return self.tokenizer

    def reset_prefix_cache(self):
        self.resets += 1
        return True

    @torch.no_grad()
    def generate(self, requests, sampling_params, use_tqdm=True):
        self.loads_before_sampling = getattr(self, "loads_before_sampling",
                                             self.engine_model.loads)
        outs = []
        for request, sp in zip(requests, sampling_params):
            ids = list(request["prompt_token_ids"])  # token ids, never text
            self.requests.append(ids)
            self.seeds.append(sp.seed)
            gen = torch.Generator().manual_seed(sp.seed % 2**31)
            new, lps = [], []
            for _ in range(sp.max_tokens):
                logits = self.hf(input_ids=torch.tensor([ids + new])).logits[0, -1].float()
                logp = logits.log_softmax(-1)
                tok = int(torch.multinomial((logits / sp.temperature).softmax(-1), 1,
                                            generator=gen))
                new.append(tok)
                lps.append({tok: SimpleNamespace(logprob=float(logp[tok]))})
                if tok == self.tokenizer.eos_token_id:
                    break
            done = bool(new) and new[-1] == self.tokenizer.eos_token_id
            outs.append(SimpleNamespace(outputs=[SimpleNamespace(
                token_ids=new, text=self.tokenizer.decode(new, skip_special_tokens=True),
                finish_reason="stop" if done else "length",
                logprobs=lps if sp.logprobs is not None else None)]))
        return outs


@pytest.fixture
def fake_vllm(monkeypatch):
    FakeLLM.made.clear()
    module = SimpleNamespace(LLM=FakeLLM, SamplingParams=lambda **kw: SimpleNamespace(**kw))
    monkeypatch.setattr(vllm_module, "_import_vllm", lambda: module)
    return FakeLLM.made


def test_vllm_backend_trains_with_token_ids_seeds_and_weight_sync(make_config, tiny_model,
                                                                    tmp_path, fake_vllm,
                                                                    monkeypatch):
    rows_seen = []
    original = loop.prepare_rows
    monkeypatch.setattr(loop, "prepare_rows",
                        lambda *a, **k: rows_seen.append(original(*a, **k)) or rows_seen[-1])
    cfg = load_config(make_config(steps=2), ["sampling.backend=vllm"])
    rows = train(cfg, tmp_path / "run", progress=False)
    assert len(rows) == 2 and all(r["grad_norm"] > 0 for r in rows)
    (engine,) = fake_vllm
    # one source of prompt ids: the engine got exactly the ids the trainer trained on
    trained = [r.prompt_ids for step in rows_seen for r in step]
    assert engine.requests == trained  # 2 steps x 2 prompts x 4 completions, in order
    assert all(isinstance(t, int) for ids in engine.requests for t in ids)  # ids, not text
    # a seed per completion: 8 distinct seeds in each step
    assert len(set(engine.seeds[:8])) == 8 and len(set(engine.seeds[8:])) == 8
    # weights copied after every update, and the prefix cache dropped with them
    assert engine.engine_model.loads == engine.resets == 2
    assert engine.options["seed"] == cfg.seed  # vLLM's reseeding of the globals is the run's
    _, ckpt = latest_checkpoint(tmp_path / "run")
    saved = load_file(ckpt / "model.safetensors")
    for name, p in engine.hf.state_dict().items():
        if name in saved:
            torch.testing.assert_close(p, saved[name], rtol=0, atol=0)


def test_vllm_engine_gets_the_trainers_tokenizer_and_chat_template(tiny_model, fake_vllm):
    from rewardkit.sampling.base import SamplingParams
    from rewardkit.sampling.vllm import VLLMSampler

    trainer_tok = AutoTokenizer.from_pretrained(tiny_model)
    sampler = VLLMSampler(str(tiny_model), tokenizer=trainer_tok, chat_template=False)
    assert sampler.tokenizer is trainer_tok
    sampler.sample(["1+2="], SamplingParams(n=2, max_new_tokens=3, seed=5))
    expected = encode_prompt_ids(trainer_tok, "1+2=", chat_template=False)
    assert fake_vllm[0].requests == [expected, expected]


def _sampler_over(llm, monkeypatch):
    from rewardkit.sampling.vllm import VLLMSampler

    monkeypatch.setattr(vllm_module, "_import_vllm", lambda: SimpleNamespace())
    return VLLMSampler("unused", llm=llm, tokenizer=SimpleNamespace(eos_token_id=None))


def test_weights_reach_the_engine_in_its_dtype_one_tensor_at_a_time(monkeypatch):
    received = []

    class EngineModel:
        def parameters(self):
            yield torch.zeros(1, dtype=torch.bfloat16)

        def load_weights(self, weights):
            assert not isinstance(weights, (list, tuple, dict))  # streamed, not a full copy
            received.extend((name, t.dtype) for name, t in weights)

    worker = SimpleNamespace(model_runner=SimpleNamespace(model=EngineModel()))
    llm = SimpleNamespace(llm_engine=SimpleNamespace(model_executor=SimpleNamespace(
        driver_worker=SimpleNamespace(worker=worker))), reset_prefix_cache=lambda: True)
    policy = torch.nn.Linear(2, 2)  # fp32 master weights
    _sampler_over(llm, monkeypatch).load_weights(policy)
    assert received == [("weight", torch.bfloat16), ("bias", torch.bfloat16)]
    # the model config's dtype wins: a quantized engine's parameters do not show it
    llm.llm_engine.model_config = SimpleNamespace(dtype=torch.float16)
    received.clear()
    _sampler_over(llm, monkeypatch).load_weights(policy)
    assert received == [("weight", torch.float16), ("bias", torch.float16)]


def test_weight_sync_refuses_an_engine_it_cannot_reach_or_a_stale_cache(monkeypatch):
    elsewhere = SimpleNamespace(llm_engine=SimpleNamespace(), reset_prefix_cache=lambda: True)
    with pytest.raises(RuntimeError, match="needs the engine in this process"):
        _sampler_over(elsewhere, monkeypatch).load_weights(torch.nn.Linear(2, 2))
    model = SimpleNamespace(parameters=lambda: iter([torch.zeros(1)]),
                            load_weights=lambda weights: list(weights))
    stale = SimpleNamespace(llm_engine=SimpleNamespace(model_executor=SimpleNamespace(
        driver_worker=SimpleNamespace(model_runner=SimpleNamespace(model=model)))),
        reset_prefix_cache=lambda: False)
    with pytest.raises(RuntimeError, match="did not reset its prefix cache"):
        _sampler_over(stale, monkeypatch).load_weights(torch.nn.Linear(2, 2))


def test_vllm_with_several_training_processes_is_refused_before_a_model_loads(make_config):
    from rewardkit.train.dist import Dist
    from rewardkit.train.run import build_policy

    cfg = load_config(make_config(model="no/such/model"), ["sampling.backend=vllm"])
    with pytest.raises(UserError, match="vllm runs one engine in one training process; this "
                                        "run has 2"):
        build_policy(cfg, Dist(rank=0, world=2), None, weights_from=None)


def test_vllm_backend_errors_are_user_errors(make_config, tmp_path, monkeypatch):
    with pytest.raises(UserError, match="sampling.backend: expected one of hf, vllm"):
        load_config(make_config(), ["sampling.backend=vlm"])
    with pytest.raises(UserError, match="lora_rank > 0 is not supported"):
        load_config(make_config(lora_rank=4), ["sampling.backend=vllm"])

    def missing():
        raise ImportError("VLLMSampler needs vllm (a CUDA machine: pip install vllm)")

    monkeypatch.setattr(vllm_module, "_import_vllm", missing)
    cfg = load_config(make_config(steps=1), ["sampling.backend=vllm"])
    with pytest.raises(UserError, match="sampling.backend: vllm: VLLMSampler needs vllm"):
        train(cfg, tmp_path / "run", progress=False)


@pytest.mark.gpu
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm not installed")
def test_real_vllm_backend_trains_and_syncs(make_config, tmp_path):
    cfg = load_config(make_config(steps=2, device="cuda"),
                      ["sampling.backend=vllm", "sampling.vllm_gpu_memory_utilization=0.2"])
    rows = train(cfg, tmp_path / "run", progress=False)
    assert all(r["grad_norm"] > 0 for r in rows)


def test_resumed_run_copies_the_checkpoint_into_a_fresh_engine(make_config, tmp_path,
                                                                fake_vllm):
    cfg = load_config(make_config(steps=2), ["sampling.backend=vllm"])
    train(cfg, tmp_path / "run", stop_after=1, progress=False)
    train(cfg, tmp_path / "run", resume=True, progress=False)
    first, resumed = fake_vllm
    assert first.engine_model.loads == 1  # after step 1
    # the new engine starts from `model`: the step-1 weights are copied in before sampling
    # step 2, then the step-2 update is copied after it
    assert resumed.loads_before_sampling == 1 and resumed.engine_model.loads == 2
