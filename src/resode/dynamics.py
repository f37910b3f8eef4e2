"""Right-hand sides f(Y, θ(t)) of the network ODE dY/dt = f(Y, θ(t)).

=================  ==============================  ==============================
name               f(Y)                            Jacobian J = ∂f/∂Y
=================  ==============================  ==============================
``standard``       σ(K Y + b)                      diag(σ') K
``antisymmetric``  σ((K − Kᵀ − γI) Y + b)          diag(σ') (K − Kᵀ − γI)
``parabolic``      −Kᵀ σ(K Y + b)                  −Kᵀ diag(σ') K   (negative semi-definite)
=================  ==============================  ==============================

With σ' ≥ 0, the antisymmetric form has Re λ(J) ≤ 0 (for γ ≥ 0) and the parabolic form a
symmetric negative semi-definite Jacobian: both are stable by construction.

Optional normalization N of K Y + b inside f (``norm``): ``instance`` normalizes each example
and channel over its pixels; ``batch`` normalizes each channel over the current batch, in
training and evaluation alike — there are no running averages, since statistics would differ
per step and stage and the depth may change. Both void the structural stability guarantees.

A dynamics owns its weights on a time grid. ``stage_parameters(steps, offsets)`` samples the
weights at every stage of every step once per forward pass (applying reparameterizations
to the whole grid first); ``forward(y, p)`` evaluates f for one stage's parameters ``p``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .activations import get_activation
from .errors import ResodeError, check_choice, check_int, check_nonnegative
from .kernels import make_kernel
from .timegrid import TimeParameter

StageParameters = tuple[torch.Tensor, ...]
NORMS = ("none", "batch", "instance")


class Dynamics(nn.Module):
    """Base class: weights K(t), b(t) on a shared time grid and an activation σ."""

    def __init__(
        self,
        width: int,
        T: float,
        intervals: int,
        interp: str = "constant",
        activation: str = "tanh",
        init_std: float | None = None,
        kernel: str = "dense",
        kernel_size: int = 3,
        norm: str = "none",
    ) -> None:
        super().__init__()
        self.width = check_int("width", width)
        self.kernel = make_kernel(kernel, self.width, kernel_size)
        self.norm = check_choice("normalization", norm, NORMS)
        self.activation = get_activation(activation)
        self.weight = TimeParameter(self.kernel.weight_shape, intervals, T, interp)
        self.bias = TimeParameter(self.kernel.bias_shape, intervals, T, interp)
        std = (
            self.kernel.default_std()
            if init_std is None
            else check_nonnegative("init_std", init_std)
        )
        with torch.no_grad():  # weights start constant in time: a smooth initial θ(t)
            self.weight.values.copy_(
                (torch.randn(self.kernel.weight_shape) * std).expand_as(self.weight.values)
            )

    def operator_grid(self) -> torch.Tensor:
        """The grid of operators used in f (reparameterized weights), shape (G, n, n)."""
        return self.weight.values

    def stage_parameters(
        self, steps: int, offsets: tuple[float, ...]
    ) -> list[list[StageParameters]]:
        """(K, b, …) at t_l + c_i h for every step l and stage i, computed in one pass."""
        plan = self.weight.plan(steps, offsets)
        columns = [plan.sample(grid) for grid in self._parameter_grids()]
        return [[tuple(col[s] for col in columns) for s in row] for row in plan.stage_source]

    def _parameter_grids(self) -> tuple[torch.Tensor, ...]:
        return (self.operator_grid(), self.bias.values)

    def preactivation(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        """N(K Y + b) with the optional normalization N."""
        z = self.kernel.apply(y, p[0], p[1])
        if self.norm == "batch":
            return F.batch_norm(z, None, None, training=True)
        if self.norm == "instance":
            return F.instance_norm(z)
        return z

    def forward(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        if self.norm == "none":  # the hot path: no extra call
            return self.activation(self.kernel.apply(y, p[0], p[1]))
        return self.activation(self.preactivation(y, p))

    def jacobian(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        """J = ∂f/∂Y at each example, features flattened: shape (batch, n, n).

        Exact (diag(σ') K) without normalization; by autograd per example with instance
        normalization; batch normalization couples the examples and has no per-example J.
        """
        if self.norm != "none":
            return self._autograd_jacobian(y, p)
        slope = self.activation.derivative(self.preactivation(y, p)).flatten(1)
        return slope.unsqueeze(-1) * self.kernel.matrix(p[0], tuple(y.shape[2:]))

    def _autograd_jacobian(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        if self.norm == "batch":
            raise ResodeError(
                "batch normalization couples the examples: no per-example Jacobian to analyse"
            )

        def one(row: torch.Tensor) -> torch.Tensor:
            return self(row.unsqueeze(0), p).flatten()

        flat = torch.func.vmap(torch.func.jacrev(one))(y)
        return flat.reshape(y.shape[0], -1, y[0].numel())

    def extra_repr(self) -> str:
        norm = f", norm={self.norm}" if self.norm != "none" else ""
        return f"{self.kernel.describe()}, activation={self.activation.name}{norm}"


class StandardDynamics(Dynamics):
    """f(Y) = σ(K Y + b): the plain ResNet. Its stability depends on the spectrum of K."""


class AntisymmetricDynamics(Dynamics):
    """f(Y) = σ((K − Kᵀ − γI) Y + b), γ ≥ 0: Re λ(J) ≤ 0 by construction."""

    def __init__(self, *args, gamma: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gamma = check_nonnegative("gamma", gamma)

    def operator_grid(self) -> torch.Tensor:
        return self.kernel.antisymmetric(self.weight.values, self.gamma)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gamma={self.gamma:g}"


class ParabolicDynamics(Dynamics):
    """f(Y) = −Kᵀ σ(K Y + b): J = −Kᵀ diag(σ') K is symmetric negative semi-definite."""

    def _parameter_grids(self) -> tuple[torch.Tensor, ...]:
        weights = self.weight.values
        return (weights, self.bias.values, -weights)

    def forward(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        return self.kernel.apply_transpose(self.activation(self.preactivation(y, p)), p[2])

    def jacobian(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        if self.norm != "none":
            return self._autograd_jacobian(y, p)
        slope = self.activation.derivative(self.preactivation(y, p)).flatten(1)
        matrix = self.kernel.matrix(p[0], tuple(y.shape[2:]))
        return -(matrix.transpose(-1, -2) * slope.unsqueeze(-2)) @ matrix


DYNAMICS: dict[str, type[Dynamics]] = {
    "standard": StandardDynamics,
    "antisymmetric": AntisymmetricDynamics,
    "parabolic": ParabolicDynamics,
}


def make_dynamics(name: str, width: int, T: float, intervals: int, **options) -> Dynamics:
    """Build a dynamics by name (standard, antisymmetric, parabolic).

    ``options``: ``interp``, ``activation``, ``init_std``, ``kernel`` (dense, conv1d, conv2d),
    ``kernel_size``, ``norm`` (none, batch, instance) and, for antisymmetric, ``gamma``.
    """
    cls = DYNAMICS[check_choice("dynamics", name, DYNAMICS)]
    gamma = options.pop("gamma", 0.0)
    if cls is AntisymmetricDynamics:
        return cls(width, T, intervals, gamma=gamma, **options)
    if gamma:
        raise ResodeError(f"gamma applies only to antisymmetric dynamics, not {name!r}")
    return cls(width, T, intervals, **options)
