"""Objectives E(W Y_N, C) and metrics of each learning task.

- classification: softmax cross-entropy; metric ``accuracy``.
- regression: least squares ½ mean ‖W Y_N − C‖²; metrics ``rmse`` and ``r2``.
- segmentation: pixel-wise softmax cross-entropy; metrics ``pixel_accuracy`` and ``miou``
  (intersection over union per class, averaged over the classes that occur in truth or
  prediction).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import check_choice


class Classification:
    name = "classification"
    headline = "accuracy"

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Softmax cross-entropy; output (batch, classes, *spatial), target (batch, *spatial)
        class indices (no spatial dims for classification, pixel-wise for segmentation)."""
        return F.cross_entropy(output, target)

    def metrics(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        return {
            "loss": float(self.loss(output, target)),
            "accuracy": float((output.argmax(dim=1) == target).float().mean()),
        }


class Regression:
    name = "regression"
    headline = "rmse"

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """½ mean over the batch of ‖output − target‖²; both (batch, k)."""
        return 0.5 * (output - target).square().sum(dim=1).mean()

    def metrics(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        residual = (output - target).square().sum()
        spread = (target - target.mean(dim=0)).square().sum()
        return {
            "loss": float(self.loss(output, target)),
            "rmse": float((residual / target.numel()).sqrt()),
            "r2": float(1 - residual / spread.clamp_min(torch.finfo(target.dtype).tiny)),
        }


class Segmentation(Classification):
    """Classification of every pixel (the loss is pixel-wise cross-entropy)."""

    name = "segmentation"
    headline = "miou"

    def metrics(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        classes = output.shape[1]
        predicted = output.argmax(dim=1)
        pairs = torch.bincount(
            (target * classes + predicted).flatten(), minlength=classes * classes
        ).reshape(classes, classes)  # pairs[truth, prediction]
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
