"""Applying a trained run to new inputs: a built-in test split, an NPZ file or a CSV file.

Inputs from a file are in the units of the training data: a run trained on a user's own
data standardizes them as training did, and a CSV with a header row naming the training
file's feature columns has those columns picked by name (others, such as the target, left).

Classification writes the class name and one probability per class; regression the values
(in the original units when the targets were standardized); segmentation a label image per
input (NPZ array ``labels``). CSV output is one row per input; NPZ holds the arrays.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from .data.standardize import Standardization
from .errors import ResodeError
from .files import atomic_write
from .training.factory import compile_network
from .training.runs import load_run


def read_inputs(source: str, expected: tuple[int, ...], dataset) -> torch.Tensor:
    """``test`` (the run's test split), an NPZ file with array ``x`` or a CSV of numbers."""
    if source == "test":
        return dataset.x_test
    path = Path(source)
    if not path.is_file():
        raise ResodeError(f"input {source!r} is neither 'test' nor an existing file")
    if path.suffix == ".npz":
        with np.load(path) as arrays:
            if "x" not in arrays:
                raise ResodeError(f"{path} holds no array 'x' (it has {', '.join(arrays)})")
            x = arrays["x"]
    elif path.suffix == ".csv":
        x = _read_csv(path, (dataset.preprocessing or {}).get("features") or ())
    else:
        raise ResodeError(f"cannot read {path.name}: use an .npz (array x) or a .csv file")
    if tuple(x.shape[1:]) != tuple(expected):
        shape = ", ".join(["batch", *map(str, expected)])
        raise ResodeError(f"the run expects inputs of shape ({shape}), got {tuple(x.shape)}")
    if dataset.preprocessing is not None:
        x = Standardization.from_dict(dataset.preprocessing["standardization"]).apply(x)
    return torch.as_tensor(x, dtype=dataset.x_test.dtype)


def _read_csv(path: Path, features: tuple[str, ...]) -> np.ndarray:
    """Rows of numbers; a header row naming every one of ``features`` picks those columns."""
    lines = path.read_text().splitlines()
    try:
        float(lines[0].split(",")[0])
    except (ValueError, IndexError):
        header = [name.strip() for name in next(csv.reader(lines[:1]), [])]
        lines = lines[1:]
        if features and set(features) <= set(header):
            columns = [header.index(name) for name in features]
            return np.loadtxt(lines, delimiter=",", ndmin=2, usecols=columns)
    try:
        return np.loadtxt(lines, delimiter=",", ndmin=2)
    except ValueError as error:
        raise ResodeError(f"cannot read {path} as numbers: {error}") from None


@torch.no_grad()
def predict_run(
    run, source: str, out=None, steps: int | None = None, chunk: int = 1024, compile: bool = False
) -> Path:
    """Predictions of ``run`` (at ``steps`` steps, default as trained) for ``source``; written
    to ``out`` (.csv or .npz; default RUN/predictions.csv, .npz for segmentation). With
    ``compile`` the network runs through ``torch.compile``."""
    model, dataset = load_run(run)
    if steps is not None:
        model.steps = steps
    network = compile_network(model) if compile else model
    x = read_inputs(source, dataset.input_shape, dataset)
    y = torch.cat([network(x[i : i + chunk]) for i in range(0, len(x), chunk)])
    columns = _columns(dataset, y)
    default = "predictions.npz" if dataset.task == "segmentation" else "predictions.csv"
    path = Path(out) if out is not None else Path(run) / default
    if path.suffix == ".npz":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **columns)
        atomic_write(path, lambda f: f.write(buffer.getvalue()), binary=True)
    elif dataset.task == "segmentation":
        raise ResodeError("segmentation predictions are label images: write them to a .npz file")
    else:
        _write_csv(path, columns)
    return path


def _columns(dataset, y: torch.Tensor) -> dict[str, np.ndarray]:
    if dataset.task == "segmentation":
        return {"labels": y.argmax(dim=1).numpy(), "probabilities": y.softmax(dim=1).numpy()}
    if dataset.task == "classification":
        names = dataset.class_names or tuple(map(str, range(dataset.num_classes)))
        probabilities = y.softmax(dim=1).numpy()
        columns = {"class": np.array(names)[probabilities.argmax(axis=1)]}
        return columns | {f"p_{n}": probabilities[:, i] for i, n in enumerate(names)}
    if dataset.target_scale is not None:
        mean, std = dataset.target_scale
        y = y * std + mean
    return {f"value_{i}": y[:, i].numpy() for i in range(y.shape[1])}


def _write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows(zip(*columns.values()))
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
