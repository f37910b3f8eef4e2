"""Linear operators K acting on batch-first features, with their adjoints and matrices.

A kernel is stateless: its weights live in a :class:`~resode.timegrid.TimeParameter`
(dim 0 = time) and are passed in. Structure such as antisymmetry is a reparameterization
applied to the whole weight grid once per forward pass, invisible to the optimizer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class DenseKernel:
    """K ∈ R^{n×n} acting on Y of shape (batch, n): row-wise K Y is ``Y @ Kᵀ``."""

    def __init__(self, width: int) -> None:
        self.width = width

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.width, self.width)

    @property
    def bias_shape(self) -> tuple[int, ...]:
        return (self.width,)

    def default_std(self) -> float:
        return 1.0 / math.sqrt(self.width)

    def apply(self, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None):
        """K Y + b, shape (batch, n)."""
        return F.linear(y, weight, bias)

    def apply_transpose(self, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Kᵀ Y, shape (batch, n)."""
        return y @ weight

    def antisymmetric(self, weights: torch.Tensor, gamma: float) -> torch.Tensor:
        """K − Kᵀ − γI for a grid of weights (G, n, n); eigenvalues have real part −γ."""
        result = weights - weights.transpose(-1, -2)
        if gamma:
            eye = torch.eye(self.width, dtype=weights.dtype, device=weights.device)
            result = result - gamma * eye
        return result

    def matrix(self, weight: torch.Tensor) -> torch.Tensor:
        """The n×n matrix of K."""
        return weight
