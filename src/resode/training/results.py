"""What a finished run reports: the final metrics of the model it keeps, the best epoch, the
per-class report, the baselines on the same split, and metrics.json with the figures.

``finish(run)`` takes the :class:`~resode.training.loop.Run` at the end of training.
"""

from __future__ import annotations

from ..runs.layout import CONFUSION, FIGURES, METRICS, MODEL
from ..storage import read_tensors, write_json
from .baselines import fit_baselines, wanted
from .best import holds_best
from .evaluation import class_report, final_metrics


def finish(run) -> dict:
    """The run's metrics: final per split (of the model kept), the best epoch, history,
    seconds, time limit, level summaries; for classification per-class metrics of the test
    split under ``classes``; the baselines fitted on the same split (see :mod:`.baselines`).

    Rank 0 also writes metrics.json, the plots and, for classification, confusion.png.
    """
    config, history, dataset = run.config, run.history, run.dataset
    if run.context.is_main and holds_best(config.keep, run.best, run.counters["level"]):
        run.model.load_state_dict(read_tensors(run.out / MODEL)[0])  # the kept weights
    metrics = final_metrics(run.model, dataset)
    metrics.update(_selection(run))
    if dataset.task == "regression":
        metrics["standardized_targets"] = dataset.target_scale is not None  # loss's units
    if dataset.task == "classification":
        metrics["classes"] = class_report(run.model, dataset)
    metrics["history"] = history
    metrics["seconds"] = sum(r["seconds"] for r in history)
    if config.max_seconds is not None:
        metrics["epochs"] = len(history)
        stopped = metrics.get("stopped_early", False)
        metrics["time_limited"] = len(history) < config.epochs * len(run.levels) and not stopped
    if run.multilevel:
        metrics["levels"] = run.summaries
    if run.pruned:
        metrics["pruned_at_epoch"] = run.counters["epoch"]
    if run.context.is_main and wanted(config, run.dataset):
        metrics["baselines"] = fit_baselines(run.dataset, config.seed)
    if run.context.is_main:
        write_json(run.out / METRICS, metrics)
        from ..plots import plot_confusion, plot_run

        plot_run(run.model, dataset, run.out / FIGURES[dataset.task])
        if "classes" in metrics:
            plot_confusion(metrics["classes"], run.out / CONFUSION)
    return metrics


def _selection(run) -> dict:
    """``kept`` (best or last), ``best_epoch`` (from 1, as history.csv's epoch column) and
    ``best_metric``; with ``patience``, ``stopped_early`` (any level). A run trained before
    the best epoch was tracked has kept its last one."""
    kept = holds_best(run.config.keep, run.best, run.counters["level"])
    selection = {"kept": "best" if kept else "last"}
    if run.best is not None:
        selection.update(best_epoch=run.best.epoch, best_metric=run.best.metric)
    if run.config.patience is not None:
        earlier = any(s.get("stopped_early", False) for s in run.summaries)
        selection["stopped_early"] = run.stopped_early or earlier
    return selection
