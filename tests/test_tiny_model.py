"""The tiny model builder: files, offline reload, exact tokenizer round trip, generation."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rewardkit.cli.main import main  # noqa: E402
from rewardkit.models.tiny import build_tiny_model, build_tokenizer, count_parameters  # noqa: E402

TRACE = (
    "12+7+35=?\n<think>The problem: 12+7+35.  12+7=19\nWait, let me verify: 12+7=19. Yes.\n"
    "19+35=54 , ok .</think>\\boxed{54}"
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "m", layers=1, hidden=32, heads=2)


def test_files_and_offline_reload(model_dir):
    names = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    tok = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    assert model.config.model_type == "qwen2"
    assert model.config.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert model.config.vocab_size == len(tok)
    assert (tok.pad_token_id, tok.eos_token_id) == (0, 1)


def test_tokenizer_round_trip_built_and_reloaded(model_dir):
    built = build_tokenizer()
    reloaded = transformers.AutoTokenizer.from_pretrained(model_dir)
    ids = built(TRACE)["input_ids"]
    assert reloaded(TRACE)["input_ids"] == ids
    # One token per character, except the three markers (each one token):
    # len(TRACE) minus (7-1) for <think>, (8-1) for </think>, (7-1) for \boxed{.
    assert len(ids) == len(TRACE) - 6 - 7 - 6
    for tok in (built, reloaded):
        assert tok.decode(ids) == TRACE
        # The markers are not special: stripping <eos>/<pad> keeps them.
        assert tok.decode(ids + [tok.eos_token_id], skip_special_tokens=True) == TRACE
    assert built("a b")["input_ids"] == built("a b", add_special_tokens=False)["input_ids"]


def test_same_seed_same_weights(tmp_path):
    a = build_tiny_model(tmp_path / "a", layers=1, hidden=16, heads=2, seed=3)
    b = build_tiny_model(tmp_path / "b", layers=1, hidden=16, heads=2, seed=3)
    c = build_tiny_model(tmp_path / "c", layers=1, hidden=16, heads=2, seed=4)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


def test_generate_a_few_tokens(model_dir):
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir)
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    enc = tok(["1+2=?\n", "10+20+3=?\n"], return_tensors="pt", padding=True, padding_side="left")
    out = model.generate(**enc, max_new_tokens=4, do_sample=False)
    assert out.shape == (2, enc["input_ids"].shape[1] + 4)
    assert isinstance(tok.decode(out[0, -4:]), str)


def test_cli_tiny_model(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["tiny-model", "--out", str(out), "--layers", "1", "--hidden", "32"]) == 0
    model = transformers.AutoModelForCausalLM.from_pretrained(out)
    assert f"{count_parameters(model):,} parameters" in capsys.readouterr().out
    assert model.config.num_hidden_layers == 1 and model.config.hidden_size == 32
    assert main(["tiny-model", "--out", str(out), "--hidden", "30", "--heads", "4"]) == 2
