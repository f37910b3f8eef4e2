"""``ConvResNet``: residual networks on signals and images, several ODE units deep.

    Y_0 = σ(conv(x)),  Y ← ODEBlock_i(Y),  Y ← connector_i(Y) between units,  head(Y)

Each unit integrates dY/dt = f(Y, θ_i(t)) with a convolutional kernel at a fixed width and
resolution; a connector changes the channels (1×1 convolution, σ) and, with ``pool``, halves
the resolution (average pooling). Heads: global average pooling + linear (classification,
regression) or, for segmentation, a 1×1 convolution to class scores per pixel. A pooled
segmentation network climbs back to the input resolution: at each coarser-to-finer level the
state is upsampled ×2 and added to a 1×1 projection of the unit state kept at that level
(skip connection), then σ — so coarse units see the whole image and fine ones the detail.
With ``lipschitz = L`` (classification, regression) the steps are non-expansive and the
opening, connectors and head have capped norms (1, 1, L) and the poolings are scaled to
norm 1: the network is L-Lipschitz on images of the size it receives
(:mod:`resode.model.lipschitz`).
Shapes: x (batch, in_channels, L) for ``spatial_dims=1``, (batch, in_channels, H, W) for 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ResodeError, check_choice, check_int, check_positive, check_tensor
from ..tasks import TASKS
from .activations import get_activation
from .block import ODEBlock
from .lipschitz import CappedConv, CappedLinear
from .spec import BlockSpec


def _per_unit(name: str, value, units: int) -> list:
    values = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
    if values is None:
        return [value] * units
    if len(values) != units:
        raise ResodeError(f"{name} needs one value per unit ({units}), got {len(values)}")
    return values


class Connector(nn.Module):
    """1×1 convolution c_in → c_out and σ, then average pooling by 2 when ``pool``; with a
    ``bound``, the convolution's norm is capped and the pooling scaled to norm 1 (the sum of
    each 2×2 block over 2, of each pair over √2; the average alone has norm 1/2, 1/√2, so
    it would shrink every signal)."""

    def __init__(
        self, c_in: int, c_out: int, spatial_dims: int, activation, pool: bool, bound=None
    ):
        super().__init__()
        conv = nn.Conv1d if spatial_dims == 1 else nn.Conv2d
        if bound is None:
            self.conv = conv(c_in, c_out, kernel_size=1)
        else:
            self.conv = CappedConv(c_in, c_out, spatial_dims, 1, bound)
        self.pool_gain = 1.0 if bound is None else math.sqrt(2**spatial_dims)
        self.activation = activation
        self.pool = pool
        self.spatial_dims = spatial_dims

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        y = self.activation(self.conv(y))
        if self.pool:
            y = F.avg_pool1d(y, 2) if self.spatial_dims == 1 else F.avg_pool2d(y, 2)
            if self.pool_gain != 1.0:
                y = y * self.pool_gain
        return y


class ConvResNet(nn.Module):
    """Opening convolution → ODE units (+ connectors) → head; see the module docstring.

    ``T`` and ``steps`` are one value for all units or one per unit; ``spec`` and/or keyword
    options describe the units as for :class:`~resode.model.block.ODEBlock` (the kernel
    follows ``spatial_dims``; ``kernel_size`` also sets the opening convolution).
    """

    def __init__(
        self,
        in_channels: int,
        widths: Sequence[int],
        out_features: int,
        spatial_dims: int = 2,
        task: str = "classification",
        T: float | Sequence[float] = 1.0,
        steps: int | Sequence[int] = 4,
        pool: bool | None = None,
        spec: BlockSpec | None = None,
        **options,
    ) -> None:
        super().__init__()
        self.task = check_choice("task", task, TASKS)
        if spatial_dims not in (1, 2):
            raise ResodeError(f"spatial_dims must be 1 (signals) or 2 (images), got {spatial_dims}")
        self.spatial_dims = spatial_dims
        self.in_channels = check_int("in_channels", in_channels)
        self.out_features = check_int("out_features", out_features)
        if isinstance(widths, int) or not widths:
            raise ResodeError(f"widths must be a non-empty list of channel counts, got {widths!r}")
        self.widths = [check_int("width", w) for w in widths]
        units = len(self.widths)
        self.pool = True if pool is None else bool(pool)
        kernel = "conv1d" if spatial_dims == 1 else "conv2d"
        if options.get("kernel", kernel) != kernel:
            raise ResodeError(
                f"ConvResNet with spatial_dims={spatial_dims} uses kernel {kernel!r}, "
                f"got {options['kernel']!r}"
            )
        spec = BlockSpec.of(spec, **{**options, "kernel": kernel})
        self.activation = get_activation(spec.activation)
        conv = nn.Conv1d if spatial_dims == 1 else nn.Conv2d
        size = spec.kernel_size
        self.lipschitz = spec.lipschitz
        if self.lipschitz is not None and task == "segmentation":
            raise ResodeError(
                "lipschitz applies to classification and regression networks, not segmentation"
            )
        if self.lipschitz is None:
            self.opening = conv(self.in_channels, self.widths[0], size, padding=size // 2)
        else:
            self.opening = CappedConv(self.in_channels, self.widths[0], spatial_dims, size, 1.0)
        times = [check_positive("T", t) for t in _per_unit("T", T, units)]
        depths = _per_unit("steps", steps, units)
        self.units = nn.ModuleList(
            ODEBlock(width, replace(spec, T=t, steps=n))
            for width, t, n in zip(self.widths, times, depths)
        )
        connector_bound = None if self.lipschitz is None else 1.0
        self.connectors = nn.ModuleList(
            Connector(a, b, spatial_dims, self.activation, self.pool, connector_bound)
            for a, b in zip(self.widths[:-1], self.widths[1:])
        )
        self._build_head(conv)

    def _build_head(self, conv) -> None:
        """The decoder's projections (pooled segmentation) and the head, capped to norm L
        for a Lipschitz network."""
        self.decoder = nn.ModuleList()
        if self.task == "segmentation" and self.pool:  # each kept state → the last unit's width
            self.decoder = nn.ModuleList(
                conv(width, self.widths[-1], kernel_size=1) for width in self.widths[:-1]
            )
        if self.task == "segmentation":
            self.head = conv(self.widths[-1], self.out_features, kernel_size=1)
        elif self.lipschitz is not None:
            self.head = CappedLinear(self.widths[-1], self.out_features, self.lipschitz)
        else:
            self.head = nn.Linear(self.widths[-1], self.out_features)

    @property
    def block(self) -> ODEBlock:
        """The first ODE unit."""
        return self.units[0]

    @property
    def steps(self) -> list[int]:
        return [unit.steps for unit in self.units]

    @steps.setter
    def steps(self, value: int | Sequence[int]) -> None:
        for unit, n in zip(self.units, _per_unit("steps", value, len(self.units))):
            unit.steps = n

    def check_input_shape(self, shape: Sequence[int]) -> None:
        """Raise if inputs of shape (channels, *spatial) cannot pass this network."""
        shape = tuple(shape)
        names = "(channels, length)" if self.spatial_dims == 1 else "(channels, height, width)"
        if len(shape) != 1 + self.spatial_dims:
            raise ResodeError(f"input must have shape (batch, *{names}), got {shape} per example")
        if shape[0] != self.in_channels:
            raise ResodeError(
                f"input has {shape[0]} channels but the network expects {self.in_channels}"
            )
        if self.pool:
            factor = 2 ** len(self.connectors)
            if any(side % factor for side in shape[1:]):
                raise ResodeError(
                    f"input size {shape[1:]} cannot be halved {len(self.connectors)} times "
                    f"(one per connector); use sizes divisible by {factor} or fewer units"
                )

    def open(self, x: torch.Tensor) -> torch.Tensor:
        """Y_0 = σ(conv(x)), shape (batch, widths[0], *spatial)."""

        def shape(got: tuple[int, ...]) -> str | None:
            if not got:
                return "input must have a batch dimension"
            self.check_input_shape(got[1:])
            return None

        check_tensor(x, "input", shape=shape, like=self.opening.weight)
        return self.activation(self.opening(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The state after the last unit (and, for pooled segmentation, the way back up)."""
        y = self.open(x)
        kept = []
        for index, unit in enumerate(self.units):
            y = unit(y)
            if index < len(self.connectors):
                kept.append(y)
                y = self.connectors[index](y)
        for skip, projection in zip(reversed(kept), reversed(self.decoder)):
            upsampled = F.interpolate(y, size=skip.shape[2:], mode="nearest")
            y = self.activation(upsampled + projection(skip))
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.features(x)
        if self.task == "segmentation":
            return self.head(y)
        pooled = y.flatten(2).mean(dim=2)
        if self.lipschitz is not None:  # the mean over P pixels has norm 1/√P: scale to 1
            pooled = pooled * math.sqrt(y[0, 0].numel())
        return self.head(pooled)
