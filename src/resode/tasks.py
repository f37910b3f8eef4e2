"""Objectives E(W Y_N, C) and metrics of each learning task.

- classification: softmax cross-entropy; metric ``accuracy``.
- regression: least squares ½ mean ‖W Y_N − C‖²; metrics ``rmse`` and ``r2``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import check_choice


class Classification:
    name = "classification"
    headline = "accuracy"

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Softmax cross-entropy; output (batch, classes), target (batch,) class indices."""
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


TASKS = {"classification": Classification(), "regression": Regression()}


def get_task(name: str):
    """The task object (``loss``, ``metrics``) by name."""
    return TASKS[check_choice("task", name, TASKS)]
