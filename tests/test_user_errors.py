"""U1: user mistakes in rewards are one line and exit 2, before any expensive work.

Each case goes through `main(argv)` as a user would; `train` runs with a model path that does
not exist, so a message about the reward proves the check ran before the model load.
"""

from __future__ import annotations

import pytest

from rewardkit.cli.main import main


def brevity(group, *, scale=0.01):
    """A user reward written without `ctx=None` (the scorer always passes ctx)."""
    return [scale * c.num_tokens for c in group.completions]


ROW = {"prompt": "p", "answer": "1", "max_new_tokens": 10,
       "completions": [{"text": "\\boxed{1}", "num_tokens": 3, "finish_reason": "stop"}]}

CASES = [
    ("hapo:mode=cosin", r"reward 'hapo': mode must be one of cosine, linear, got 'cosin'"),
    ("laser_d:update_every=0", r"reward 'laser_d': update_every must be > 0, got 0"),
    ("budget_curriculum:start=10,end=20,decay=0.5,every=1", r"end \(20\) must be <= start"),
    ("repetition:ngram=0", r"reward 'repetition': ngram must be > 0"),
    (f"{__name__}.brevity", r"add a keyword parameter ctx=None"),
]


def _assert_one_line(capsys, code, message):
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("rewardkit: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert __import__("re").search(message, err), err


@pytest.mark.parametrize(("spec", "message"), CASES)
def test_score_bad_reward_is_one_line(write_jsonl, capsys, spec, message):
    src = write_jsonl([ROW])
    code = main(["score", "--task", "math", "--reward", spec, "--input", str(src)])
    _assert_one_line(capsys, code, message)


def test_score_l1_exact_without_target_tokens(write_jsonl, capsys):
    src = write_jsonl([ROW])
    code = main(["score", "--task", "math", "--reward", "l1_exact", "--input", str(src)])
    _assert_one_line(capsys, code, r"reward 'l1_exact': problem '1' needs a numeric "
                                    r"meta\['target_tokens'\]")


@pytest.mark.parametrize(("spec", "message"), CASES)
def test_train_bad_reward_fails_at_config_load(tmp_path, capsys, spec, message):
    name, _, params = spec.partition(":")
    items = dict(kv.split("=") for kv in params.split(",")) if params else {}
    flow = ", ".join(f"{k}: {v}" for k, v in items.items())
    config = tmp_path / "c.yaml"
    config.write_text(f"model: {tmp_path / 'no-such-model'}\ntask: arith\n"
                      f"rewards:\n  - {{name: {name}, params: {{{flow}}}}}\n")
    code = main(["train", str(config), "--out", str(tmp_path / "run")])
    _assert_one_line(capsys, code, message)
    assert not (tmp_path / "run").exists()


def test_eval_bad_reward_fails_before_the_model_loads(tmp_path, capsys):
    # the model folder exists but holds no model: reaching the load would be a different error
    data = tmp_path / "d.jsonl"
    data.write_text('{"problem": "1+1", "answer": "2"}\n')
    code = main(["eval", "--model", str(tmp_path), "--data", str(data),
                 "--task", "math", "--reward", "hapo:mode=cosin"])
    _assert_one_line(capsys, code, r"reward 'hapo': mode must be one of")
