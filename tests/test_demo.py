"""`rewardkit demo --quick` end to end, from the packaged starting model."""

import json
from pathlib import Path

from rewardkit import demo
from rewardkit.cli.main import main


def test_demo_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    names = [r["name"] for r in summary["runs"]]
    assert names == ["start", "accuracy-only", *[r.name for r in demo.RECIPES[1:]]]
    for row in summary["runs"]:
        assert 0.0 <= row["accuracy"] <= 1.0 and row["mean_tokens"] > 0
        assert (out / row["name"] / "eval" / "samples.jsonl").is_file()
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert all(name in html for name in names)
    printed = capsys.readouterr().out
    assert "| start" in printed and "accuracy-only" in printed


def test_demo_refuses_a_used_folder(tmp_path, capsys):
    (tmp_path / "x").write_text("keep me")
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "x").read_text() == "keep me"


def test_demo_eval_uses_distinct_problems(monkeypatch):
    # issue 11 #15 (B7): the demo's 200 held-out problems were 140 distinct ones
    from rewardkit.demo import DemoSettings, evaluate_model

    seen = {}
    monkeypatch.setattr("rewardkit.eval.evaluate",
                        lambda sampler, task, problems, **kw: seen.setdefault("problems", problems))
    monkeypatch.setattr("rewardkit.sampling.hf.HFSampler.from_pretrained",
                        classmethod(lambda cls, *a, **kw: None))
    evaluate_model(Path("unused"), DemoSettings())
    prompts = [p.prompt for p in seen["problems"]]
    assert len(prompts) == len(set(prompts)) == DemoSettings().eval_problems == 200


def test_demo_seed_changes_the_training_not_the_held_out_problems(monkeypatch, tmp_path):
    from rewardkit.demo import RECIPES, DemoSettings, evaluate_model, train_config

    got = {}
    monkeypatch.setattr("rewardkit.demo.run_demo",
                        lambda out, settings, **kw: got.setdefault("settings", settings))
    assert main(["demo", "--seed", "3", "--out", str(tmp_path / "d")]) == 0
    settings = got["settings"]
    assert settings.train_seed == 3 and settings.seed == DemoSettings().seed
    assert train_config(settings, RECIPES[0], Path("m")).seed == 3

    drawn = []
    monkeypatch.setattr("rewardkit.eval.evaluate",
                        lambda sampler, task, problems, **kw: drawn.append(problems))
    monkeypatch.setattr("rewardkit.sampling.hf.HFSampler.from_pretrained",
                        classmethod(lambda cls, *a, **kw: None))
    evaluate_model(Path("unused"), settings)
    evaluate_model(Path("unused"), DemoSettings())
    assert [p.prompt for p in drawn[0]] == [p.prompt for p in drawn[1]]
