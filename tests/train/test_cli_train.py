from __future__ import annotations

import yaml

from rewardkit.cli.main import main


def test_misspelled_key_exits_2_naming_file_line_and_key(make_config, capsys):
    path = make_config()
    path.write_text(path.read_text().replace("minibatch_size", "minibach_size"))
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "minibach_size" in t)
    assert f"{path}:{line}: optim.minibach_size: unknown key" in err
    assert "Traceback" not in err


def test_misspelled_set_key_exits_2(make_config, capsys):
    assert main(["train", str(make_config()), "--set", "sampling.group_sise=4"]) == 2
    assert "sampling.group_sise: unknown key" in capsys.readouterr().err


def test_unknown_reward_parameter_exits_2(make_config, capsys):
    path = make_config(rewards=[{"name": "accuracy", "params": {"alpha": 1}}])
    assert main(["train", str(path)]) == 2
    assert "rewards[0]" in capsys.readouterr().err


def test_bad_choice_exits_2(make_config, capsys):
    assert main(["train", str(make_config()), "--set", "loss.aggregation=mean"]) == 2
    assert "loss.aggregation: expected one of" in capsys.readouterr().err


def test_print_config_shows_resolved_values(make_config, capsys):
    assert main(["train", str(make_config()), "--set", "optim.lr=3e-4", "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["optim"]["lr"] == 3e-4 and cfg["optim"]["epochs"] == 1  # default filled in
    assert cfg["sampling"]["group_size"] == 4


def test_train_runs_from_the_cli(make_config, tmp_path):
    out = tmp_path / "run"
    assert main(["train", str(make_config(steps=1)), "--out", str(out)]) == 0
    assert (out / "metrics.jsonl").exists() and (out / "config.yaml").exists()
    assert main(["train", str(make_config(steps=1)), "--out", str(out)]) == 2  # no --resume


def test_a_reward_the_data_cannot_feed_fails_before_the_model_loads(make_config, tmp_path,
                                                                    capsys):
    # l1_exact reads meta.target_tokens, which the task's problems lack. The model path does
    # not exist: loading it first would report that instead.
    path = make_config(model=str(tmp_path / "no-model"), rewards=[{"name": "l1_exact"}])
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "task: tinyrun.CountTask: reward 'l1_exact'" in err and "target_tokens" in err
    assert "no-model" not in err and "Traceback" not in err


def test_a_run_that_fails_to_start_leaves_its_directory_as_it_was(make_config, tmp_path):
    out = tmp_path / "run"
    assert main(["train", str(make_config(steps=1)), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    # A resume whose rewards the data cannot feed fails while the run is being built; so does a
    # fresh run of it elsewhere.
    bad = make_config(steps=2, rewards=[{"name": "l1_exact"}])
    assert main(["train", str(bad), "--out", str(out), "--resume"]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert main(["train", str(bad), "--out", str(tmp_path / "fresh")]) == 2
    assert not (tmp_path / "fresh").exists()


def test_a_bad_set_value_is_blamed_on_the_set_not_the_file(make_config, capsys):
    path = make_config()
    for item, message in [("sampling.group_size=0", "sampling.group_size: must be >= 1"),
                          ("steps=abc", "steps: expected"),
                          ("sampling={group_size: 0}", "sampling.group_size: must be >= 1")]:
        assert main(["train", str(path), "--set", item]) == 2
        err = capsys.readouterr().err
        assert f"--set {item}: {message}" in err, err
        assert str(path) not in err
    # A bad value the file itself holds still names the file and line.
    path.write_text(path.read_text().replace("group_size: 4", "group_size: 0"))
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "group_size" in t)
    assert main(["train", str(path)]) == 2
    assert f"{path}:{line}: sampling.group_size: must be >= 1" in capsys.readouterr().err
