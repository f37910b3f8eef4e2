"""The analyses written into a run directory: stability (``resode stability``), gradients
through depth (``resode gradients``) and the loss landscape (``resode landscape``).

Each loads the run, calls the model-level analysis of :mod:`resode.analysis`, and writes a
JSON document and a figure (names in :mod:`.layout`) into the run or into ``out``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..analysis import stability_report, trajectory_spectra
from ..analysis.depth import depth_gradients
from ..analysis.diagnosis import units
from ..analysis.iterative import iterative_spectra
from ..analysis.landscape import check_grid, plane, segment
from ..analysis.lipschitz import block_lipschitz
from ..errors import ResodeError, check_choice
from ..storage import write_json
from ..tasks import get_task
from ..training.config import BLOCK_FIELDS, TrainConfig
from ..training.state import read_config
from .layout import (
    GRADIENTS,
    GRADIENTS_FIGURE,
    LANDSCAPE,
    LANDSCAPE_FIGURE,
    STABILITY,
    spectrum_figure,
)
from .load import SPLITS, initial_model, load_run

MAX_DENSE_UNKNOWNS = 1024
"""Largest n = channels·pixels per example whose n×n Jacobian spectrum is computed densely;
larger units get their extreme eigenvalues matrix-free (Arnoldi)."""
MATRIX_FREE_EXAMPLES = 4
"""Examples analysed matrix-free per large unit."""


def analyze_run(run: str | Path, out: str | Path | None = None, samples: int = 512) -> dict:
    """Stability analysis of every ODE unit of a trained run on up to ``samples`` test inputs.

    Each unit is analysed on the states that reach it. A Jacobian has n = channels·pixels
    rows, and its eigenvalues cost O(n³) per example and step, so a unit with large n is
    analysed on fewer examples (``examples`` in its report); above ``MAX_DENSE_UNKNOWNS`` only
    the extreme eigenvalues are computed, matrix-free. Writes ``stability.json`` (the
    first unit's report at the top level, all units under ``units``) and ``spectrum.png``
    (``spectrum_unit{i}.png`` for further units) into ``out`` (default: the run directory).
    Batch normalization is analysed with its running statistics, as in evaluation; a run saved
    by an older resode, whose batch normalization couples the examples, is refused. Each
    unit's certified Lipschitz bound (:func:`~resode.analysis.lipschitz.block_lipschitz`)
    enters its verdict where it is finite.
    """
    from ..plots import plot_spectrum

    model, dataset = load_run(run, per_example="Jacobian")
    out = Path(run) if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        y = model.open(dataset.x_test[:samples])
    reports = []
    blocks = units(model)
    for index, block in enumerate(blocks):
        n = block.initial_state(y[:1])[0].numel()  # split dynamics: Y and Z
        dense = n <= MAX_DENSE_UNKNOWNS
        if dense:
            affordable = max(1, min(len(y), int(4e9 / (block.steps * n**3))))
            spectra = trajectory_spectra(block, y[:affordable])
        else:  # extreme eigenvalues only, matrix-free
            affordable = min(len(y), MATRIX_FREE_EXAMPLES)
            spectra = iterative_spectra(block, y[:affordable])
        bound = block_lipschitz(block, tuple(y.shape[2:])).value  # the unit's own map
        certified = bound if math.isfinite(bound) else None
        reports.append(
            stability_report(block, y[:affordable], spectra, dense=dense, lipschitz_bound=certified)
        )
        figure = out / spectrum_figure(index)
        plot_spectrum(spectra.eigenvalues, spectra.h, block.integrator, figure)
        if index + 1 < len(blocks):
            with torch.no_grad():
                y = model.connectors[index](block(y))
    report = {**reports[0], "units": reports}
    write_json(out / STABILITY, report)
    return report


def gradients_of_run(
    run: str | Path, out: str | Path | None = None, samples: int = 256, split: str = "train"
) -> dict:
    """‖∂E/∂Y_l‖ and ‖∂E/∂θ_l‖ of every unit at initialization and for the trained weights,
    on up to ``samples`` examples of ``split``; writes ``gradients.json`` and ``gradients.png``
    into ``out`` (default: the run directory)."""
    from ..plots import plot_depth_gradients

    model, dataset = load_run(run)
    x, y = (part[:samples] for part in dataset.split(check_choice("split", split, SPLITS)))
    loss = get_task(dataset.task).loss
    report = {"split": split, "examples": len(x)}
    for name, network in (("initial", initial_model(run, dataset)), ("trained", model)):
        network.train()  # batch statistics as in training
        report[name] = [unit.to_dict() for unit in depth_gradients(network, x, y, loss)]
    out = Path(run) if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / GRADIENTS, report)
    plot_depth_gradients(report, read_config(run), out / GRADIENTS_FIGURE)
    return report


HOW_IT_RUNS = ("memory",)
"""Block settings that change how the gradient is computed, not the network."""
ARCHITECTURE = (
    "data", "image_size", "network", "width", "widths",
    *(name for name in BLOCK_FIELDS if name not in HOW_IT_RUNS),
)  # fmt: skip
"""Config fields two runs must share for the segment between them to mean anything: the
data, the network's shape and every setting of its ODE blocks (derived from the block's
fields, so a new block option is included by itself)."""


def landscape_of_run(
    run,
    out=None,
    split: str = "test",
    grid: int = 41,
    span: float = 1.0,
    seed: int = 0,
    between=None,
) -> dict:
    """``landscape.json`` and ``landscape.png`` of a run (default ``out``: the run directory):
    the plane around it, or with ``between`` the segment from it to a second run."""
    from ..plots import plot_plane, plot_segment

    check_grid(grid)
    model, dataset = load_run(run)
    if between is None:
        result = plane(model, dataset, split, grid, span, seed)
    else:
        other, _ = load_run(between)
        check_same_architecture(read_config(run), read_config(between), run, between)
        result = segment(
            model, other.to(dtype=next(model.parameters()).dtype), dataset, split, grid
        )
        result["between"] = str(between)
    result = {"run": str(run), **result}
    out = Path(run) if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / LANDSCAPE, result)
    title = _describe(read_config(run))
    (plot_plane if between is None else plot_segment)(result, title, out / LANDSCAPE_FIGURE)
    return result


def check_same_architecture(a: TrainConfig, b: TrainConfig, run_a, run_b) -> None:
    """Refuse two runs whose networks differ (one line naming the first difference)."""
    differing = [name for name in ARCHITECTURE if getattr(a, name) != getattr(b, name)]
    if differing:
        name = differing[0]
        raise ResodeError(
            f"runs {run_a} and {run_b} differ in architecture ({name}: "
            f"{getattr(a, name)!r} vs {getattr(b, name)!r}); --between needs the same network"
        )


def _describe(config: TrainConfig) -> str:
    if config.network == "ode":
        return f"{config.data}: {config.dynamics} + {config.integrator}, N = {config.steps}"
    return f"{config.data}: {config.network} ({config.dynamics}), N = {config.steps}"
