"""Reports across runs: a table, the accuracy-vs-tokens Pareto plot, budget curves, one HTML page.

    compare(["runs/eval/base", "runs/eval/grpo", "runs/eval/dler"], "runs/compare")
    # -> table.md, pareto.png, budgets.png (when runs carry budget curves), report.html

`write_report(out_dir, runs, samples_by_run)` is the reusable part (the demo calls it with its
own rows): `runs` are dicts with at least `name`, `accuracy` and `mean_tokens`; any other
summary field (pass@k, truncated_frac, budgets, ...) is shown when present. report.html is
self-contained: the PNGs are embedded as base64 data URIs and every text is HTML-escaped.
matplotlib is used through its Agg canvas directly, so no global backend is switched.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rewardkit.eval.harness import read_eval
from rewardkit.fileio import atomic_write_text

# Table columns in order: (summary key, header, format). Columns no run has are left out.
COLUMNS = [
    ("accuracy", "accuracy", "{:.3f}"),
    ("accuracy_judged", "accuracy (judged)", "{:.3f}"),  # shown only where it differs
    ("pass@1", "pass@1", "{:.3f}"),
    ("maj@max", "maj@n", "{:.3f}"),
    ("pass@max", "pass@n", "{:.3f}"),
    ("mean_tokens", "mean tokens", "{:.1f}"),
    ("mean_tokens_correct", "tokens (correct)", "{:.1f}"),
    ("mean_tokens_wrong", "tokens (wrong)", "{:.1f}"),
    ("truncated_frac", "truncated", "{:.3f}"),
    ("accuracy_per_1k_tokens", "acc / 1k tokens", "{:.3f}"),
    ("n", "n", "{}"),
    ("num_problems", "problems", "{}"),
]


def _num(x: Any) -> float | None:
    """A finite number as float, else None (bools, strings, NaN and None are not numbers here)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x):
        return float(x)
    return None


def _cell(row: Mapping[str, Any], key: str, fmt: str) -> str:
    if key in ("pass@max", "maj@max"):  # the largest k the run reports
        prefix = key.split("@")[0] + "@"
        ks = [int(k[len(prefix):]) for k in row
              if k.startswith(prefix) and k[len(prefix):].isdigit()]
        key = f"{prefix}{max(ks)}" if ks and max(ks) > 1 else key  # pass@1 has its own column
    value = row.get(key)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return fmt.format(value) if _num(value) is not None else str(value)


