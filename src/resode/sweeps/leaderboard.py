"""The leaderboard of a sweep: its trials grouped by configuration, mean ± std over seeds.

A trial counts once per run directory (a retried trial's earlier attempts and skipped points
are left out). A configuration's row holds its point, the seeds finished (complete), pruned
and failed, and for each metric the mean and the sample standard deviation (n − 1) over the
finished seeds. Configurations whose every seed finished come first, sorted by the sweep's
metric (best first), then those with fewer finished seeds (a mean over fewer seeds is not
comparable), then those with none.
"""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

from .spec import decode
from .study import optuna


def trial_records(study) -> list[dict[str, Any]]:
    """One record per run directory of the study: number, state (complete, pruned, failed,
    running, waiting), run, seed, point, configuration, value, metrics, error."""
    States = optuna().trial.TrialState
    names = {States.COMPLETE: "complete", States.PRUNED: "pruned", States.FAIL: "failed",
             States.RUNNING: "running", States.WAITING: "waiting"}  # fmt: skip
    best: dict[str, dict] = {}
    rank = {"complete": 0, "pruned": 1, "running": 2, "waiting": 3, "failed": 4}
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        if "run" not in attrs or attrs.get("skipped") or attrs.get("retried"):
            continue
        record = {
            "number": trial.number,
            "state": names.get(trial.state, str(trial.state)),
            "run": attrs["run"],
            "seed": attrs["seed"],
            "configuration": attrs["configuration"],
            "point": decode(json.loads(attrs["configuration"])),
            "value": trial.value,
            "metrics": attrs.get("metrics", {}),
            "error": attrs.get("error"),
        }
        held = best.get(record["run"])
        if held is None or rank[record["state"]] < rank[held["state"]]:
            best[record["run"]] = record
    return sorted(best.values(), key=lambda r: r["number"])


def leaderboard(records: list[dict], metric: str, direction: str, seeds: int = 1
                ) -> list[dict[str, Any]]:  # fmt: skip
    """Rows grouped by configuration (see the module docstring): those whose ``seeds`` seeds
    all finished first, by the mean of ``metric``; then those with fewer, by their mean."""
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(record["configuration"], []).append(record)
    rows = []
    for key, group in groups.items():
        done = [r for r in group if r["state"] == "complete"]
        names = sorted({k for r in done for k in r["metrics"]})
        row = {
            "configuration": key,
            "point": group[0]["point"],
            "seeds": sorted(r["seed"] for r in done),
            "finished": len(done),
            "pruned": sum(r["state"] == "pruned" for r in group),
            "failed": sum(r["state"] == "failed" for r in group),
            "running": sum(r["state"] in ("running", "waiting") for r in group),
            "runs": [r["run"] for r in sorted(done, key=lambda r: r["seed"])],
        }
        for name in names:
            values = [float(r["metrics"][name]) for r in done if name in r["metrics"]]
            row[name] = _mean_std(values)
        rows.append(row)
    sign = -1.0 if direction == "maximize" else 1.0

    def order(row):
        mean = row.get(metric, (None, None))[0]
        missing = mean is None or not math.isfinite(mean)
        partial = row["finished"] < seeds
        return (missing, partial, 0.0 if missing else sign * mean, row["configuration"])

    return sorted(rows, key=order)


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample std; NaN when a seed's value is not finite (never left out)."""
    if not values:
        return (None, None)
    if not all(math.isfinite(v) for v in values):
        return (math.nan, None)
    spread = statistics.stdev(values) if len(values) > 1 else None
    return (statistics.fmean(values), spread)


def mean_std_text(pair: tuple[float | None, float | None], digits: int = 4) -> str:
    """``0.9123 ± 0.0041`` (``—`` for no value; the mean alone for one seed)."""
    mean, spread = pair
    if mean is None:
        return "—"
    if not math.isfinite(mean):
        return "not finite"
    return f"{mean:.{digits}f}" + ("" if spread is None else f" ± {spread:.{digits}f}")
