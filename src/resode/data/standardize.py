"""Feature standardization z = (x − μ)/σ, fitted on the training split only.

Vectors (count, features) get one μ, σ per feature; signals (count, channels, length) and
images (count, channels, height, width) one per channel. A constant feature (σ = 0) keeps
σ = 1. The numbers are stored in the run (``config.json``'s ``model.preprocessing``), so
evaluation and prediction apply the very transform training used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Standardization:
    """μ and σ per feature (vectors) or per channel (signals, images)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardization:
        """μ, σ (population) of x over every axis but the feature/channel axis 1."""
        axes = tuple(i for i in range(x.ndim) if i != 1)
        mean, std = x.mean(axis=axes), x.std(axis=axes)
        std = np.where(std > 0, std, 1.0)
        return cls(tuple(map(float, mean)), tuple(map(float, std)))

    def apply(self, x):
        """(x − μ)/σ for a NumPy array or a tensor of shape (count, features or channels, …)."""
        shape = (1, len(self.mean)) + (1,) * (x.ndim - 2)
        if isinstance(x, torch.Tensor):
            mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).reshape(shape)
            std = torch.tensor(self.std, dtype=x.dtype, device=x.device).reshape(shape)
        else:
            mean, std = np.reshape(self.mean, shape), np.reshape(self.std, shape)
        return (x - mean) / std

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict) -> Standardization:
        return cls(tuple(map(float, data["mean"])), tuple(map(float, data["std"])))