def table_rows(runs: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(headers, cells) for the runs table; a column is kept when any run has a value for it,
    and `accuracy_judged` only when some run has unjudged samples (else it repeats accuracy)."""
    cols = [c for c in COLUMNS if any(_cell(r, c[0], c[2]) != "–" for r in runs)
            and (c[0] != "accuracy_judged" or any(_num(r.get("unjudged_frac")) for r in runs))]
    headers = ["run", *[h for _, h, _ in cols]]
    cells = [[str(r.get("name", "?")), *[_cell(r, k, f) for k, _, f in cols]] for r in runs]
    return headers, cells


def markdown_table(runs: Sequence[Mapping[str, Any]]) -> str:
    """The runs as a GitHub-markdown table (the run on the Pareto front marked with *).

    >>> print(markdown_table([{"name": "a", "accuracy": 0.5, "mean_tokens": 100.0}]))
    | run | accuracy | mean tokens |
    |---|---:|---:|
    | a * | 0.500 | 100.0 |
    """
    headers, cells = table_rows(runs)
    front = set(pareto_front(runs))
    lines = ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * (len(headers) - 1)]
    for i, row in enumerate(cells):
        name = row[0].replace("|", "\\|") + (" *" if i in front else "")
        lines.append("| " + " | ".join([name, *row[1:]]) + " |")
    return "\n".join(lines)


SETTINGS = ("task", "data", "n", "max_new_tokens", "temperature")


def differing_settings(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Eval settings that differ between runs (absent ones are ignored): such runs are not
    strictly comparable, and the report says so.

    >>> differing_settings([{"data": "gsm8k", "n": 4}, {"data": "gsm8k", "n": 8}, {"n": 4}])
    ['n']
    """
    return [k for k in SETTINGS if len({json.dumps(r[k]) for r in runs if k in r}) > 1]


def pareto_front(runs: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of runs that no other run dominates (higher-or-equal accuracy with
    fewer-or-equal mean tokens, strictly better in one). Runs without both numbers are skipped.

    >>> pareto_front([{"accuracy": .5, "mean_tokens": 100}, {"accuracy": .6, "mean_tokens": 300},
    ...               {"accuracy": .4, "mean_tokens": 200}, {"accuracy": .6, "mean_tokens": 100}])
    [3]
    >>> pareto_front([{"accuracy": .5, "mean_tokens": 100}, {"accuracy": .7, "mean_tokens": 300}])
    [0, 1]
    """
    pts = [(i, _num(r.get("accuracy")), _num(r.get("mean_tokens"))) for i, r in enumerate(runs)]
    pts = [(i, a, t) for i, a, t in pts if a is not None and t is not None]
    return [
        i for i, a, t in pts
        if not any(a2 >= a and t2 <= t and (a2 > a or t2 < t) for _, a2, t2 in pts)
    ]


# -- plots ----------------------------------------------------------------------------------------
def _figure(width: float = 6.4, height: float = 4.4):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def plot_pareto(runs: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Accuracy vs mean tokens, one labelled point per run, the Pareto front joined and marked."""
    fig = _figure()
    ax = fig.add_subplot()
    front = set(pareto_front(runs))
    for i, r in enumerate(runs):
        a, t = _num(r.get("accuracy")), _num(r.get("mean_tokens"))
        if a is None or t is None:
            continue
        on = i in front
        ax.scatter([t], [a], s=70 if on else 40, marker="*" if on else "o",
                   color="tab:red" if on else "tab:blue", zorder=3)
        ax.annotate(str(r.get("name", i)), (t, a), textcoords="offset points", xytext=(6, 5),
                    fontsize=8)
    pts = sorted((_num(runs[i]["mean_tokens"]), _num(runs[i]["accuracy"])) for i in front)
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color="tab:red", lw=1, ls="--",
                zorder=2, label="Pareto front")
        ax.legend(loc="lower right", fontsize=8)
    ax.margins(0.12)  # room for the labels of the outermost points
    ax.set_xlabel("mean completion tokens (lower is better)")
    ax.set_ylabel("accuracy (higher is better)")
    ax.set_title("Accuracy vs tokens")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return Path(path)


def plot_budgets(runs: Sequence[Mapping[str, Any]], path: str | Path) -> Path | None:
    """Accuracy at token budget B (finished within B and correct), one line per run."""
    curves = [(str(r.get("name", i)), r.get("budgets") or {}) for i, r in enumerate(runs)]
    curves = [(name, c) for name, c in curves if c]
    if not curves:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for name, curve in curves:
        pts = sorted((int(b), _num(v)) for b, v in curve.items() if _num(v) is not None)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=name)
    ax.set_xscale("log", base=2)
    ticks = sorted({int(b) for _, c in curves for b in c})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("token budget B")
    ax.set_ylabel("accuracy within budget")
    ax.set_title("Accuracy vs token budget")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return Path(path)


