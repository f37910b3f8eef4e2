"""``ResNet``: opening layer → ODE block → linear head.

    Y_0 = σ(K_0 x + b_0),   Y_N = ODEBlock(Y_0),   prediction = W Y_N + c

The opening layer changes the width from ``in_features`` to ``width`` and has no skip
connection; the head W maps the final state to ``out_features`` (class scores or values).
With ``lipschitz = L`` the block's steps are non-expansive, ‖K_0‖₂ ≤ 1 and ‖W‖₂ ≤ L, so the
network is L-Lipschitz (:mod:`resode.model.lipschitz`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ResodeError, check_int, check_tensor
from .activations import get_activation
from .block import ODEBlock
from .lipschitz import CappedLinear
from .spec import BlockSpec


class ResNet(nn.Module):
    """A residual network read as the discretization of dY/dt = f(Y, θ(t)).

    Shapes: x (batch, in_features) → (batch, out_features). The block is described by
    ``spec`` and/or keyword options, as for :class:`~resode.model.block.ODEBlock` (the kernel
    is dense; the opening layer uses the block's activation).
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        out_features: int,
        spec: BlockSpec | None = None,
        **options,
    ) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features)
        self.out_features = check_int("out_features", out_features)
        spec = BlockSpec.of(spec, **options)
        if spec.kernel != "dense":
            raise ResodeError(
                f"ResNet works on vectors (kernel 'dense'), got kernel {spec.kernel!r}: "
                "use ConvResNet for signals and images"
            )
        width = check_int("width", width)
        capped = spec.lipschitz is not None  # built in this order: the same seed, the same θ
        self.opening = (
            CappedLinear(self.in_features, width, 1.0)
            if capped
            else nn.Linear(self.in_features, width)
        )
        self.activation = get_activation(spec.activation)
        self.block = ODEBlock(width, spec)
        self.head = (
            CappedLinear(width, self.out_features, spec.lipschitz)
            if capped
            else nn.Linear(width, self.out_features)
        )

    @property
    def steps(self) -> int:
        return self.block.steps

    @steps.setter
    def steps(self, value: int) -> None:
        self.block.steps = value

    def open(self, x: torch.Tensor) -> torch.Tensor:
        """Y_0 = σ(K_0 x + b_0), shape (batch, width)."""

        def shape(got: tuple[int, ...]) -> str | None:
            if len(got) == 2 and got[1] == self.in_features:
                return None
            return f"input must have shape (batch, {self.in_features}), got {got}"

        check_tensor(x, "input", shape=shape, like=self.opening.weight)
        return self.activation(self.opening(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The final state Y_N, shape (batch, width)."""
        return self.block(self.open(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.open(x)))
