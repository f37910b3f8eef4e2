"""Objectives E(W Y_N, C) and metrics of each learning task.

- classification: softmax cross-entropy, optionally weighted per class (:meth:`weighted`);
  metrics ``accuracy`` and ``balanced_accuracy`` (the mean recall over the classes present
  in truth); :meth:`Classification.report` gives per-class precision, recall, F1, support
  and the confusion matrix.
- regression: least squares ½ mean ‖W Y_N − C‖²; metrics ``rmse`` and ``mae`` in the
  target's own units (standardized targets are scaled back with ``target_scale``; several
  target columns: the mean over columns) and ``r2``; ``loss`` stays in the units trained on.
- segmentation: pixel-wise softmax cross-entropy; metrics ``pixel_accuracy`` and ``miou``
  (intersection over union per class, averaged over the classes that occur in truth or
  prediction).

Each task's ``headline`` is the validation metric that picks the best epoch and stops a run
early (larger is better).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import check_choice


def confusion(predicted: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """Counts (classes, classes), rows the true class, columns the predicted one."""
    pairs = (target.flatten() * classes + predicted.flatten()).long()
    return torch.bincount(pairs, minlength=classes * classes).reshape(classes, classes)


def balanced_class_weights(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """w_c = n / (k · n_c) from the labels' counts n_c (k: the classes present, n: the labels);
    an absent class gets 0. The weights of the labels then sum to n: they average to 1."""
    counts = torch.bincount(labels.flatten().long(), minlength=classes).double()
    present = counts > 0
    weights = torch.zeros(classes, dtype=torch.float64, device=counts.device)
    weights[present] = counts.sum() / (int(present.sum()) * counts[present])
    return weights.float()


def _per_class(pairs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Precision, recall, F1 and support per class from a confusion matrix (0 where a ratio
    has no denominator, as scikit-learn's ``zero_division=0``)."""
    pairs = pairs.double()
    hits, support, predicted = pairs.diagonal(), pairs.sum(dim=1), pairs.sum(dim=0)
    precision = hits / predicted.clamp_min(1)
    recall = hits / support.clamp_min(1)
    f1 = 2 * precision * recall / (precision + recall).clamp_min(torch.finfo(pairs.dtype).tiny)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


class Classification:
    """Softmax cross-entropy E = (1/B) Σ_i w_{y_i} ℓ_i, with w = 1 or per-class ``weight``."""

    name = "classification"
    headline = "accuracy"

    def __init__(self, weight: torch.Tensor | None = None) -> None:
        self.weight = weight

    def weighted(self, weight: torch.Tensor) -> Classification:
        """The same task with the loss weighted per class by ``weight`` (classes,)."""
        return type(self)(weight)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Softmax cross-entropy; output (batch, classes, *spatial), target (batch, *spatial)
        class indices (no spatial dims for classification, pixel-wise for segmentation);
        weighted, the mean of w_{y_i} ℓ_i over the examples (pixels)."""
        if self.weight is None:
            return F.cross_entropy(output, target)
        weight = self.weight.to(output.device, output.dtype)
        return F.cross_entropy(output, target, weight=weight, reduction="sum") / target.numel()

    def metrics(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        recall = _per_class(confusion(output.argmax(dim=1), target, output.shape[1]))["recall"]
        present = torch.bincount(target.flatten(), minlength=output.shape[1]) > 0
        return {
            "loss": float(self.loss(output, target)),
            "accuracy": float((output.argmax(dim=1) == target).float().mean()),
            "balanced_accuracy": float(recall[present].mean()),
        }

    def report(self, output: torch.Tensor, target: torch.Tensor, names: list[str]) -> dict:
        """Per-class ``precision``, ``recall``, ``f1``, ``support`` (lists in class order)
        and the ``confusion`` matrix (rows true, columns predicted), with the class ``names``."""
        pairs = confusion(output.argmax(dim=1), target, output.shape[1])
        lists = {key: value.tolist() for key, value in _per_class(pairs).items()}
        lists["support"] = [int(value) for value in lists["support"]]
        return {"names": list(names), "confusion": pairs.tolist(), **lists}


class Regression:
    name = "regression"
    headline = "r2"

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """½ mean over the batch of ‖output − target‖²; both (batch, k)."""
        return 0.5 * (output - target).square().sum(dim=1).mean()

    def metrics(
        self, output: torch.Tensor, target: torch.Tensor, target_scale: tuple | None = None
    ) -> dict[str, float]:
        """``rmse`` and ``mae`` per target column times σ of ``target_scale`` = (μ, σ) (the
        targets' own units), averaged over the columns; ``r2`` over all entries."""
        residual = output - target
        spread = (target - target.mean(dim=0)).square().sum()
        scale = 1.0 if target_scale is None else torch.as_tensor(target_scale[1]).to(output)
        rmse = residual.square().mean(dim=0).sqrt() * scale
        mae = residual.abs().mean(dim=0) * scale
        return {
            "loss": float(self.loss(output, target)),
            "rmse": float(rmse.mean()),
            "mae": float(mae.mean()),
            "r2": float(
                1 - residual.square().sum() / spread.clamp_min(torch.finfo(target.dtype).tiny)
            ),
        }


class Segmentation(Classification):
    """Classification of every pixel (the loss is pixel-wise cross-entropy)."""

    name = "segmentation"
    headline = "miou"

    def metrics(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        pairs = confusion(output.argmax(dim=1), target, output.shape[1])
        hits = pairs.diagonal().double()
        union = pairs.sum(dim=0).double() + pairs.sum(dim=1).double() - hits
        present = union > 0
        return {
            "loss": float(self.loss(output, target)),
            "pixel_accuracy": float(hits.sum() / pairs.sum()),
            "miou": float((hits[present] / union[present]).mean()),
        }


TASKS = {
    "classification": Classification(),
    "regression": Regression(),
    "segmentation": Segmentation(),
}


def get_task(name: str):
    """The task object (``loss``, ``metrics``) by name."""
    return TASKS[check_choice("task", name, TASKS)]
