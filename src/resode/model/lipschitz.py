"""Layers whose operator norm is capped, for networks that are L-Lipschitz by construction.

A capped layer uses W · min(1, bound / ‖W‖₂) (differentiable; the cap is inactive while
‖W‖₂ ≤ bound): its map x ↦ W x + c is ``bound``-Lipschitz in the Euclidean norm, and so is
σ of it for an activation with sup σ' ≤ 1. ‖W‖₂ is exact for a matrix (SVD) and, for a
convolution, a rigorous bound on inputs of the size it receives
(:meth:`~resode.model.kernels.ConvKernel.operator_norms`). A 1×1 convolution is the matrix
W (c_out × c_in) at every pixel, so its norm is that matrix's, at any size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .kernels import ConvKernel


def capped(weight: torch.Tensor, norm: torch.Tensor, bound: float) -> torch.Tensor:
    """W · min(1, bound / ‖W‖₂), given ‖W‖₂ (or an upper bound of it)."""
    return weight * (bound / norm.clamp_min(1e-300)).clamp(max=1.0)


class CappedLinear(nn.Linear):
    """``nn.Linear`` whose weight is used with operator norm at most ``bound``."""

    def __init__(self, in_features: int, out_features: int, bound: float) -> None:
        super().__init__(in_features, out_features)
        self.bound = float(bound)

    def used_weight(self) -> torch.Tensor:
        return capped(self.weight, torch.linalg.matrix_norm(self.weight, ord=2), self.bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.used_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, norm ≤ {self.bound:g}"


class CappedConv(nn.Module):
    """A "same" convolution (odd kernel, 1 or 2 spatial dims) of operator norm ≤ ``bound``
    on the inputs it receives; a 1×1 kernel is capped as its c_out × c_in matrix."""

    def __init__(self, c_in: int, c_out: int, spatial_dims: int, size: int, bound: float) -> None:
        super().__init__()
        conv = nn.Conv1d if spatial_dims == 1 else nn.Conv2d
        self.conv = conv(c_in, c_out, size, padding=size // 2)
        self.kernel = ConvKernel(c_out, spatial_dims, size)
        self.bound = float(bound)

    @property
    def weight(self) -> torch.Tensor:
        return self.conv.weight

    @property
    def bias(self) -> torch.Tensor:
        return self.conv.bias

    @property
    def padding(self) -> tuple[int, ...]:
        return self.conv.padding

    def used_weight(self, image_size: tuple[int, ...]) -> torch.Tensor:
        """The weight as applied to inputs of spatial size ``image_size``."""
        weight = self.conv.weight
        if self.kernel.size == 1:
            norm = torch.linalg.matrix_norm(weight.flatten(1), ord=2)
        else:
            norm = self.kernel.operator_norms(weight.unsqueeze(0), image_size)[0]
        return capped(weight, norm, self.bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.used_weight(tuple(x.shape[2:]))
        return self.kernel.apply(x, weight, self.conv.bias)

    def extra_repr(self) -> str:
        return f"norm ≤ {self.bound:g}"


def used_weight(layer: nn.Module, image_size: tuple[int, ...] = ()) -> torch.Tensor:
    """The weight a linear or convolutional layer applies (capped where it is capped)."""
    if isinstance(layer, CappedLinear):
        return layer.used_weight()
    if isinstance(layer, CappedConv):
        return layer.used_weight(image_size)
    return layer.weight
