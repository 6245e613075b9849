"""GSM8K test and MATH-500 ship inside the package: `rewardkit eval --data gsm8k` needs no
download and no shared/ folder, also from an installed wheel run outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rewardkit.eval.data import PACKAGED_DATA, load_eval_data


@pytest.mark.parametrize("name, count, first_answer", [
    ("gsm8k", 1319, "18"),  # GSM8K test has 1,319 problems; Janet's ducks: 16-3-4=9 eggs * $2 = 18
    ("math500", 500, r"\left( 3, \frac{\pi}{2} \right)"),  # (0,3) in polar: r=3, theta=pi/2
])
def test_named_benchmark_reads_packaged_copy(name, count, first_answer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no shared/ folder anywhere above
    monkeypatch.delenv("REWARDKIT_DATA_DIR", raising=False)
    _, problems, label = load_eval_data(name)
    assert (label, len(problems), problems[0].answer) == (name, count, first_answer)


def test_packaged_benchmarks_keep_their_licences():
    for folder in ("gsm8k", "math500"):
        assert "MIT License" in (PACKAGED_DATA / folder / "LICENSE").read_text()


@pytest.mark.slow
def test_eval_gsm8k_from_installed_wheel_outside_repo(tmp_path):
    """Build the wheel, install it into a bare folder, run `rewardkit eval --data gsm8k` from a
    temporary directory with that folder first on the path (the packaged tiny model answers)."""
    repo = Path(__file__).resolve().parents[1]
    source = tmp_path / "source"  # a fresh copy: a stale build/ in the checkout cannot leak in
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "src"):
        copy = shutil.copytree if (repo / name).is_dir() else shutil.copy
        copy(repo / name, source / name, **({"ignore": shutil.ignore_patterns(
            "__pycache__", "*.egg-info")} if copy is shutil.copytree else {}))
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w",
                    str(tmp_path / "dist")], check=True, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("rewardkit-*.whl"))
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("REWARDKIT_DATA_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    where = subprocess.run([sys.executable, "-c", "import rewardkit; print(rewardkit.__file__)"],
                           cwd=run_dir, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(site))  # the wheel's copy, not the source tree
    out = subprocess.run(
        [sys.executable, "-m", "rewardkit", "eval", "--model",
         str(site / "rewardkit" / "data" / "arith-start"), "--data", "gsm8k", "--limit", "2",
         "--max-new-tokens", "2", "--out", str(run_dir / "out")],
        cwd=run_dir, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (run_dir / "out" / "summary.json").exists()
