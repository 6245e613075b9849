"""Open report.html in real headless Chromium and check what a person would see.

Needs Debian's `chromium` (CI: scripts/install-test-browser.sh); skipped with a message without it.
The page is loaded from a file:// URL with networking features off, and a copy of it gets a
small probe script that records, after the load event, each image's decoded width: a data URI
that the browser cannot decode shows up as width 0.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess

import pytest

from rewardkit.eval.report import write_report

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--virtual-time-budget=5000"]
PROBE = ("<script>addEventListener('load', () => { for (const im of document.images) "
         "im.setAttribute('data-natural-width', im.naturalWidth); "
         "document.body.setAttribute('data-probe', 'done'); });</script>")


@pytest.fixture(scope="session")
def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("headless Chromium not installed: run scripts/install-test-browser.sh "
                    "(apt-get install -y chromium) to run the browser test")
    return path


def dump_dom(chromium: str, page, profile) -> str:
    proc = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def png_width(path) -> int:
    return struct.unpack(">I", path.read_bytes()[16:20])[0]  # IHDR width, big-endian


def test_report_renders_in_chromium(chromium, tmp_path):
    runs = [
        {"name": "start", "accuracy": 0.2, "mean_tokens": 80.0, "budgets": {"32": 0.1, "64": 0.2}},
        {"name": "dler", "accuracy": 0.6, "mean_tokens": 40.0, "budgets": {"32": 0.4, "64": 0.6}},
    ]
    samples = {r["name"]: [{"problem_id": "p", "prompt": "2+2?", "completion": f"<b>{r['name']}",
                            "tokens": 4, "finish_reason": "stop", "correct": True,
                            "answer": "4", "gold": "4"}] for r in runs}
    paths = write_report(tmp_path / "report", runs, samples, title="browser check")
    probed = tmp_path / "report" / "probed.html"
    probed.write_text(paths["report"].read_text().replace("</body>", PROBE + "</body>"))

    dom = dump_dom(chromium, probed, tmp_path / "profile")
    assert 'data-probe="done"' in dom  # the page loaded and its load event ran
    table = re.search(r'<table id="runs">.*?</table>', dom, re.S)
    assert table is not None
    body_rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(0), re.S)[1:]
    assert [re.search(r"<td>(.*?)</td>", r).group(1) for r in body_rows] == ["start", "dler ★"]
    widths = dict(re.findall(r'<img id="(\w+)"[^>]*data-natural-width="(\d+)"', dom))
    assert widths == {k: str(png_width(paths[k])) for k in ("pareto", "budgets")}
    assert int(widths["pareto"]) > 100
    # model text shows as text, not as markup
    assert "&lt;b&gt;dler" in dom
