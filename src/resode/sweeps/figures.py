"""The figures of ``resode sweep show``, written as PNG into the sweep directory.

``sweep_metric.png``: the sweep's (validation) metric against each swept setting, every trial a
point, the mean over seeds of each configuration a bar. ``sweep_depth.png``: the test metric
against the depth N, one line per dynamics (the best configuration at each depth, mean ± std
over its seeds); only when the finished trials span two depths or more. ``sweep_time.png``: the
test metric against the training time, one point per configuration, the Pareto front drawn.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from matplotlib.ticker import NullFormatter

from ..plots import plt, save_figure
from .spec import Range

METRIC_PNG, DEPTH_PNG, TIME_PNG = "sweep_metric.png", "sweep_depth.png", "sweep_time.png"
LABELLED = 3
"""Configurations named on the time figure: the best ones by the sweep's metric."""
TRIAL_MARKS = (
    ("complete", "trial (one seed)", dict(marker="o", color="C0", alpha=0.55, s=18)),
    ("pruned", "pruned trial (its metric when pruned)", dict(marker="x", color="C3", s=22)),
)
"""How the per-setting figure marks a trial of each state: state, legend label, style."""


def write_figures(sweep_dir: Path, spec, rows: list[dict], records: list[dict]) -> list[Path]:
    """Draw the figures of the module docstring that have something to show; their paths."""
    finished = [r for r in rows if r["finished"]]
    if not finished:
        return []
    drawers = {
        METRIC_PNG: lambda: _metric_figure(spec, finished, records),
        DEPTH_PNG: lambda: _depth_figure(spec, finished),
        TIME_PNG: lambda: _time_figure(spec, finished),
    }
    written = []
    for name, draw in drawers.items():
        figure = draw()
        if figure is not None:
            save_figure(figure, sweep_dir / name)
            written.append(sweep_dir / name)
    return written


def metric_on_test(spec) -> str:
    """The test counterpart of the sweep's validation metric."""
    return "test_" + spec.metric.removeprefix("val_")


def _better(spec) -> str:
    return "higher" if spec.direction == "maximize" else "lower"


def value_text(value: Any) -> str:
    """A setting's value as it is shown: floats with 4 significant digits, lists as JSON."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def _grid(count: int, width: float = 4.2, height: float = 3.4):
    """A figure with ``count`` panels, at most three a row; the panels beyond it hidden."""
    columns = min(3, count)
    lines = math.ceil(count / columns)
    figure, panels = plt.subplots(lines, columns, figsize=(width * columns, height * lines),
                                  squeeze=False, sharey=True)  # fmt: skip
    for panel in panels.flat[count:]:
        panel.set_visible(False)
    return figure, list(panels.flat[:count])


def _metric_figure(spec, rows: list[dict], records: list[dict]):
    """The sweep's metric against each swept setting (one panel a setting)."""
    figure, panels = _grid(len(spec.space))
    for panel, (name, dimension) in zip(panels, spec.space.items(), strict=True):
        _setting_panel(panel, spec, name, dimension, rows, records)
    panels[0].set_ylabel(f"{spec.metric} ({_better(spec)} is better)")
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3,
                  fontsize=8, frameon=False)  # fmt: skip
    figure.suptitle(f"{spec.metric} against each swept setting ({spec.sampler} sampler, "
                    f"{len(spec.seeds)} seed(s) a configuration)", fontsize=10)  # fmt: skip
    figure.tight_layout()
    return figure


def _setting_panel(panel, spec, name: str, dimension, rows, records) -> None:
    """Trials (finished, pruned) and configuration means of ``spec.metric`` against ``name``;
    on a categorical axis each configuration has its own slot beside the others."""
    place = _placement(panel, name, dimension, records)
    slots, width = _slots(name, dimension, records)

    def where(item: dict) -> float:
        return place(item["point"][name]) + slots.get(item["configuration"], 0.0)

    for state, label, style in TRIAL_MARKS:
        chosen = [r for r in records if r["state"] == state and _trial_value(spec, r) is not None]
        if chosen:
            panel.scatter([where(r) for r in chosen], [_trial_value(spec, r) for r in chosen],
                          label=label, **style)  # fmt: skip
    means = [(where(r), r[spec.metric][0]) for r in rows
             if r.get(spec.metric, (None,))[0] is not None]  # fmt: skip
    label = "configuration: mean over seeds"
    if means and width:
        x, y = zip(*means, strict=True)
        panel.hlines(y, [v - width / 2 for v in x], [v + width / 2 for v in x], color="k",
                     linewidth=2, label=label, zorder=3)  # fmt: skip
    elif means:
        panel.scatter(*zip(*means, strict=True), marker="_", s=200, linewidths=2, color="k",
                      label=label, zorder=3)  # fmt: skip
    panel.set_xlabel(name + (" (log scale)" if getattr(dimension, "log", False) else ""))
    panel.grid(alpha=0.3)


def _slots(name: str, dimension, records: list[dict]) -> tuple[dict[str, float], float]:
    """Each configuration's offset from its category on a categorical axis, and the width of
    a slot (none on a numeric axis)."""
    if isinstance(dimension, Range):
        return {}, 0.0
    groups: dict[str, set[str]] = {}
    for record in records:
        groups.setdefault(value_text(record["point"][name]), set()).add(record["configuration"])
    width = min(0.7 / max(len(g) for g in groups.values()), 0.25) if groups else 0.25
    slots = {}
    for group in groups.values():
        for index, key in enumerate(sorted(group)):
            slots[key] = (index - (len(group) - 1) / 2) * width
    return slots, 0.8 * width


