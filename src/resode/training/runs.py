"""Reading a finished or interrupted run directory back: config, model, dataset, metrics."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..data import STANDARD_SETS, Dataset, load_dataset
from ..data.files import parse_source
from ..errors import ResodeError, RunDirectoryError, check_choice
from ..files import read_json, read_tensors
from ..model.resnet import ResNet
from .config import DTYPES
from .evaluation import final_metrics
from .factory import build_model, compile_network, model_info, resolve_device
from .state import MODEL, model_level, read_config

SPLITS = ("train", "val", "test")


def load_run(
    run: str | Path, device: str = "cpu", data_dir: str | Path | None = None
) -> tuple[ResNet, Dataset]:
    """The trained model (eval mode) and the dataset of a run directory; ``data_dir``: where
    the files of a standard set (mnist, cifar10, …) lie now, if not where the run found them."""
    run = Path(run)
    if not run.is_dir():
        raise RunDirectoryError(f"run directory {run} does not exist")
    config = read_config(run)
    if data_dir is not None:
        if config.data not in STANDARD_SETS:
            raise ResodeError(
                f"--data-dir applies to runs on {', '.join(STANDARD_SETS)}; this run's data "
                f"is {config.data!r}"
            )
        config = replace(config, data_dir=str(Path(data_dir).expanduser().resolve()))
    target = resolve_device(device)
    dtype = DTYPES[config.dtype]
    dataset = run_dataset(run, config).to(target, dtype)
    weights, state = read_tensors(run / MODEL)  # a multilevel run: built at its saved level
    model = build_model(config, model_info(dataset), model_level(state)).to(dtype=dtype)
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise RunDirectoryError(
            f"{run / MODEL} does not match the model of its config.json"
        ) from None
    return model.to(target).eval(), dataset


def run_dataset(run: str | Path, config) -> Dataset:
    """The dataset of a run; a user's own data standardized as stored in its config.json (a
    standard set's standardization is computed again: the same seed gives the same)."""
    options = config.dataset_options()
    stored = read_json(Path(run) / "config.json").get("model", {}).get("preprocessing")
    if stored is not None and parse_source(config.data) is not None:
        options["preprocessing"] = stored
    return load_dataset(config.data, seed=config.seed, **options)


def evaluate_run(
    run: str | Path,
    steps: list[int] | None = None,
    device: str = "cpu",
    compile: bool = False,
    data_dir: str | Path | None = None,
) -> list[dict]:
    """Metrics of a run at its trained depth, or at each depth in ``steps``; with ``compile``
    the network runs through ``torch.compile`` (compiled again for each depth); ``data_dir``
    as for :func:`load_run`."""
    model, dataset = load_run(run, device, data_dir)
    network = compile_network(model) if compile else model
    results = []
    for depth in steps or [model.steps]:
        model.steps = depth
        results.append({"steps": model.steps, **final_metrics(network, dataset)})
    return results


HEADLINE = {"classification": "accuracy", "regression": "r2", "segmentation": "miou"}


def write_depth_study(run: str | Path, results: list[dict], out: str | Path) -> None:
    """``depth.json`` (metrics per number of steps) and ``depth.png`` (test metric vs depth)."""
    from ..files import write_json
    from ..plots import plot_depth

    config = read_config(run)
    metric = "test_" + HEADLINE[read_json(Path(run) / "config.json")["model"]["task"]]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(
        out / "depth.json", {"trained_steps": config.steps, "metric": metric, "results": results}
    )
    plot_depth(results, metric, config, out / "depth.png")


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
    """
    import torch

    from ..analysis import stability_report, trajectory_spectra
    from ..analysis.diagnosis import units
    from ..analysis.iterative import iterative_spectra
    from ..files import write_json
    from ..plots import plot_spectrum

    model, dataset = load_run(run)
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
        reports.append(stability_report(block, y[:affordable], spectra, dense=dense))
        name = "spectrum.png" if index == 0 else f"spectrum_unit{index}.png"
        plot_spectrum(spectra.eigenvalues, spectra.h, block.integrator, out / name)
        if index + 1 < len(blocks):
            with torch.no_grad():
                y = model.connectors[index](block(y))
    report = {**reports[0], "units": reports}
    write_json(out / "stability.json", report)
    return report


def initial_model(run: str | Path, dataset: Dataset):
    """The network of a run as training started it, for the run's ``dataset`` (as loaded by
    :func:`load_run`): the same seed and construction, so the same initial weights (at the
    first level of a multilevel run). Loading data leaves torch's global generator alone, so
    seeding just before building reproduces the training's initialization."""
    import torch

    config = read_config(run)
    torch.manual_seed(config.seed)
    model = build_model(config, model_info(dataset), level=0)
    return model.to(device=dataset.x_train.device, dtype=DTYPES[config.dtype])


def gradients_of_run(
    run: str | Path, out: str | Path | None = None, samples: int = 256, split: str = "train"
) -> dict:
    """‖∂E/∂Y_l‖ and ‖∂E/∂θ_l‖ of every unit at initialization and for the trained weights,
    on up to ``samples`` examples of ``split``; writes ``gradients.json`` and ``gradients.png``
    into ``out`` (default: the run directory)."""
    from ..analysis.depth import depth_gradients
    from ..files import write_json
    from ..plots import plot_depth_gradients
    from ..tasks import get_task

    model, dataset = load_run(run)
    x, y = (part[:samples] for part in dataset.split(check_choice("split", split, SPLITS)))
    loss = get_task(dataset.task).loss
    report = {"split": split, "examples": len(x)}
    for name, network in (("initial", initial_model(run, dataset)), ("trained", model)):
        network.train()  # batch statistics as in training
        report[name] = [unit.to_dict() for unit in depth_gradients(network, x, y, loss)]
    out = Path(run) if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "gradients.json", report)
    plot_depth_gradients(report, read_config(run), out / "gradients.png")
    return report
