"""Reading a finished or interrupted run directory back: config, model, dataset, metrics."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import read_tensors
from .data import Dataset, load_dataset
from .errors import RunDirectoryError
from .network import ResNet
from .train import MODEL, build_model, final_metrics, read_config, resolve_device


def load_run(run: str | Path, device: str = "cpu") -> tuple[ResNet, Dataset]:
    """The trained model (eval mode) and the dataset of a run directory."""
    run = Path(run)
    if not run.is_dir():
        raise RunDirectoryError(f"run directory {run} does not exist")
    config = read_config(run)
    target = resolve_device(device)
    dataset = load_dataset(config.data, seed=config.seed).to(target)
    model = build_model(config, dataset.in_features, dataset.out_features)
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
