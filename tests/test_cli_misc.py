"""`rewardkit --help`, `rewards list` and `rewards show`."""

import subprocess
import sys

from rewardkit.cli.main import main
from rewardkit.registry import REWARDS


def test_rewards_list_names_every_reward(capsys):
    assert main(["rewards", "list"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines()]
    assert listed == REWARDS.names() and "accuracy" in listed


def test_rewards_show_prints_docstring_and_parameters(capsys):
    assert main(["rewards", "show", "format"]) == 0
    out = capsys.readouterr().out
    assert "parameters: think_tags=True" in out and "arxiv.org" in out and ">>>" in out


def test_rewards_show_unknown(capsys):
    assert main(["rewards", "show", "nope"]) == 2
    assert "unknown reward 'nope'; known:" in capsys.readouterr().err


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "rewardkit", "--help"], capture_output=True,
                         text=True)
    assert out.returncode == 0 and "score" in out.stdout and "rewards" in out.stdout
