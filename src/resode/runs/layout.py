"""The run directory: every file resode writes into one, named here and nowhere else.

A run directory holds

    config.json            the TrainConfig plus the model's in/out features (and a user
                           table's standardization): what every command reads back
    config.toml            the same settings as TOML: ``resode train --config RUN/config.toml``
                           trains the run again
    checkpoint.safetensors everything needed to resume, bit for bit (every epoch, and every
                           ``checkpoint_every`` steps mid-epoch): weights, optimizer, schedule,
                           RNG states, counters, history, the best validation epoch
                           so far, the config it belongs to
    model.safetensors      the weights the run keeps, the level they were saved at: with
                           ``keep = best`` (default) those of the best validation epoch so
                           far (of the level in progress), written when it improves; with
                           ``keep = last`` the latest (every checkpoint)
    run.lock               held while a process trains here (see :mod:`.lock`)
    history.csv            one row of metrics per epoch (multilevel: with level and steps)
    metrics.json           final metrics per split of the model kept, the best epoch
                           (``kept``, ``best_epoch``), for classification per-class metrics
                           of the test split under ``classes``, the per-epoch history, for
                           a multilevel run one summary per level under ``levels``, and the
                           baselines fitted on the same split under ``baselines``
    confusion.png          the test split's confusion matrix (classification)
    boundary.png           decision regions (2-D inputs, classification)
    regression.png         prediction against truth (regression)
    segmentation.png       image / truth / prediction for a few test samples (segmentation)
    tensorboard/           the history's scalars per epoch (only with ``--tensorboard``)

and, once the commands that analyse or use a run have been run on it,

    stability.json, spectrum.png, spectrum_unit{i}.png    resode stability
    depth.json, depth.png                                 resode evaluate --steps A,B,…
    gradients.json, gradients.png                         resode gradients
    landscape.json, landscape.png                         resode landscape
    robustness.json, robustness.png                       resode robustness
    predictions.csv | predictions.npz                     resode predict
    model.onnx | model.pt | model.pt2                     resode export
    report.html                                           resode report

A cross-validation (``resode train --folds K --out DIR``) is a folder of K run directories
``fold-1`` … ``fold-K`` and ``folds.json``, their metrics and mean ± std (:mod:`.folds`).

Every file is written atomically: to ``.NAME.XXXXXX.tmp`` beside it, then renamed. resode
deletes only names of this list (and their temporaries), never a user's own files; a run
directory is created, replaced (``--force``) and cleaned by :mod:`.directory` alone.
"""

from __future__ import annotations

import re
from pathlib import Path

CONFIG = "config.json"
CONFIG_TOML = "config.toml"
CHECKPOINT = "checkpoint.safetensors"
MODEL = "model.safetensors"
LOCK = "run.lock"
HISTORY = "history.csv"
METRICS = "metrics.json"
TENSORBOARD = "tensorboard"
CONFUSION = "confusion.png"
FIGURES = {"classification": "boundary.png", "regression": "regression.png",
           "segmentation": "segmentation.png"}  # fmt: skip
"""The figure of a finished run, by task (classification: only for 2-D inputs)."""

STABILITY = "stability.json"
DEPTH, DEPTH_FIGURE = "depth.json", "depth.png"
GRADIENTS, GRADIENTS_FIGURE = "gradients.json", "gradients.png"
LANDSCAPE, LANDSCAPE_FIGURE = "landscape.json", "landscape.png"
ROBUSTNESS, ROBUSTNESS_FIGURE = "robustness.json", "robustness.png"
REPORT = "report.html"
PREDICTIONS = {"csv": "predictions.csv", "npz": "predictions.npz"}
EXPORTS = {"onnx": "model.onnx", "torchscript": "model.pt", "pt2": "model.pt2"}
"""Export format and the file ``resode export`` writes by default."""
FOLDS = "folds.json"
"""The summary of a cross-validation, beside its folds' run directories."""


def fold_folder(fold: int) -> str:
    """The run directory of fold ``fold`` (1 … K) inside a cross-validation's folder."""
    return f"fold-{fold}"


def spectrum_figure(unit: int) -> str:
    """The spectrum figure of ODE unit ``unit`` (from 0) written by ``resode stability``."""
    return "spectrum.png" if unit == 0 else f"spectrum_unit{unit}.png"


TRAINING_FILES = (
    CONFIG, CONFIG_TOML, CHECKPOINT, MODEL, HISTORY, METRICS, CONFUSION, *FIGURES.values(),
)  # fmt: skip
"""What training writes (besides the lock and ``tensorboard/``)."""
ANALYSIS_FILES = (
    STABILITY, DEPTH, DEPTH_FIGURE, GRADIENTS, GRADIENTS_FIGURE, LANDSCAPE, LANDSCAPE_FIGURE,
    ROBUSTNESS, ROBUSTNESS_FIGURE, REPORT, *PREDICTIONS.values(), *EXPORTS.values(),
)  # fmt: skip
"""What the commands that analyse or use a run write into it."""
FILES = frozenset((*TRAINING_FILES, *ANALYSIS_FILES, LOCK))
_SPECTRUM = re.compile(r"spectrum(_unit[1-9][0-9]*)?\.png")
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[A-Za-z0-9_]+\.tmp")


def written_by_resode(name: str) -> bool:
    """Whether a file name (no folder) is one resode writes into a run directory, or the
    temporary of one (``.NAME.XXXXXX.tmp``, left by a write killed before its rename)."""
    temporary = _TEMPORARY.fullmatch(name)
    if temporary is not None:
        name = temporary["name"]
    return name in FILES or name == TENSORBOARD or _SPECTRUM.fullmatch(name) is not None


def temporaries(folder: Path) -> list[Path]:
    """The temporaries of resode's writes in ``folder`` (not a user's other ``.*.tmp`` files)."""
    found = []
    for path in folder.glob(".*.tmp"):
        temporary = _TEMPORARY.fullmatch(path.name)
        if temporary is not None and written_by_resode(temporary["name"]) and path.is_file():
            found.append(path)
    return found


def holds_run(folder: Path) -> bool:
    """Whether ``folder`` holds a run (a ``config.json``)."""
    return (folder / CONFIG).is_file()
