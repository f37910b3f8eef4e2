"""Baselines on a run's own split: what scikit-learn's standard models reach on the same rows.

For classification, ``LogisticRegression`` and ``HistGradientBoostingClassifier``; for
regression, ``Ridge`` and ``HistGradientBoostingRegressor`` (one per target column for k > 1
targets). Each is fitted on exactly the run's training split as the network sees it (encoded
and standardized), with ``random_state`` = the run's seed, and scored on train, val and test
under resode's metric names: ``accuracy`` and ``balanced_accuracy`` (the mean of the recalls
of the classes present), or ``r2`` (1 − Σ residual² / Σ (y − ȳ)², ȳ per column, summed over
all columns), ``rmse`` and ``mae`` in the target's own units (the standardization undone).
``seconds`` is the time of the fit. A model that fails records its error instead.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch

BASELINES = {
    "classification": ("logistic", "gradient_boosting"),
    "regression": ("ridge", "gradient_boosting"),
}
"""The baselines of each task, as named in metrics.json."""
COMPARED = {
    "classification": ("accuracy", "balanced_accuracy"),
    "regression": ("r2", "rmse", "mae"),
}
"""The metrics of each task the comparison table shows, the deciding one first."""
LOWER_IS_BETTER = ("rmse", "mae")
SMALL = 20_000
"""Training rows below which the baselines are fitted on one thread."""


def applies(task: str, kind: str) -> bool:
    """Whether baselines can be fitted: vectors (a table) for classification or regression."""
    return kind == "vector" and task in BASELINES


def wanted(config, dataset) -> bool:
    """Whether a run fits baselines: ``config.baselines`` if set, else for a user's own table."""
    from ..data.files import parse_source

    if config.baselines is not None:
        return config.baselines
    return parse_source(config.data) is not None and applies(dataset.task, dataset.kind)


def _model(name: str, task: str, seed: int, outputs: int):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.multioutput import MultiOutputRegressor

    if name == "logistic":
        return LogisticRegression(max_iter=1000, random_state=seed)
    if name == "ridge":
        return Ridge(random_state=seed)
    if task == "classification":
        return HistGradientBoostingClassifier(random_state=seed)
    trees = HistGradientBoostingRegressor(random_state=seed)
    return trees if outputs == 1 else MultiOutputRegressor(trees)


def _numpy(values: torch.Tensor) -> np.ndarray:
    values = values.detach().cpu()
    return (values.float() if values.dtype == torch.bfloat16 else values).numpy()


def scores(task: str, predicted: np.ndarray, y: np.ndarray, target_scale=None) -> dict:
    """resode's metrics of predictions: labels (count,), or values (count, k) on the scale of
    the standardized targets y, reported in the target's units (``target_scale`` = (μ, σ))."""
    if task == "classification":
        recalls = [np.mean(predicted[y == c] == c) for c in np.unique(y)]
        return {
            "accuracy": float(np.mean(predicted == y)),
            "balanced_accuracy": float(np.mean(recalls)),
        }
    y, predicted = y.astype(np.float64), predicted.astype(np.float64).reshape(y.shape)
    scale = 1.0 if target_scale is None else float(target_scale[1])
    residual = predicted - y
    spread = np.square(y - y.mean(axis=0)).sum()
    return {
        "r2": float(1 - np.square(residual).sum() / max(spread, np.finfo(np.float64).tiny)),
        "rmse": float(np.sqrt(np.mean(np.square(residual))) * scale),
        "mae": float(np.mean(np.abs(residual)) * scale),
    }


