"""The shipped starting model: small, loads offline, and solves a few held-out problems."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rewardkit.models.tiny import start_model_path  # noqa: E402
from rewardkit.tasks.synthetic import ArithTask  # noqa: E402


def test_shipped_start_model_is_small_and_loads():
    path = start_model_path()
    size = sum(f.stat().st_size for f in path.iterdir())
    assert size < 5 * 2**20  # "a few MB" in the package
    record = json.loads((path / "sft.json").read_text())
    model = transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    assert model.config.hidden_size == record["config"]["hidden"]
    assert record["metrics"]["evals"][-1]["accuracy"] >= 0.85  # its own final validation eval


def test_shipped_start_model_solves_and_overthinks():
    """Greedy on 6 test problems (one batch, < 1 s of CPU): all in the answer format, most right,
    and verbose: the mean reply is well above the ~27 tokens of the concise traces."""
    path = start_model_path()
    model = transformers.AutoModelForCausalLM.from_pretrained(path)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    task = ArithTask()
    problems = task.problems("test", 6, seed=0)
    enc = tok([task.prompt(p) for p in problems], return_tensors="pt", padding=True,
              padding_side="left", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=300, do_sample=False,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    new = out[:, enc["input_ids"].shape[1]:].tolist()
    texts = [tok.decode(ids, skip_special_tokens=True) for ids in new]
    lengths = [ids.index(tok.eos_token_id) + 1 for ids in new]  # every reply must stop
    verdicts = [task.check(task.parse_gold(p.answer), t)[0] for p, t in zip(problems, texts)]
    assert sum(verdicts) >= 5
    assert sum(lengths) / len(lengths) > 54  # at least twice the concise mean