def _placement(panel, name: str, dimension, records: list[dict]):
    """Set up the panel's x axis for the setting; the function placing a value on it."""
    if isinstance(dimension, Range):
        low, high = float(dimension.low), float(dimension.high)
        if dimension.log:
            panel.set_xscale("log")
            panel.set_xlim(low / 1.25, high * 1.25)
            panel.xaxis.set_minor_formatter(NullFormatter())
        else:
            margin = 0.05 * (high - low) or 0.5
            panel.set_xlim(low - margin, high + margin)
        return float
    categories = [value_text(v) for v in dimension.values]
    categories += sorted({value_text(r["point"][name]) for r in records} - set(categories))
    panel.set_xticks(range(len(categories)), categories, rotation=30 if len(categories) > 4
                     else 0, fontsize=8)  # fmt: skip
    panel.set_xlim(-0.6, len(categories) - 0.4)
    return lambda value: categories.index(value_text(value))


def _trial_value(spec, record: dict) -> float | None:
    """The trial's metric: its final one, or where it was pruned; None without a finite one."""
    value = record["metrics"].get(spec.metric, record["value"])
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _depth_figure(spec, rows: list[dict]):
    """The test metric against the depth, a line per dynamics; None under two depths."""
    test = metric_on_test(spec)
    best: dict[tuple[str, int], dict] = {}
    for row in rows:  # best first: the first row at a (dynamics, depth) is its best
        if row.get(test, (None,))[0] is not None:
            best.setdefault(_dynamics_and_depth(spec, row), row)
    if len({depth for _, depth in best}) < 2:
        return None
    figure, axes = plt.subplots(figsize=(6, 4.2))
    lines = sorted({d for d, _ in best})
    every = sorted({n for _, n in best})
    dodge = 0.015 * (every[-1] - every[0])  # the lines' error bars side by side
    for index, dynamics in enumerate(lines):
        depths = sorted(n for d, n in best if d == dynamics)
        pairs = [best[dynamics, n][test] for n in depths]
        shift = (index - (len(lines) - 1) / 2) * dodge
        axes.errorbar([n + shift for n in depths], [m for m, _ in pairs],
                      yerr=[0.0 if s is None else s for _, s in pairs], marker="o", capsize=3,
                      label=dynamics)  # fmt: skip
    axes.set_xticks(every)
    axes.set_xlabel("number of steps N (depth)")
    axes.set_ylabel(f"{test} ({_better(spec)} is better)")
    axes.set_title(f"{test} against depth: the best configuration by {spec.metric} at each "
                   "depth,\nmean ± std over its seeds", fontsize=9)  # fmt: skip
    axes.legend(title="dynamics", fontsize=8, title_fontsize=8)
    axes.grid(alpha=0.3)
    return figure


def _dynamics_and_depth(spec, row: dict) -> tuple[str, int]:
    """A configuration's dynamics (with its network when not an ODE) and its depth: its steps,
    summed over the units when given one a unit."""
    config = spec.trial_config(json.loads(row["configuration"]), row["seeds"][0])
    steps = config.steps
    depth = sum(steps) if isinstance(steps, list) else int(steps)
    dynamics = config.dynamics if config.network == "ode" else f"{config.network} {config.dynamics}"
    return dynamics, depth


def _time_figure(spec, rows: list[dict]):
    """The test metric against the training time, a point per configuration."""
    test = metric_on_test(spec)
    shown = [r for r in rows if r.get(test, (None,))[0] is not None
             and r.get("seconds", (None,))[0] is not None]  # fmt: skip
    if not shown:
        return None
    figure, axes = plt.subplots(figsize=(6.5, 4.5))
    axes.scatter([r["seconds"][0] for r in shown], [r[test][0] for r in shown], s=22,
                 color="C0", alpha=0.7, label="configuration (mean over seeds)")  # fmt: skip
    front = pareto_front(shown, test, spec.direction == "maximize")
    axes.step([r["seconds"][0] for r in front], [r[test][0] for r in front], where="post",
              color="C3", marker="o", ms=5, label="Pareto front")  # fmt: skip
    seconds = [r["seconds"][0] for r in shown]
    middle = (min(seconds) + max(seconds)) / 2
    for rank, row in enumerate(rows[:LABELLED], 1):
        if row in shown:  # labels on the right half point left, to stay inside the axes
            right = row["seconds"][0] > middle
            text = f"#{rank} " + ", ".join(value_text(row["point"].get(n)) for n in spec.space)
            axes.annotate(text, (row["seconds"][0], row[test][0]), fontsize=7,
                          xytext=(-5 if right else 5, 5), textcoords="offset points",
                          ha="right" if right else "left")  # fmt: skip
    if min(seconds) > 0 and max(seconds) / min(seconds) > 20:
        axes.set_xscale("log")
    axes.set_xlabel("training time (seconds, mean over seeds)")
    axes.set_ylabel(f"{test} ({_better(spec)} is better)")
    axes.set_title(f"{test} against training time; #k: rank by {spec.metric} "
                   f"({', '.join(spec.space)})", fontsize=9)  # fmt: skip
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return figure


def pareto_front(rows: list[dict], metric: str, maximize: bool) -> list[dict]:
    """The rows no other row beats on both time (less) and ``metric``, fastest first."""
    sign = 1.0 if maximize else -1.0
    front: list[dict] = []
    for row in sorted(rows, key=lambda r: (r["seconds"][0], -sign * r[metric][0])):
        if not front or sign * row[metric][0] > sign * front[-1][metric][0]:
            front.append(row)
    return front
