"""Linear operators K acting on batch-first features, with their adjoints and matrices.

A kernel is stateless: its weights live in a :class:`~resode.model.timegrid.TimeParameter`
(dim 0 = time) and are passed in. Structure such as antisymmetry is a reparameterization
applied to the whole weight grid once per forward pass, invisible to the optimizer.

- ``dense``: K ∈ R^{n×n} on Y of shape (batch, n).
- ``conv1d`` / ``conv2d``: a "same" zero-padded convolution with an odd kernel on Y of shape
  (batch, c, L) / (batch, c, H, W). Its exact adjoint Kᵀ is the transposed convolution with
  the same weights, which equals the convolution with the flipped, channel-transposed kernel;
  hence K − Kᵀ − γI is again a convolution (kernel w − flip(w)ᵀ, −γ on the centre tap).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import ResodeError, check_choice, check_int

KERNELS = ("dense", "conv1d", "conv2d")


class DenseKernel:
    """K ∈ R^{n×n} acting on Y of shape (batch, n): row-wise K Y is ``Y @ Kᵀ``."""

    spatial_dims = 0

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

    def matrix(self, weight: torch.Tensor, spatial: tuple[int, ...] = ()) -> torch.Tensor:
        """The n×n matrix of K."""
        return weight

    def operator_norms(self, weights: torch.Tensor, spatial: tuple[int, ...] = ()) -> torch.Tensor:
        """‖K‖₂ of every K in a grid (G, n, n), shape (G,): the largest singular value (SVD,
        differentiable where it is simple)."""
        return torch.linalg.matrix_norm(weights, ord=2)

    def describe(self) -> str:
        return f"dense {self.width}"


class ConvKernel:
    """A same-size convolution with ``channels`` in and out, odd ``size``, 1 or 2 spatial dims."""

    def __init__(self, channels: int, spatial_dims: int, size: int = 3) -> None:
        self.width = check_int("channels", channels)
        self.spatial_dims = spatial_dims
        self.size = check_int("kernel size", size)
        if self.size % 2 == 0:
            raise ResodeError(f"kernel size must be odd (3, 5, …), got {size}")
        self.padding = self.size // 2
        self._conv = F.conv1d if spatial_dims == 1 else F.conv2d
        self._conv_transpose = F.conv_transpose1d if spatial_dims == 1 else F.conv_transpose2d

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.width, self.width) + (self.size,) * self.spatial_dims

    @property
    def bias_shape(self) -> tuple[int, ...]:
        return (self.width,)

    def default_std(self) -> float:
        return 1.0 / math.sqrt(self.width * self.size**self.spatial_dims)

    def apply(self, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None):
        """K Y + b, shape (batch, c, *spatial)."""
        return self._conv(y, weight, bias, padding=self.padding)

    def apply_transpose(self, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Kᵀ Y (the exact adjoint of :meth:`apply` without bias), shape (batch, c, *spatial)."""
        return self._conv_transpose(y, weight, padding=self.padding)

    def antisymmetric(self, weights: torch.Tensor, gamma: float) -> torch.Tensor:
        """Kernel grid (G, c, c, *k) of K − Kᵀ − γI, itself a convolution."""
        spatial = tuple(range(-self.spatial_dims, 0))
        result = weights - weights.transpose(1, 2).flip(spatial)
        if gamma:
            centre = (slice(None),) * 3 + (self.padding,) * self.spatial_dims
            eye = torch.eye(self.width, dtype=weights.dtype, device=weights.device)
            result = result.clone()
            result[centre] = result[centre] - gamma * eye
        return result

    def matrix(self, weight: torch.Tensor, spatial: tuple[int, ...] = ()) -> torch.Tensor:
        """The dense (n×n) matrix of K on images of size ``spatial``, n = c·prod(spatial)."""
        n = self.width * math.prod(spatial)
        basis = torch.eye(n, dtype=weight.dtype, device=weight.device)
        columns = self.apply(basis.reshape(n, self.width, *spatial), weight)
        return columns.reshape(n, n).T

    def operator_norms(self, weights: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
        """An upper bound of ‖K‖₂ on images of size ``spatial`` (and any smaller size) for
        every kernel in a grid (G, c, c, *k), shape (G,), differentiable.

        The zero-padded convolution is a compression of the circular one on a grid of
        s + p points per axis (input embedded, output cut: both of norm ≤ 1), whose singular
        values are those of the c×c matrices Ŵ(ω) at the grid's frequencies (the FFT of the
        kernel): ‖K‖₂ ≤ max_ω σ_max(Ŵ(ω)), a bound that is tight for large images.
        """
        if len(spatial) != self.spatial_dims:
            raise ResodeError(
                f"spatial must give {self.spatial_dims} sizes for {self.describe()}, got {spatial}"
            )
        size = tuple(side + self.padding for side in spatial)
        axes = tuple(range(-self.spatial_dims, 0))
        spectrum = torch.fft.fftn(weights, s=size, dim=axes)  # (G, c_out, c_in, *size)
        matrices = spectrum.flatten(3).permute(0, 3, 1, 2)  # (G, frequencies, c_out, c_in)
        return torch.linalg.svdvals(matrices)[..., 0].amax(dim=1)

    def describe(self) -> str:
        shape = "×".join([str(self.size)] * self.spatial_dims)
        return f"conv{self.spatial_dims}d {self.width} channels, {shape}"


def make_kernel(name: str, width: int, size: int = 3):
    """A kernel by name: ``dense`` (width features), ``conv1d`` or ``conv2d`` (width channels)."""
    check_choice("kernel", name, KERNELS)
    if name == "dense":
        return DenseKernel(width)
    return ConvKernel(width, 1 if name == "conv1d" else 2, size)
