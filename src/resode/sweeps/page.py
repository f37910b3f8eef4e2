"""``sweep.html``: one self-contained page that shows a sweep (no files beside it, no network).

Sections: what was swept (sampler, seeds, metric, base, the space, the fixed settings), the
leaderboard (a row per configuration, best first, linking to its runs' folders), the best
configuration (``best.toml``), the figures (embedded as base64) and the failed trials with
their error.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

from ..runs.report import STYLE, html_table, png_tag
from ..storage import atomic_write
from .figures import DEPTH_PNG, METRIC_PNG, TIME_PNG, metric_on_test, value_text
from .leaderboard import mean_std_text
from .show import BEST_TOML
from .spec import Choices

PAGE = "sweep.html"
PAGE_STYLE = STYLE + (
    "tr.best td{background:#eef7ee}pre{background:#f7f7f7;padding:.6em;overflow-x:auto}"
    "figure.wide img{max-width:100%}"
)
CAPTIONS = {
    METRIC_PNG: "the sweep's metric against each swept setting",
    DEPTH_PNG: "test metric against depth, per dynamics",
    TIME_PNG: "test metric against training time",
}


def write_page(sweep_dir: Path, spec, study_name: str, rows: list[dict], records: list[dict],
               pictures: list[Path]) -> Path:  # fmt: skip
    """Write ``sweep_dir/sweep.html`` (see the module docstring); its path."""
    sections = {
        "swept": ("What was swept", _swept(spec, study_name, records)),
        "leaderboard": ("Leaderboard", _leaderboard(spec, rows)),
        "best": ("Best configuration", _best(sweep_dir)),
        "figures": ("Figures", _figures(pictures)),
        "failed": ("Failed trials", _failed(records)),
    }
    body = "".join(f'<section id="{key}"><h2>{title}</h2>{content}</section>'
                   for key, (title, content) in sections.items())  # fmt: skip
    name = html.escape(study_name)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>resode sweep {name}</title><style>{PAGE_STYLE}</style></head>"
        f"<body><h1>resode sweep {name}</h1><p>{html.escape(str(sweep_dir.resolve()))}</p>"
        f"{body}</body></html>"
    )
    path = sweep_dir / PAGE
    atomic_write(path, lambda handle: handle.write(page))
    return path


def _swept(spec, study_name: str, records: list[dict]) -> str:
    """The sweep's settings, trial counts, space and fixed settings."""
    states = [r["state"] for r in records]
    counts = ", ".join(f"{states.count(s)} {s}" for s in ("complete", "pruned", "failed"))
    waiting = states.count("running") + states.count("waiting")
    base = spec.recipe or spec.config or "the data's recipe"
    settings = [
        ["study", study_name],
        ["sampler", spec.sampler + ("" if spec.trials is None else f", {spec.trials} trials")],
        ["seeds", ", ".join(str(s) for s in spec.seeds)],
        ["metric", f"{spec.metric} ({spec.direction})"],
        ["base settings", base],
        ["trials", counts + (f", {waiting} to go" if waiting else "")],
    ]
    space = [[name, _dimension_text(d)] for name, d in spec.space.items()]
    fixed = [[name, value_text(v)] for name, v in spec.fixed.items()]
    return (html_table(settings) + "<h3>Space</h3>" + html_table(space, ["setting", "values"])
            + "<h3>Fixed settings</h3>"
            + (html_table(fixed, ["setting", "value"]) if fixed else _none("none")))  # fmt: skip


def _dimension_text(dimension) -> str:
    if isinstance(dimension, Choices):
        return "one of " + ", ".join(value_text(v) for v in dimension.values)
    text = f"from {dimension.low:g} to {dimension.high:g}"
    if dimension.step is not None:
        text += f" in steps of {dimension.step:g}"
    return text + (", log scale" if dimension.log else "")


def _leaderboard(spec, rows: list[dict]) -> str:
    """A row per configuration, best first: its settings, seeds, metrics and runs."""
    if not rows:
        return _none("no trials yet")
    names = list(spec.space)
    metrics = [spec.metric, metric_on_test(spec), "seconds"]
    header = ["#", *names, "seeds finished", *metrics, "runs"]
    lines = []
    for rank, row in enumerate(rows, 1):
        cells = [str(rank), *(value_text(row["point"].get(n)) for n in names), _seeds(row)]
        cells += [mean_std_text(row.get(m, (None, None)), 2 if m == "seconds" else 4)
                  for m in metrics]  # fmt: skip
        escaped = [html.escape(c) for c in cells] + [_run_links(row)]
        best = ' class="best"' if rank == 1 and row["finished"] else ""
        lines.append(f"<tr{best}>" + "".join(f"<td>{c}</td>" for c in escaped) + "</tr>")
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    note = (
        f"mean ± standard deviation over the finished seeds; ranked by {spec.metric} "
        f"({spec.direction}); seconds: training time; runs: the finished runs' folders"
    )
    return f"<p>{html.escape(note)}</p><table>{head}{''.join(lines)}</table>"


def _seeds(row: dict) -> str:
    """``2 of 3`` with the pruned, failed and unfinished seeds named."""
    total = row["finished"] + row["pruned"] + row["failed"] + row["running"]
    others = [f"{row[k]} {k}" for k in ("pruned", "failed", "running") if row[k]]
    return f"{row['finished']} of {total}" + (f" ({', '.join(others)})" if others else "")


def _run_links(row: dict) -> str:
    """Links to the finished runs' folders under ``trials/``, named by their seed."""
    links = [
        f'<a href="trials/{html.escape(quote(run))}/" title="{html.escape(run)}">seed {seed}</a>'
        for seed, run in zip(row["seeds"], row["runs"], strict=True)
    ]
    return " ".join(links)


def _best(sweep_dir: Path) -> str:
    path = sweep_dir / BEST_TOML
    if not path.exists():
        return _none("no configuration finished yet")
    return (f"<p>{html.escape(path.name)}: train it with "
            f"<code>resode train --config {html.escape(str(path))}</code></p>"
            f"<pre>{html.escape(path.read_text())}</pre>")  # fmt: skip


def _figures(pictures: list[Path]) -> str:
    if not pictures:
        return _none("no figures: no trial finished")
    return "".join(_figure(p) for p in pictures)


def _figure(path: Path) -> str:
    """One embedded PNG with its caption; the per-setting figure spans the page."""
    wide = ' class="wide"' if path.name == METRIC_PNG else ""
    caption = html.escape(f"{path.name}: {CAPTIONS.get(path.name, '')}")
    return f"<figure{wide}>{png_tag(path.read_bytes())}<figcaption>{caption}</figcaption></figure>"


def _failed(records: list[dict]) -> str:
    failed = [r for r in records if r["state"] == "failed"]
    if not failed:
        return _none("none")
    rows = [[r["run"], r["seed"], _point_text(r["point"]), r.get("error") or "—"] for r in failed]
    return html_table(rows, ["run", "seed", "settings", "error"])


def _point_text(point: dict) -> str:
    return ", ".join(f"{k} = {value_text(v)}" for k, v in point.items())


def _none(text: str) -> str:
    return f'<p class="missing">{html.escape(text)}</p>'
