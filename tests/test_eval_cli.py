"""`rewardkit eval` and `rewardkit compare` through main(argv), with a scripted sampler."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from rewardkit.cli import eval as eval_cli
from rewardkit.cli.main import main
from rewardkit.sampling.base import SamplingParams
from rewardkit.types import Completion


class EchoSampler:
    """Answers every prompt with \\boxed{<the number in the first word>}, short then long."""

    def __init__(self) -> None:
        self.params: list[SamplingParams] = []

    def sample(self, prompts: Sequence[str], params: SamplingParams) -> list[list[Completion]]:
        self.params.append(params)
        out = []
        for p in prompts:
            guess = p.split()[0]
            out.append([
                Completion(f"<think>ok</think> \\boxed{{{guess}}}", 5 + 10 * i, "stop")
                if i % 2 == 0 else Completion("<think>hmm", params.max_new_tokens, "length")
                for i in range(params.n)
            ])
        return out


@pytest.fixture
def sampler(monkeypatch):
    s = EchoSampler()
    seen = {}

    def fake_load(model, *, device, dtype, chat_template=False):
        seen.update(model=model, device=device, dtype=dtype, chat_template=chat_template)
        return s

    monkeypatch.setattr(eval_cli, "load_sampler", fake_load)
    s.seen = seen
    return s


@pytest.fixture
def data(tmp_path):
    # questions start with a number; the gold equals it for 2 of 3 rows
    rows = [{"q": "7 apples", "a": "7"}, {"q": "3 pears", "a": "3"}, {"q": "5 figs", "a": "6"}]
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_eval_writes_summary_and_samples(tmp_path, sampler, data, capsys):
    out = tmp_path / "ev"
    rc = main(["eval", "--model", "some/model", "--data", str(data), "--task", "gsm8k",
               "--prompt-key", "q", "--answer-key", "a", "--n", "2", "--max-new-tokens", "32",
               "--temperature", "0.5", "--budgets", "8,32", "--seed", "9", "--device", "cpu",
               "--reward", "accuracy", "--out", str(out)])
    assert rc == 0
    assert sampler.seen == {"model": "some/model", "device": "cpu", "dtype": "auto",
                            "chat_template": False}
    (params,) = sampler.params
    assert (params.n, params.max_new_tokens, params.temperature, params.seed) == (2, 32, 0.5, 9)
    summary = json.loads((out / "summary.json").read_text())
    # sample 0 of each problem answers correctly for 2 of 3 problems; sample 1 is cut off
    assert summary["accuracy"] == pytest.approx(2 / 6)
    assert summary["pass@2"] == pytest.approx(2 / 3)
    assert summary["truncated_frac"] == 0.5
    assert summary["budgets"] == {"8": pytest.approx(2 / 6), "32": pytest.approx(2 / 6)}
    assert summary["num_problems"] == 3 and summary["data"] == str(data)
    lines = (out / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 6 and json.loads(lines[0])["rewards"] == {"accuracy": 1.0}
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "summary.json" in printed


def test_eval_user_errors_exit_2(tmp_path, sampler, data, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "1", "a": "1"}\n{"q": "2"}\n')
    args = ["eval", "--model", "org/m", "--task", "gsm8k", "--prompt-key", "q", "--answer-key", "a"]
    assert main([*args, "--data", str(bad)]) == 2
    assert f"{bad}:2: missing answer key 'a'" in capsys.readouterr().err
    assert main([*args, "--data", str(data), "--budgets", "a,b"]) == 2
    assert "--budgets" in capsys.readouterr().err
    assert main([*args, "--data", str(data), "--n", "0"]) == 2
    assert sampler.params == []  # nothing was sampled for a bad command


def test_a_reward_the_data_cannot_feed_fails_before_the_model_loads(sampler, data, capsys):
    rc = main(["eval", "--model", "org/m", "--data", str(data), "--task", "gsm8k",
               "--prompt-key", "q", "--answer-key", "a", "--reward", "l1_exact"])
    err = capsys.readouterr().err
    assert rc == 2 and f"--data {data}: reward 'l1_exact'" in err and "target_tokens" in err
    assert sampler.seen == {}  # no model was loaded


def test_eval_missing_model_folder_is_a_user_error(tmp_path, data, capsys):
    rc = main(["eval", "--model", str(tmp_path / "nope"), "--data", str(data), "--task", "gsm8k",
               "--prompt-key", "q", "--answer-key", "a"])
    assert rc == 2 and "no such model folder" in capsys.readouterr().err


def test_compare_cli(tmp_path, sampler, data, capsys):
    base = ["eval", "--model", "org/m", "--data", str(data), "--task", "gsm8k", "--prompt-key",
            "q", "--answer-key", "a"]
    assert main([*base, "--n", "1", "--out", str(tmp_path / "one")]) == 0
    assert main([*base, "--n", "2", "--out", str(tmp_path / "two")]) == 0
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "one"), str(tmp_path / "two"),
                 "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| run | accuracy |")
    assert "| one * |" in printed  # n=1: all finished: accuracy 2/3 at 5 tokens
    assert "note: these runs differ in n" in printed
    for name in ("report.html", "pareto.png", "budgets.png", "table.md"):
        assert (tmp_path / "cmp" / name).exists()


def test_eval_generated_problems_are_distinct_and_num_problems_is_true(tmp_path, sampler, caplog):
    # issue 11 #15 (B7): arith's test split holds fewer than 1000 questions of difficulty 1-3
    out = tmp_path / "ar"
    assert main(["eval", "--model", "org/m", "--data", "arith", "--limit", "1000",
                 "--out", str(out)]) == 0
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    prompts = [s["prompt"] for s in samples]
    assert len(set(prompts)) == len(prompts) == summary["num_problems"] < 1000
    assert f"only {summary['num_problems']} distinct problems" in caplog.text


# -- U3: a mistyped model path is one line, exit 2 ------------------------------------------------
def test_two_part_path_under_a_local_folder_is_not_taken_for_a_hub_id(tmp_path, data, capsys,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    loads = []
    monkeypatch.setattr("rewardkit.sampling.hf.HFSampler.from_pretrained",
                        classmethod(lambda cls, *a, **k: loads.append(a)))
    rc = main(["eval", "--model", "runs/typo", "--data", str(data), "--task", "gsm8k",
               "--prompt-key", "q", "--answer-key", "a"])
    err = capsys.readouterr().err
    assert rc == 2 and err == "rewardkit: error: runs/typo: no such model folder\n"
    assert loads == []  # refused before any loading


def test_model_load_errors_are_one_line(data, capsys, monkeypatch):
    # `runs/typo` with no local `runs/` is a possible hub id: it goes to the real loader, whose
    # OSError (offline: "not a local folder and not reachable on the hub") becomes a UserError.
    calls = []

    def refuse(cls, path, **kw):
        calls.append((path, kw))
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files.\n"
                      "Check your connection or see the docs.")

    monkeypatch.setattr("rewardkit.sampling.hf.HFSampler.from_pretrained", classmethod(refuse))
    rc = main(["eval", "--model", "nobody/typo", "--data", str(data), "--task", "gsm8k",
               "--prompt-key", "q", "--answer-key", "a", "--chat-template"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("rewardkit: error: nobody/typo: cannot load the model: We couldn't")
    assert calls == [("nobody/typo", {"device": "auto", "dtype": "auto", "chat_template": True})]


# -- U4: eval can mirror training's sampling -------------------------------------------------------
def test_top_p_chat_template_and_progress(tmp_path, sampler, data, capsys):
    out = tmp_path / "ev"
    assert main(["eval", "--model", "org/m", "--data", str(data), "--task", "gsm8k",
                 "--prompt-key", "q", "--answer-key", "a", "--temperature", "0.6",
                 "--top-p", "0.95", "--chat-template", "--out", str(out)]) == 0
    assert sampler.params[0].top_p == 0.95 and sampler.seen["chat_template"] is True
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["top_p"], summary["chat_template"]) == (0.95, True)
    assert "eval: sampled 3/3 problems" in capsys.readouterr().err
    for bad in (["--top-p", "0"], ["--top-p", "1.5"], ["--temperature", "-1"]):
        assert main(["eval", "--model", "org/m", "--data", str(data), "--task", "gsm8k",
                     "--prompt-key", "q", "--answer-key", "a", *bad]) == 2
        assert bad[0] in capsys.readouterr().err
    assert len(sampler.params) == 1  # the bad commands sampled nothing


def test_default_batch_size_is_bounded(tmp_path, sampler, capsys):
    assert main(["eval", "--model", "org/m", "--data", "arith", "--limit", "70",
                 "--out", str(tmp_path / "ar")]) == 0
    assert len(sampler.params) == 3  # 70 prompts in calls of 32, 32 and 6
    err = capsys.readouterr().err
    assert "sampled 32/70" in err and "sampled 64/70" in err and "sampled 70/70" in err


def test_default_out_names_the_run_of_a_checkpoint(tmp_path, sampler, data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for run in ("grpo", "dapo"):
        model = tmp_path / "runs" / run / "checkpoints" / "step-200"
        model.mkdir(parents=True)
        assert main(["eval", "--model", str(model), "--data", str(data), "--task", "gsm8k",
                     "--prompt-key", "q", "--answer-key", "a"]) == 0
    # the same step of two runs: two folders (before: both were runs/eval/step-200-tiny)
    assert (tmp_path / "runs/eval/grpo-step-200-tiny/summary.json").exists()
    assert (tmp_path / "runs/eval/dapo-step-200-tiny/summary.json").exists()
