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


def test_a_subcommand_imports_only_its_own_module():
    """`rewardkit score ...` builds only its own parser (no eval/demo/train imports on the way
    to its work); the top-level help and an unknown command still see every subcommand."""
    code = ("import sys; from rewardkit.cli.main import build_parser; "
            "p = build_parser('tiny-model'); "
            "print(sorted(m for m in sys.modules if m.startswith('rewardkit.cli.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "['rewardkit.cli.main', 'rewardkit.cli.tiny_model']"
    for argv in (["--help"], ["nosuch"], ["tiny_model"]):  # tiny_model: the module, not a command
        out = subprocess.run([sys.executable, "-m", "rewardkit", *argv], capture_output=True,
                             text=True)
        assert "score" in out.stdout + out.stderr and "tiny-model" in out.stdout + out.stderr