# -- HTML -----------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px}
td.num{text-align:right;font-variant-numeric:tabular-nums}#runs td:first-child{white-space:nowrap}
.warn{background:#fff4d6;border:1px solid #e0c060;padding:6px 10px}
tr.front td:first-child{font-weight:bold}
img{max-width:100%;height:auto;border:1px solid #eee}
table.samples{table-layout:fixed;width:100%}.samples td{vertical-align:top}
pre{white-space:pre-wrap;word-break:break-word;max-height:24em;overflow:auto;font-size:12px;
background:#f7f7f7;padding:6px;margin:0}
.ok{color:#070}.bad{color:#a00}.meta{font-size:12px;color:#555}
"""


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _samples_html(runs: Sequence[Mapping[str, Any]],
                  samples_by_run: Mapping[str, Sequence[Mapping[str, Any]]],
                  per_run: int, max_chars: int) -> str:
    names = [str(r.get("name")) for r in runs if samples_by_run.get(str(r.get("name")))]
    if not names:
        return ""
    # Problems in the first run's order, then the first sample of each problem in every run.
    firsts: dict[str, dict[str, Mapping[str, Any]]] = {n: {} for n in names}
    for n in names:
        for s in samples_by_run[n]:
            firsts[n].setdefault(str(s.get("problem_id")), s)
    order = list(firsts[names[0]])
    shown = [p for p in order if all(p in firsts[n] for n in names)][:per_run] or order[:per_run]
    e = html.escape
    parts = ["<h2>Sample completions</h2>", '<table class="samples"><tr><th>problem</th>']
    parts += [f"<th>{e(n)}</th>" for n in names] + ["</tr>"]
    for pid in shown:
        first = next(firsts[n][pid] for n in names if pid in firsts[n])
        prompt = str(first.get("prompt", ""))
        parts.append(f"<tr><td><pre>{e(prompt[:max_chars])}</pre>"
                     f"<div class=meta>gold: {e(str(first.get('gold')))}</div></td>")
        for n in names:
            s = firsts[n].get(pid)
            if s is None:
                parts.append("<td>–</td>")
                continue
            ok = s.get("correct")
            mark = ('<span class="ok">correct</span>' if ok is True else
                    '<span class="bad">wrong</span>' if ok is False else "unjudged")
            text = str(s.get("completion", ""))
            cut = " …(cut)" if len(text) > max_chars else ""
            parts.append(
                f"<td><div class=meta>{mark} · {e(str(s.get('tokens')))} tokens · "
                f"{e(str(s.get('finish_reason')))} · answer: {e(str(s.get('answer')))}</div>"
                f"<pre>{e(text[:max_chars])}{cut}</pre></td>")
        parts.append("</tr>")
    parts.append("</table>")
    return "\n".join(parts)


def render_html(runs: Sequence[Mapping[str, Any]], images: Mapping[str, Path],
                samples_by_run: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                *, title: str = "rewardkit report", samples_per_run: int = 3,
                max_chars: int = 2000) -> str:
    """The whole report as one HTML string (images inlined as data URIs, all text escaped)."""
    e = html.escape
    headers, cells = table_rows(runs)
    front = set(pareto_front(runs))
    rows = []
    for i, row in enumerate(cells):
        tds = [f"<td>{e(row[0])}{' ★' if i in front else ''}</td>"]
        tds += [f'<td class="num">{e(c)}</td>' for c in row[1:]]
        rows.append(f'<tr class="{"front" if i in front else ""}">' + "".join(tds) + "</tr>")
    differing = differing_settings(runs)
    warn = [f'<p class="warn">These runs differ in {e(", ".join(differing))}: '
            "compare them with care.</p>"] if differing else []
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        "<p>★ = on the Pareto front (no other run is at least as accurate with at most as many "
        "tokens). Accuracy is the mean over all samples; tokens are policy tokens per "
        "completion; acc / 1k tokens = accuracy / (mean tokens / 1000).</p>",
        *warn,
        '<table id="runs"><thead><tr>' + "".join(f"<th>{e(h)}</th>" for h in headers)
        + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>",
    ]
    for key, alt in (("pareto", "accuracy vs mean tokens, Pareto front marked"),
                     ("budgets", "accuracy vs token budget")):
        if key in images:
            parts.append(f'<figure><img id="{key}" alt="{e(alt)}" src="{_data_uri(images[key])}">'
                         f"<figcaption>{e(alt)}</figcaption></figure>")
    parts += _by_difficulty_html(runs)
    if samples_by_run:
        parts.append(_samples_html(runs, samples_by_run, samples_per_run, max_chars))
    parts.append("</body></html>")
    return "\n".join(parts)


def _by_difficulty_html(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    e = html.escape
    out = []
    for r in runs:
        rows = r.get("by_difficulty") or []
        if not rows:
            continue
        keys = list(rows[0])
        out.append(f"<h3>By difficulty: {e(str(r.get('name')))}</h3><table>"
                   + "<tr>" + "".join(f"<th>{e(k)}</th>" for k in keys) + "</tr>")
        for row in rows:
            out.append("<tr>" + "".join(
                f"<td>{e(_fmt(k, row.get(k)))}</td>" for k in keys) + "</tr>")
        out.append("</table>")
    return out


def _fmt(key: str, value: Any) -> str:
    if not isinstance(value, float):
        return "–" if value is None else str(value)
    if not math.isfinite(value):
        return "–"
    return f"{value:.1f}" if "tokens" in key else f"{value:.3f}"


def write_report(out_dir: str | Path, runs: Sequence[Mapping[str, Any]],
                 samples_by_run: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                 *, title: str = "rewardkit report") -> dict[str, Path]:
    """Write table.md, pareto.png, budgets.png (if any run has budgets) and report.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"pareto": plot_pareto(runs, out / "pareto.png")}
    budgets = plot_budgets(runs, out / "budgets.png")
    if budgets is not None:
        paths["budgets"] = budgets
    atomic_write_text(out / "table.md", markdown_table(runs) + "\n")
    paths["table"] = out / "table.md"
    page = render_html(runs, paths, samples_by_run, title=title)
    atomic_write_text(out / "report.html", page)
    paths["report"] = out / "report.html"
    return paths


def load_runs(dirs: Sequence[str | Path]) -> tuple[list[dict], dict[str, list[dict]]]:
    """Rows and samples of eval folders. A demo folder (summary.json with `runs`) adds its rows.

    Run names come from the folders' paths (`run_names`).
    """
    runs: list[dict] = []
    samples_by_run: dict[str, list[dict]] = {}
    read = [read_eval(d) for d in dirs]
    names = iter(run_names([d for d, (_, summary) in zip(dirs, read)
                            if not isinstance(summary.get("runs"), list)]))
    for samples, summary in read:
        if isinstance(summary.get("runs"), list):  # a demo's summary: several runs in one file
            runs += [dict(r) for r in summary["runs"]]
            continue
        name = next(names)
        runs.append({"name": name, **summary})
        samples_by_run[name] = samples
    return runs, samples_by_run


def run_names(dirs: Sequence[str | Path]) -> list[str]:
    """The shortest path endings that tell the folders apart; a folder named `eval` (where
    `rewardkit demo` puts each run's evaluation) is named after its run.

    >>> run_names(["runs/demo/eval", "runs/demo/kimi_length/eval", "runs/x/base", "runs/y/base"])
    ['demo', 'kimi_length', 'x/base', 'y/base']
    """
    parts = [Path(d).resolve().parts for d in dirs]
    parts = [p[:-1] if p[-1] == "eval" and len(p) > 2 else p for p in parts]
    names = []
    for p in parts:
        k = 1
        while k < len(p) and sum(q[-k:] == p[-k:] for q in parts) > 1:
            k += 1
        names.append("/".join(p[-k:]))
    return names


def compare(dirs: Sequence[str | Path], out_dir: str | Path) -> tuple[str, dict[str, Path]]:
    """Compare eval runs: (markdown table, written paths) for table.md, the PNGs, report.html."""
    runs, samples_by_run = load_runs(dirs)
    paths = write_report(out_dir, runs, samples_by_run, title="rewardkit compare")
    return markdown_table(runs), paths