def _threads(rows: int):
    """One OpenMP thread for small tables (tree boosting on a few thousand rows is slower on
    more threads, much slower on a busy machine); the library's default for large ones."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1 if rows < SMALL else None, user_api="openmp")


def fit_baseline(name: str, dataset, seed: int) -> dict:
    """Fit baseline ``name`` on ``dataset``'s training split; {split}_{metric} and ``seconds``,
    a ``warning`` if the fit warned (e.g. no convergence), or {"error": …} if it failed."""
    y_train = _numpy(dataset.y_train)
    outputs = y_train.shape[1] if dataset.task == "regression" else 1
    target = y_train.ravel() if outputs == 1 else y_train
    result = {}
    try:
        with warnings.catch_warnings(record=True) as caught, _threads(len(target)):
            warnings.simplefilter("always")
            model = _model(name, dataset.task, seed, outputs)
            start = time.perf_counter()
            model.fit(_numpy(dataset.x_train), target)
            seconds = time.perf_counter() - start
            for split in ("train", "val", "test"):
                x, y = (_numpy(values) for values in dataset.split(split))
                found = scores(dataset.task, model.predict(x), y, dataset.target_scale)
                result.update({f"{split}_{key}": value for key, value in found.items()})
    except Exception as error:  # a failed baseline must not lose the run
        return {"error": f"{type(error).__name__}: {error}".strip()}
    result["seconds"] = seconds
    if caught:
        result["warning"] = str(caught[0].message).splitlines()[0]
    return result


def fit_baselines(dataset, seed: int) -> dict:
    """{name: result of :func:`fit_baseline`} for every baseline of ``dataset``'s task."""
    return {name: fit_baseline(name, dataset, seed) for name in BASELINES[dataset.task]}


def metrics_task(metrics: dict) -> str | None:
    """The task whose metrics ``metrics`` holds (classification, regression), or None."""
    for task, names in COMPARED.items():
        if f"test_{names[0]}" in metrics:
            return task
    return None


def comparison(rows: dict[str, dict], task: str) -> tuple[list[str], list[list], list[str]]:
    """The comparison of resode with its baselines: header, rows (model, test metrics,
    seconds; a value is a number or (mean, std)) and lines saying which baseline failed and
    which beats resode on the deciding metric. ``rows`` maps a model to its metrics."""
    metrics = [m for m in COMPARED[task] if any(f"test_{m}" in r for r in rows.values())]
    header = ["model", *(f"test {m}" for m in metrics), "seconds"]
    table, notes = [], []
    for model, result in rows.items():
        if f"test_{COMPARED[task][0]}" not in result:
            notes.append(f"{model} failed: {result.get('error', 'no results')}")
            continue
        values = [result.get(f"test_{m}", "") for m in metrics]
        table.append([model, *values, result.get("seconds", "")])
    decide, ours = f"test_{COMPARED[task][0]}", rows.get("resode", {})
    for model, result in rows.items():
        if model == "resode" or decide not in result or decide not in ours:
            continue
        theirs, mine = _mean(result[decide]), _mean(ours[decide])
        if theirs < mine if COMPARED[task][0] in LOWER_IS_BETTER else theirs > mine:
            notes.append(f"{model} beats resode on {decide}: {theirs:.4f} vs {mine:.4f}")
    return header, table, notes


def _mean(value) -> float:
    return value[0] if isinstance(value, tuple | list) else value


def run_rows(metrics: dict) -> dict[str, dict]:
    """The rows of :func:`comparison` for one run's metrics.json: resode, then its baselines."""
    return {"resode": metrics, **metrics.get("baselines", {})}


def cell(value, digits: int = 4) -> str:
    """A number as the comparison shows it (``digits`` decimals; (mean, std) as m ± s)."""
    if isinstance(value, tuple | list):
        return f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}"
    return f"{value:.{digits}f}" if isinstance(value, float | int) else str(value)


def comparison_text(header: list[str], table: list[list], notes: list[str]) -> str:
    """The comparison as aligned text lines (seconds to 2 decimals), then its notes."""
    cells = [header]
    for row in table:  # seconds, the last column, to 2 decimals
        cells.append([cell(v, 2 if i == len(row) - 1 else 4) for i, v in enumerate(row)])
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(f"{v:<{w}}" for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines + notes)
