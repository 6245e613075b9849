"""Config loading: defaults, overrides, and errors that point at the file, line and key."""

import pytest

from rewardkit.config import TrainConfig, dump_config, load_config
from rewardkit.errors import UserError


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_yaml_and_overrides(tmp_path):
    path = write(tmp_path, "model: m\nsampling:\n  group_size: 4\noptim: {lr: 1e-5}\n")
    cfg = load_config(path, ["sampling.max_new_tokens=64", "loss.dual_clip=3",
                             "rewards=[{name: accuracy}, {name: laser, params: {target_length: 9}}]"])
    assert isinstance(cfg, TrainConfig)
    assert (cfg.model, cfg.sampling.group_size, cfg.sampling.max_new_tokens) == ("m", 4, 64)
    assert cfg.optim.lr == 1e-5 and isinstance(cfg.optim.lr, float)  # YAML reads 1e-5 as a string
    assert cfg.loss.dual_clip == 3.0
    assert [r.name for r in cfg.rewards] == ["accuracy", "laser"]
    assert cfg.rewards[1].params == {"target_length": 9}
    # the resolved config round-trips through its YAML dump
    assert load_config(write(tmp_path, dump_config(cfg))) == cfg


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("model: m\nsampling:\n  group_sise: 4\n", [], r"c\.yaml:3: sampling\.group_sise: unknown key"),
        ("steps: many\n", [], r"c\.yaml:1: steps: expected int, got 'many'"),
        ("rewards:\n  - {name: a, wieght: 2}\n", [], r"c\.yaml:2: rewards\[0\]\.wieght: unknown key"),
        ("model: [\n", [], r"c\.yaml:2: invalid YAML"),
        ("- a\n", [], "must be a mapping"),
        ("model: m\n", ["optim.lrr=1"], r"optim\.lrr: unknown key; known keys here: lr"),
        ("model: m\n", ["optim"], "bad --set 'optim': expected key=value"),
        ("model: m\n", ["model.x=1"], "'model' is not a section"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path, text, overrides, message):
    with pytest.raises(UserError, match=message):
        load_config(write(tmp_path, text), overrides)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_set_reaches_one_list_element(tmp_path):
    # U5: `--set rewards[0].weight=0.2` used to fail with "unknown key"
    path = write(tmp_path, "model: m\nrewards:\n  - {name: accuracy}\n  - {name: format}\n")
    cfg = load_config(path, ["rewards[1].weight=0.2", "rewards[1].params.think_tags=false"])
    assert [(r.name, r.weight, r.params) for r in cfg.rewards] == [
        ("accuracy", 1.0, {}), ("format", 0.2, {"think_tags": False})]
    # no rewards in the file: the default list ([accuracy]) is the one indexed
    cfg = load_config(write(tmp_path, "model: m\n"), ["rewards[0].weight=0.5"])
    assert [(r.name, r.weight) for r in cfg.rewards] == [("accuracy", 0.5)]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("rewards[2].weight=1", r"rewards has 2 entries \(indices 0\.\.1\)"),
        ("optim[0].lr=1", "'optim' is not a list"),
        ("rewards[0].wieght=1", r"rewards\[0\]\.wieght: unknown key"),
    ],
)
def test_set_list_element_errors(tmp_path, override, message):
    path = write(tmp_path, "model: m\nrewards:\n  - {name: accuracy}\n  - {name: format}\n")
    with pytest.raises(UserError, match=message):
        load_config(path, [override])


def test_default_checkpoints_are_periodic():
    # U9: the default used to be 0 (only after the last step): a crash at step 199 of 200 lost all
    assert TrainConfig().checkpoint.every == 50


def test_reward_primary_and_oversample_keys(tmp_path):
    path = write(tmp_path, "model: m\nrewards:\n  - {name: accuracy, primary: false}\n"
                           "filters: {oversample: 3}\n")
    cfg = load_config(path)
    assert cfg.rewards[0].primary is False and cfg.filters.oversample == 3.0
    assert load_config(write(tmp_path, "model: m\n")).rewards[0].primary is None  # the reward's
    with pytest.raises(UserError, match=r"c\.yaml:3: rewards\[0\]\.primary: expected bool, got 3"):
        load_config(write(tmp_path, "model: m\nrewards:\n  - {name: accuracy, primary: 3}\n"))
    with pytest.raises(UserError, match=r"filters\.oversample: must be >= 1\.0, got 0\.5"):
        load_config(write(tmp_path, "model: m\nfilters: {oversample: 0.5}\n"))
