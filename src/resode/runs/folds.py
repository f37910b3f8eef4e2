"""K-fold cross-validation: K ordinary runs of a user's data, one per test fold, summarized.

``resode train --folds K --out DIR`` trains fold k = 1 … K into ``DIR/fold-k``, a complete run
directory whose config has ``fold = k`` (so evaluate, report and predict work on each; the
splits are :func:`resode.data.dataset.fold_order`'s), and after each fold writes
``DIR/folds.json``: the config, each finished fold's metrics (resode's and its baselines') and
the mean and **sample** standard deviation (n − 1 in the denominator) of every metric over the
finished folds; ``complete`` says whether all K are done. ``resode train --resume DIR`` goes on
with the unfinished folds and skips the finished ones (those with a ``metrics.json``, unless
more epochs are asked for).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import ResodeError
from ..storage import write_json
from ..training.baselines import comparison, comparison_text, metrics_task
from ..training.config import TrainConfig
from ..training.state import extended_config, read_config
from .directory import check_new_run_folder
from .layout import FOLDS, METRICS, fold_folder, holds_run
from .load import read_document

STD = "sample standard deviation over the folds (n − 1 in the denominator)"


def holds_folds(folder: Path) -> bool:
    """Whether ``folder`` holds a cross-validation (a ``folds.json``) rather than one run."""
    return (Path(folder) / FOLDS).is_file() and not holds_run(Path(folder))


def check_new_folds_folder(out: Path, force: bool) -> None:
    """Refuse to start a cross-validation in a folder that holds one (or anything else)
    unless ``force``, which replaces each fold's run."""
    if holds_folds(out) and not force:
        raise ResodeError(
            f"{out} already holds a cross-validation; continue it with --resume {out} "
            "or replace it with --force"
        )
    check_new_run_folder(out, force or holds_folds(out))


def resumed_folds_config(out: Path, given: dict) -> TrainConfig:
    """The config of the cross-validation in ``out`` (folds.json), with the flags given on
    resuming (more epochs, runtime settings; any other change is refused)."""
    stored = read_document(Path(out) / FOLDS).get("config")
    if not isinstance(stored, dict):
        raise ResodeError(f"{Path(out) / FOLDS} holds no config: it was not written by resode")
    return extended_config(TrainConfig.from_dict(stored), given)


def _finished(folder: Path, config: TrainConfig) -> bool:
    """A fold is finished when its metrics.json exists and it was not asked for more epochs."""
    return (folder / METRICS).is_file() and read_config(folder).epochs >= config.epochs


def train_folds(
    config: TrainConfig,
    out: str | Path,
    resume: bool = False,
    force: bool = False,
    log=None,
    **options,
) -> dict:
    """Train the ``config.folds`` folds into ``out/fold-k``; return the folds.json document.

    ``resume`` goes on with the folds not finished, ``force`` replaces existing fold runs;
    ``log(line)`` is told each fold's result; ``options`` go to
    :func:`resode.training.loop.train` (progress, guard, …)."""
    from ..training.loop import train

    if config.folds is None or config.fold is not None:
        raise ResodeError("a cross-validation needs --folds K and no --fold")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for fold in range(1, config.folds + 1):
        folder, fold_config = out / fold_folder(fold), replace(config, fold=fold)
        skipped = resume and _finished(folder, fold_config)
        if skipped:
            metrics = read_document(folder / METRICS)
        else:
            again = resume and holds_run(folder)
            metrics = train(fold_config, folder, resume=again, force=force, **options)
        results.append(metrics)
        document = folds_document(config, results)
        write_json(out / FOLDS, document)
        if log is not None:
            shown = document["runs"][-1]["metrics"]
            tested = " ".join(f"{k}={v:.4f}" for k, v in shown.items() if k.startswith("test_"))
            done = ", finished before" if skipped else ""
            log(f"fold {fold}/{config.folds}: {tested} ({folder}{done})")
    return document


def _numbers(metrics: dict) -> dict[str, float]:
    return {
        k: float(v) for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }  # fmt: skip


def folds_document(config: TrainConfig, results: list[dict]) -> dict:
    """folds.json: the config, each fold's numeric metrics and baselines, and the mean and
    sample standard deviation of every metric of each model over the folds."""
    runs = [
        {
            "fold": fold,
            "run": fold_folder(fold),
            "metrics": _numbers(metrics),
            "baselines": metrics.get("baselines", {}),
        }
        for fold, metrics in enumerate(results, start=1)
    ]
    per_model: dict[str, list[dict]] = {"resode": [run["metrics"] for run in runs]}
    for run in runs:
        for name, result in run["baselines"].items():
            per_model.setdefault(name, []).append(_numbers(result))
    summary = {name: _mean_std(rows) for name, rows in per_model.items()}
    return {
        "folds": config.folds,
        "finished": len(runs),
        "complete": len(runs) == config.folds,
        "std": STD,
        "config": replace(config, fold=None).to_dict(),
        "runs": runs,
        "summary": summary,
    }


def _mean_std(rows: list[dict]) -> dict[str, dict]:
    """{metric: {mean, std, folds}} over the rows that hold the metric (std None for one)."""
    names = list(dict.fromkeys(key for row in rows for key in row))
    summary = {}
    for name in names:
        values = np.array([row[name] for row in rows if name in row])
        std = float(values.std(ddof=1)) if len(values) > 1 else None
        summary[name] = {"mean": float(values.mean()), "std": std, "folds": len(values)}
    return summary


def folds_text(document: dict) -> str:
    """The comparison of resode and its baselines over the folds, mean ± std, as text."""
    rows = {
        model: {k: (v["mean"], v["std"] if v["std"] is not None else float("nan"))
                for k, v in metrics.items()}
        for model, metrics in document["summary"].items()
    }  # fmt: skip
    task = metrics_task(rows["resode"])
    if task is None:
        return ""
    header, table, notes = comparison(rows, task)
    done = f"{document['finished']} of {document['folds']} folds, mean ± {STD}"
    return done + "\n" + comparison_text(header, table, notes)
