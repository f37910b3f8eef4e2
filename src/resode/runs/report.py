"""``report.html``: one self-contained page that shows a run (no files beside it, no network).

Sections: configuration, final metrics (with the epoch the run kept and, for classification,
a per-class table), the baselines fitted on the same split (where ``metrics.json`` holds
them), learning curves (drawn from ``history.csv``), the run's figures (every PNG in the run
directory, embedded as base64: confusion.png among them), and the stability, depth and
gradient results where ``resode stability / evaluate --steps / gradients`` wrote them.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ..errors import RunDirectoryError
from ..storage import atomic_write
from ..training.state import read_config
from .layout import CONFIG, DEPTH, GRADIENTS, METRICS, REPORT, ROBUSTNESS, STABILITY
from .load import read_document, read_history, require_run

SECTIONS = (
    "configuration", "columns", "metrics", "baselines", "curves", "figures", "stability",
    "robustness", "depth", "gradients",
)  # fmt: skip
STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:left}th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}"
    "figure img{max-width:520px}"
    "figure{display:inline-block;margin:.5em;vertical-align:top}.missing{color:#888}"
)


def png_tag(data: bytes) -> str:
    """An <img> holding the PNG ``data`` (base64): the page needs no file beside it."""
    return f'<img src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def html_table(rows: list[list], header: list[str] | None = None) -> str:
    """A <table> of ``rows`` (floats to 4 significant digits, text escaped) under ``header``."""
    def cell(value, tag="td"):
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        return f"<{tag}>{html.escape(text)}</{tag}>"

    head = "<tr>" + "".join(cell(h, "th") for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _missing(command: str) -> str:
    return f'<p class="missing">not computed: run <code>{html.escape(command)}</code></p>'


def _curves(run: Path) -> str:
    """Loss and metric columns of history.csv against epoch, as one embedded PNG."""
    rows = read_history(run)
    if not rows:
        return '<p class="missing">no history.csv</p>'
    from ..plots import learning_curves_png

    return png_tag(learning_curves_png(rows))


def _figures(run: Path) -> str:
    images = sorted(run.glob("*.png"))
    if not images:
        return '<p class="missing">no figures</p>'
    return "".join(
        f"<figure>{png_tag(p.read_bytes())}<figcaption>{html.escape(p.name)}</figcaption></figure>"
        for p in images
    )


def _kept(metrics: dict) -> str:
    """Which epoch the model shown is, e.g. "the best validation epoch 14 of 20"."""
    if "kept" not in metrics or not isinstance(metrics.get("history"), list):
        return ""
    epochs = len(metrics["history"])
    if metrics["kept"] == "best" and "best_epoch" in metrics:
        which = f"the best validation epoch {metrics['best_epoch']} of {epochs}"
        which += f" (by {metrics.get('best_metric', 'validation')})"
    else:
        which = f"the last epoch of {epochs}"
    return f"<p>model kept: {html.escape(which)}</p>"


def _classes(metrics: dict) -> str:
    """Precision, recall, F1 and support per class of the test split."""
    classes = metrics.get("classes")
    if not isinstance(classes, dict):
        return ""
    keys = ("precision", "recall", "f1", "support")
    try:
        rows = [[name, *(classes[k][i] for k in keys)] for i, name in enumerate(classes["names"])]
    except (KeyError, TypeError, IndexError):
        raise RunDirectoryError("metrics.json has a damaged 'classes' entry") from None
    split = html.escape(str(classes.get("split", "test")))
    return f"<h3>Per class ({split} split)</h3>" + html_table(rows, ["class", *keys])


def _stability(document: dict) -> str:
    units = document.get("units", [document])
    rows = [
        [i, u["dynamics"], u["integrator"], u["steps"], u["h"], u["verdict"], _advice(u)]
        for i, u in enumerate(units)
    ]
    return html_table(rows, ["unit", "dynamics", "integrator", "N", "h", "verdict", "advice"])


def _advice(unit: dict) -> str:
    """A unit's advice from its weighed verdict ("" in reports that predate it)."""
    return (unit.get("assessment") or {}).get("advice", "")


def _robustness(document: dict) -> str:
    """Accuracy per attack and certified accuracy per radius, and the Lipschitz bounds."""
    curves = document["attacks"]
    certified = document["certified_accuracy"] or [None] * len(document["eps"])
    rows = [
        [eps, *(curve["accuracy"][i] for curve in curves), certified[i]]
        for i, eps in enumerate(document["eps"])
    ]
    header = [f"ε ({document['norm']})", *(curve["attack"] for curve in curves), "certified"]
    bounds = document["lipschitz"]
    upper = bounds["upper_bound"]
    text = (
        f"<p>{document['examples']} {html.escape(document['split'])} examples. Lipschitz "
        f"constant ≥ {bounds['lower_bound']:.4g} (found), ≤ "
        + (f"{upper:.4g} (certified)" if upper is not None else f"∞ ({bounds['reason']})")
        + "</p>"
    )
    return text + html_table(rows, header)


