"""Reading a finished or interrupted run directory back: config, model, dataset, metrics."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import read_tensors
from .data import Dataset, load_dataset
from .errors import RunDirectoryError
from .network import ResNet
from .state import MODEL, read_config
from .train import DTYPES, build_model, final_metrics, model_info, resolve_device


def load_run(run: str | Path, device: str = "cpu") -> tuple[ResNet, Dataset]:
    """The trained model (eval mode) and the dataset of a run directory."""
    run = Path(run)
    if not run.is_dir():
        raise RunDirectoryError(f"run directory {run} does not exist")
    config = read_config(run)
    target = resolve_device(device)
    dtype = DTYPES[config.dtype]
    dataset = load_dataset(config.data, seed=config.seed, **config.dataset_options())
    dataset = dataset.to(target, dtype)
    model = build_model(config, model_info(dataset)).to(dtype=dtype)
    weights, _ = read_tensors(run / MODEL)
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise RunDirectoryError(
            f"{run / MODEL} does not match the model of its config.json"
        ) from None
    return model.to(target).eval(), dataset


def evaluate_run(
    run: str | Path, steps: list[int] | None = None, device: str = "cpu"
) -> list[dict]:
    """Metrics of a run at its trained depth, or at each depth in ``steps``."""
    model, dataset = load_run(run, device)
    results = []
    for depth in steps or [model.steps]:
        model.steps = depth
        results.append({"steps": model.steps, **final_metrics(model, dataset)})
    return results


def analyze_run(run: str | Path, out: str | Path | None = None, samples: int = 512) -> dict:
    """Stability analysis of a trained run on up to ``samples`` test inputs.

    Writes ``stability.json`` and ``spectrum.png`` into ``out`` (default: the run directory).
    """
    import torch

    from .checkpoint import write_json
    from .plots import plot_spectrum
    from .stability import stability_report, trajectory_spectra

    model, dataset = load_run(run)
    out = Path(run) if out is None else Path(out)
    x = dataset.x_test[:samples]
    with torch.no_grad():
        y0 = model.open(x)
    spectra = trajectory_spectra(model.block, y0)
    report = stability_report(model.block, y0, spectra)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "stability.json", report)
    plot_spectrum(spectra.eigenvalues, spectra.h, model.block.integrator, out / "spectrum.png")
    return report
