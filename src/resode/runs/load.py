"""Reading a finished or interrupted run directory back: config, model, dataset, metrics.

Every reader here refuses a missing or malformed file with one line
(:class:`~resode.errors.RunDirectoryError`), never a traceback.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import replace
from pathlib import Path

from ..data import STANDARD_SETS, Dataset, load_dataset
from ..data.files import parse_source
from ..errors import ResodeError, RunDirectoryError
from ..model.dynamics import Dynamics
from ..model.normalization import adopt_stored_normalization, require_per_example
from ..model.resnet import ResNet
from ..storage import read_json, read_tensors, write_json
from ..training.config import DTYPES, TrainConfig
from ..training.evaluation import final_metrics
from ..training.factory import build_model, compile_network, model_info, resolve_device
from ..training.state import model_level, read_config
from .directory import recover
from .layout import CONFIG, DEPTH, DEPTH_FIGURE, HISTORY, MODEL, holds_run

SPLITS = ("train", "val", "test")
HEADLINE = {"classification": "accuracy", "regression": "r2", "segmentation": "miou"}
"""The metric that sums a run up, by task."""
MODEL_KEYS = ("kind", "input_shape", "in_features", "out_features", "task")


def require_run(run: str | Path) -> Path:
    """``run`` as a Path, if it is a folder that holds a run (one line otherwise)."""
    run = Path(run)
    recover(run)
    if not run.exists():
        raise RunDirectoryError(f"run directory {run} does not exist")
    if not run.is_dir():
        raise RunDirectoryError(f"{run} is a file, not a run directory")
    if not holds_run(run):
        raise RunDirectoryError(f"{run} holds no resode run (no {CONFIG})")
    return run


def read_document(path: Path, kind: type = dict):
    """A JSON file of a run that must hold a ``kind`` (object or list)."""
    document = read_json(path)
    if not isinstance(document, kind):
        what = "a JSON object" if kind is dict else "a JSON list"
        raise RunDirectoryError(f"{path} is not {what}: it was not written by resode")
    return document


def stored_model(run: str | Path) -> dict:
    """The ``model`` part of a run's config.json (what the network knows of its data)."""
    path = Path(run) / CONFIG
    info = read_document(path).get("model")
    valid = isinstance(info, dict) and all(key in info for key in MODEL_KEYS)
    if not valid or info["task"] not in HEADLINE:
        raise RunDirectoryError(f"{path} has no valid 'model' entry: it was not written by resode")
    return info


def read_history(run: str | Path) -> list[dict] | None:
    """The rows of a run's history.csv (None when there is none), numbers checked."""
    path = Path(run) / HISTORY
    if not path.exists():
        return None
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            if None in row or any(value is None for value in row.values()):
                raise ValueError("a row has another number of cells than the header")
            for value in row.values():
                if value != "":
                    float(value)
    except (ValueError, UnicodeDecodeError, csv.Error) as error:
        raise RunDirectoryError(f"corrupt {path}: {error}") from None
    return rows


def load_run(
    run: str | Path,
    device: str = "cpu",
    data_dir: str | Path | None = None,
    per_example: str | None = None,
) -> tuple[ResNet, Dataset]:
    """The trained model (eval mode) and the dataset of a run directory; ``data_dir``: where
    the files of a standard set (mnist, cifar10, …) lie now, if not where the run found them.
    A run saved by an older resode whose batch normalization couples the examples is loaded
    with a note on stderr, or with ``per_example`` (what the caller analyses example by
    example, e.g. "Jacobian") refused in one line."""
    run = require_run(run)
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
    note = adopt_stored_normalization(model, weights)  # a run saved by an older resode
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise RunDirectoryError(
            f"{run / MODEL} does not match the model of its config.json"
        ) from None
    model = model.to(target).eval()
    if per_example is not None:
        for field in model.modules():
            if isinstance(field, Dynamics):
                require_per_example(field, per_example)
    if note is not None:
        print(f"resode: {note}", file=sys.stderr)
    return model, dataset


def run_dataset(run: str | Path, config: TrainConfig) -> Dataset:
    """The dataset of a run; a user's own data standardized as stored in its config.json (a
    standard set's standardization is computed again: the same seed gives the same)."""
    options = config.dataset_options()
    stored = stored_model(run).get("preprocessing")
    if stored is not None and parse_source(config.data) is not None:
        options["preprocessing"] = stored
    return load_dataset(config.data, seed=config.seed, **options)


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


def write_depth_study(run: str | Path, results: list[dict], out: str | Path) -> None:
    """``depth.json`` (metrics per number of steps) and ``depth.png`` (test metric vs depth)."""
    from ..plots import plot_depth

    config = read_config(run)
    metric = "test_" + HEADLINE[stored_model(run)["task"]]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / DEPTH, {"trained_steps": config.steps, "metric": metric, "results": results})
    plot_depth(results, metric, config, out / DEPTH_FIGURE)
