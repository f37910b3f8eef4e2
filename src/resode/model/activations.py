"""Activation functions σ with their derivatives σ' (needed for exact Jacobians).

All activations here are monotone, σ' >= 0, so the sign structure of K decides the
stability of dY/dt = σ(KY + b): J = diag(σ'(KY + b)) K. Each states ``slope_bound`` s =
sup σ', so every difference quotient (σ(u) − σ(v))/(u − v) lies in [0, s] (Lipschitz bounds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import check_choice

SMOOTH_RELU_ETA = 0.1
"""Half-width of the quadratic blend of the smooth ReLU."""


def smooth_relu(x: torch.Tensor, eta: float = SMOOTH_RELU_ETA) -> torch.Tensor:
    """ReLU with a quadratic blend on [-η, η]: 0, (x + η)²/(4η), x.  C¹, σ' ∈ [0, 1]."""
    blend = (x + eta).square() / (4 * eta)
    return torch.where(x <= -eta, torch.zeros_like(x), torch.where(x >= eta, x, blend))


def smooth_relu_derivative(x: torch.Tensor, eta: float = SMOOTH_RELU_ETA) -> torch.Tensor:
    """Derivative of :func:`smooth_relu`: 0, (x + η)/(2η), 1."""
    return ((x + eta) / (2 * eta)).clamp(0.0, 1.0)


@dataclass(frozen=True)
class Activation:
    """A pointwise monotone nonlinearity σ, its derivative σ' and s = sup σ' (``slope_bound``)."""

    name: str
    function: Callable[[torch.Tensor], torch.Tensor]
    derivative: Callable[[torch.Tensor], torch.Tensor]
    slope_bound: float

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x)


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation("tanh", torch.tanh, lambda x: 1 - torch.tanh(x).square(), 1.0),
    "relu": Activation("relu", F.relu, lambda x: (x > 0).to(x.dtype), 1.0),
    "smooth_relu": Activation("smooth_relu", smooth_relu, smooth_relu_derivative, 1.0),
    "identity": Activation("identity", lambda x: x, torch.ones_like, 1.0),
}


def get_activation(name: str) -> Activation:
    """Look up an activation by name (tanh, relu, smooth_relu, identity)."""
    return ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)]