def _depth(document: dict) -> str:
    keys = [k for k in document["results"][0] if k.startswith("test_")]
    rows = [[r["steps"], *(r[k] for k in keys)] for r in document["results"]]
    trained = f"<p>trained at N = {document['trained_steps']}</p>"
    return trained + html_table(rows, ["steps", *keys])


def _gradients(document: dict) -> str:
    rows = []
    for name in ("initial", "trained"):
        for i, unit in enumerate(document.get(name, [])):
            ratios = (unit["state_ratio_first_last"], unit["weight_ratio_first_last"])
            rows.append([name, i, *ratios])
    header = ["weights", "unit", "‖∂E/∂Y_0‖/‖∂E/∂Y_N‖", "‖∂E/∂θ_first‖/‖∂E/∂θ_last‖"]
    return html_table(rows, header)


def _columns(model) -> str:
    """A table run's encoding (column | kind | how), as training fitted and stored it."""
    from ..data.tables import TableEncoding

    stored = (model or {}).get("preprocessing") if isinstance(model, dict) else None
    if not isinstance(stored, dict) or "table" not in stored:
        return '<p class="missing">not a table: the inputs enter as they are</p>'
    encoding = TableEncoding.from_dict(stored["table"])
    rows = [[c.name, c.kind, c.how()] for c in encoding.columns]
    return html_table(rows, ["column", "kind", "how it enters the network"])


def _baselines(metrics: dict) -> str:
    """resode against the baselines fitted on its split: test metrics and seconds."""
    from ..training.baselines import comparison, metrics_task, run_rows

    task = metrics_task(metrics)
    if "baselines" not in metrics or task is None:
        return '<p class="missing">none: <code>resode train --baselines</code> fits them</p>'
    header, rows, notes = comparison(run_rows(metrics), task)
    return html_table(rows, header) + "".join(f"<p>{html.escape(note)}</p>" for note in notes)


def _results(run: Path, name: str, render, command: str) -> str:
    path = run / name
    if not path.exists():
        return _missing(command.replace("RUN", str(run)))
    try:
        return render(read_document(path))
    except (KeyError, TypeError, IndexError, AttributeError):
        raise RunDirectoryError(f"{path} lacks entries resode writes: it is damaged") from None


def report_sections(run: Path) -> dict[str, str]:
    """The HTML of each section of :data:`SECTIONS`."""
    read_config(run)  # refuses an invalid config.json
    config = read_document(run / CONFIG)
    model = config.pop("model", None)
    metrics = read_document(run / METRICS) if (run / METRICS).exists() else {}
    final = [[k, v] for k, v in metrics.items() if isinstance(v, (int, float))]
    return {
        "configuration": html_table([[k, v] for k, v in config.items() if v is not None]),
        "columns": _columns(model),
        "metrics": _kept(metrics) + html_table(final) + _classes(metrics)
        if final
        else _missing(f"resode train --resume {run}"),
        "baselines": _baselines(metrics),
        "curves": _curves(run),
        "figures": _figures(run),
        "stability": _results(run, STABILITY, _stability, "resode stability RUN"),
        "robustness": _results(run, ROBUSTNESS, _robustness, "resode robustness RUN"),
        "depth": _results(run, DEPTH, _depth, "resode evaluate RUN --steps 4,8,16,32"),
        "gradients": _results(run, GRADIENTS, _gradients, "resode gradients RUN"),
    }


TITLES = {
    "configuration": "Configuration",
    "columns": "How the table's columns enter the network",
    "metrics": "Final metrics",
    "baselines": "Baselines on the same split",
    "curves": "Learning curves",
    "figures": "Figures",
    "stability": "Stability",
    "robustness": "Robustness to perturbed inputs",
    "depth": "Metric against depth",
    "gradients": "Gradients through depth",
}


def write_report(run: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` for the run directory ``run`` (into ``out``, default: the run)."""
    run = require_run(run)
    sections = report_sections(run)
    body = "".join(
        f'<section id="{key}"><h2>{TITLES[key]}</h2>{sections[key]}</section>' for key in SECTIONS
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>resode run {html.escape(run.name)}</title><style>{STYLE}</style></head>"
        f"<body><h1>resode run {html.escape(str(run))}</h1>"
        f"{body}</body></html>"
    )
    path = (Path(out) if out is not None else run) / REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(page))
    return path
