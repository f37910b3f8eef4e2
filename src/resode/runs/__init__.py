"""Everything that reads or writes a run directory (its files: :mod:`resode.runs.layout`).

    from resode.runs import load_run, evaluate_run, predict_run, export_run, write_report

- load and evaluate (:mod:`.load`): the trained network and its data, metrics at any depth;
- the analyses written into a run (:mod:`.analyses`): stability, gradients, landscape;
- :mod:`.predict`, :mod:`.export`, :mod:`.report` (``report.html``);
- creating, replacing and cleaning a run directory (:mod:`.directory`) and its lock
  (:mod:`.lock`), used by training.
"""

from importlib import import_module

_WHERE = {
    "analyze_run": "analyses",
    "gradients_of_run": "analyses",
    "landscape_of_run": "analyses",
    "export_run": "export",
    "evaluate_run": "load",
    "initial_model": "load",
    "load_run": "load",
    "write_depth_study": "load",
    "HEADLINE": "load",
    "predict_run": "predict",
    "write_report": "report",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    """The public functions, imported on first use: training imports this package's leaf
    modules (layout, directory, lock), which must not pull in the modules above training."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_WHERE[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
