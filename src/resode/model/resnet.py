"""``ResNet``: opening layer → ODE block → linear head.

    Y_0 = σ(K_0 x + b_0),   Y_N = ODEBlock(Y_0),   prediction = W Y_N + c

The opening layer changes the width from ``in_features`` to ``width`` and has no skip
connection; the head W maps the final state to ``out_features`` (class scores or values).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ResodeError, check_int
from .activations import get_activation
from .block import ODEBlock


class ResNet(nn.Module):
    """A residual network read as the discretization of dY/dt = f(Y, θ(t)).

    Shapes: x (batch, in_features) → (batch, out_features). The keyword arguments after
    ``steps`` are those of :class:`~resode.block.ODEBlock`.
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        out_features: int,
        T: float = 1.0,
        steps: int = 8,
        dynamics: str = "antisymmetric",
        integrator: str = "rk4",
        activation: str = "tanh",
        grid: int | None = None,
        interp: str = "constant",
        gamma: float = 0.0,
        init_std: float | None = None,
        memory: str = "store",
    ) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features)
        self.out_features = check_int("out_features", out_features)
        self.opening = nn.Linear(self.in_features, check_int("width", width))
        self.activation = get_activation(activation)
        self.block = ODEBlock(
            width,
            T,
            steps,
            dynamics,
            integrator,
            activation,
            grid,
            interp,
            gamma,
            init_std,
            memory=memory,
        )
        self.head = nn.Linear(width, self.out_features)

    @property
    def steps(self) -> int:
        return self.block.steps

    @steps.setter
    def steps(self, value: int) -> None:
        self.block.steps = value

    def open(self, x: torch.Tensor) -> torch.Tensor:
        """Y_0 = σ(K_0 x + b_0), shape (batch, width)."""
        if not isinstance(x, torch.Tensor):
            raise ResodeError(f"input must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ResodeError(
                f"input must have shape (batch, {self.in_features}), got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ResodeError(f"input must be a floating-point tensor, got {x.dtype}")
        weight = self.opening.weight
        if x.dtype != weight.dtype:
            raise ResodeError(
                f"input dtype {x.dtype} does not match the model's {weight.dtype}; "
                f"convert with x.to({weight.dtype}) or model.to({x.dtype})"
            )
        if x.device != weight.device:
            raise ResodeError(
                f"input is on {x.device} but the model is on {weight.device}; move one with .to()"
            )
        if not bool(torch.isfinite(x).all()):
            raise ResodeError("input contains non-finite values (nan or inf)")
        return self.activation(self.opening(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The final state Y_N, shape (batch, width)."""
        return self.block(self.open(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.open(x)))
