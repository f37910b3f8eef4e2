"""Task metrics of a model on the splits of a dataset, and the check of a dataset's targets."""

from __future__ import annotations

import torch

from ..data import Dataset
from ..errors import ResodeError
from ..model.inference import evaluation, in_chunks
from ..tasks import get_task


def predictions(
    model, dataset: Dataset, split: str, batch_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(outputs, targets) of ``model`` on one split, on the model's device; outputs float32,
    regression targets float32, labels as they are."""
    x, y = dataset.split(split)
    if batch_size is None:  # about 2**22 input numbers per batch
        batch_size = max(1, min(4096, 2**22 // max(1, x[0].numel() * 64)))
    device = next(model.parameters()).device  # a split may be kept in host memory
    with evaluation(model):
        outputs = in_chunks(model, x, batch_size, device)
    y = y.to(device)
    return outputs.float(), y.float() if dataset.task == "regression" else y


def evaluate(model, dataset: Dataset, split: str, batch_size: int | None = None) -> dict:
    """Task metrics of ``model`` on one split, e.g. {"loss": …, "accuracy": …}; regression
    errors in the target's units (see :mod:`resode.tasks`)."""
    task = get_task(dataset.task)
    outputs, y = predictions(model, dataset, split, batch_size)
    if dataset.task == "regression":
        return task.metrics(outputs, y, target_scale=dataset.target_scale)
    return task.metrics(outputs, y)


def final_metrics(model, dataset: Dataset) -> dict:
    """{split}_{metric} for train, val and test, e.g. ``test_accuracy``."""
    metrics = {}
    for split in ("train", "val", "test"):
        metrics.update({f"{split}_{k}": v for k, v in evaluate(model, dataset, split).items()})
    return metrics


def class_report(model, dataset: Dataset, split: str = "test") -> dict:
    """Per-class precision, recall, F1, support and the confusion matrix of a classification
    run on ``split`` (see :meth:`resode.tasks.Classification.report`), with the class names."""
    from ..plots import class_labels

    outputs, y = predictions(model, dataset, split)
    return {"split": split, **get_task("classification").report(outputs, y, class_labels(dataset))}


def check_targets(dataset: Dataset) -> None:
    """Class labels must lie in [0, classes); regression targets must be finite."""
    for split in ("train", "val", "test"):
        _, y = dataset.split(split)
        if dataset.task == "regression":
            if not bool(torch.isfinite(y).all()):
                raise ResodeError(f"{split} targets of {dataset.name} contain non-finite values")
        elif len(y) and (int(y.min()) < 0 or int(y.max()) >= dataset.num_classes):
            raise ResodeError(
                f"{split} labels of {dataset.name} must lie in [0, {dataset.num_classes}), "
                f"found {int(y.min())}..{int(y.max())}"
            )
