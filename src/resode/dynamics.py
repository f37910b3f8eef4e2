"""Right-hand sides f(Y, θ(t)) of the network ODE dY/dt = f(Y, θ(t)).

=================  ==============================  ==============================
name               f(Y)                            Jacobian J = ∂f/∂Y
=================  ==============================  ==============================
``standard``       σ(K Y + b)                      diag(σ') K
``antisymmetric``  σ((K − Kᵀ − γI) Y + b)          diag(σ') (K − Kᵀ − γI)
``parabolic``      −Kᵀ σ(K Y + b)                  −Kᵀ diag(σ') K   (negative semi-definite)
``hamiltonian``    Y' = σ(K Z + b), Z' = −σ(KᵀY+b)  [[0, D₁K], [−D₂Kᵀ, 0]] (imaginary λ)
``second-order``   Y'' = −Kᵀ σ(K Y + b)            [[0, I], [−KᵀDK, 0]]    (imaginary λ)
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
        flat, index = self.sampled_parameters(steps, offsets)
        return [[tuple(flat[k] for k in stage) for stage in row] for row in index]

    def sampled_parameters(
        self, steps: int, offsets: tuple[float, ...]
    ) -> tuple[list[torch.Tensor], list[list[tuple[int, ...]]]]:
        """The distinct sampled tensors and, per step and stage, the indices of its (K, b, …).

        ``stage_parameters`` is ``[[tuple(flat[k] for k in stage) for stage in row] …]``;
        the flat form lets a custom backward hand gradients to each sampled tensor.
        """
        plan = self.weight.plan(steps, offsets)
        columns = [plan.sample(grid) for grid in self._parameter_grids()]
        width = len(columns)
        flat = [column[s] for s in range(len(columns[0])) for column in columns]
        index = [
            [tuple(s * width + c for c in range(width)) for s in row] for row in plan.stage_source
        ]
        return flat, index

    def _parameter_grids(self) -> tuple[torch.Tensor, ...]:
        return (self.operator_grid(), self.bias.values)

    def preactivation(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        """N(K Y + b) with the optional normalization N."""
        return self.normalize(self.kernel.apply(y, p[0], p[1]))

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        if self.norm == "batch":
            return F.batch_norm(z, None, None, training=True)
        if self.norm == "instance":
            return F.instance_norm(z)
        return z

    split = False
    """True for dynamics on a pair (Y, Z) (see :class:`SplitDynamics`)."""

    def lift(self, y0: torch.Tensor) -> torch.Tensor:
        """The state the ODE starts from, given the block's input Y0."""
        return y0

    def project(self, state: torch.Tensor) -> torch.Tensor:
        """The block's output from the final state."""
        return state

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


class SplitDynamics(Dynamics):
    """Dynamics on a pair: Y' = f_Y(Z, θ), Z' = f_Z(Y, θ), the state being [Y, Z] along dim 1.

    The block's input fills Y and Z starts at 0 (at rest: no learned lift, so the network
    has the same parameters as a first-order one); the block's output is Y at t = T.
    Explicit Runge–Kutta methods integrate the pair as one first-order system; the
    ``verlet`` integrator uses the split (:meth:`position_rate`, :meth:`momentum_rate`).
    """

    split = True

    def split_state(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return state[:, : self.width], state[:, self.width :]

    def lift(self, y0: torch.Tensor) -> torch.Tensor:
        return torch.cat([y0, torch.zeros_like(y0)], dim=1)

    def project(self, state: torch.Tensor) -> torch.Tensor:
        return state[:, : self.width]

    def position_rate(self, z: torch.Tensor, p: StageParameters) -> torch.Tensor:
        raise NotImplementedError

    def momentum_rate(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, state: torch.Tensor, p: StageParameters) -> torch.Tensor:
        y, z = self.split_state(state)
        return torch.cat([self.position_rate(z, p), self.momentum_rate(y, p)], dim=1)

    def _split_jacobian(self, upper: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
        """[[0, upper], [lower, 0]] from the blocks ∂f_Y/∂Z and ∂f_Z/∂Y, (batch, 2n, 2n)."""
        zero = torch.zeros_like(upper)
        return torch.cat([torch.cat([zero, upper], -1), torch.cat([lower, zero], -1)], -2)


class HamiltonianDynamics(SplitDynamics):
    """Y' = σ(K Z + b), Z' = −σ(Kᵀ Y + b) (Haber & Ruthotto 2017).

    J = [[0, D₁K], [−D₂Kᵀ, 0]] with D₁ = σ'(KZ + b), D₂ = σ'(KᵀY + b); since D₁K D₂Kᵀ is
    similar to a positive semi-definite matrix, λ(J) is purely imaginary.
    """

    def position_rate(self, z: torch.Tensor, p: StageParameters) -> torch.Tensor:
        return self.activation(self.normalize(self.kernel.apply(z, p[0], p[1])))

    def momentum_rate(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        return -self.activation(self.normalize(self._transpose_with_bias(y, p)))

    def _transpose_with_bias(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        bias = p[1].view(1, -1, *([1] * (y.dim() - 2)))
        return self.kernel.apply_transpose(y, p[0]) + bias

    def jacobian(self, state: torch.Tensor, p: StageParameters) -> torch.Tensor:
        if self.norm != "none":
            return self._autograd_jacobian(state, p)
        y, z = self.split_state(state)
        matrix = self.kernel.matrix(p[0], tuple(y.shape[2:]))
        d1 = self.activation.derivative(self.kernel.apply(z, p[0], p[1])).flatten(1)
        d2 = self.activation.derivative(self._transpose_with_bias(y, p)).flatten(1)
        return self._split_jacobian(
            d1.unsqueeze(-1) * matrix, -d2.unsqueeze(-1) * matrix.transpose(-1, -2)
        )


class SecondOrderDynamics(SplitDynamics):
    """Y'' = −Kᵀσ(K Y + b) as Y' = Z, Z' = −Kᵀσ(K Y + b): the leapfrog network with ``verlet``.

    J = [[0, I], [−KᵀDK, 0]], D = σ'(KY + b) ≥ 0: λ(J) = ±i√μ(KᵀDK), purely imaginary.
    """

    def _parameter_grids(self) -> tuple[torch.Tensor, ...]:
        weights = self.weight.values
        return (weights, self.bias.values, -weights)

    def position_rate(self, z: torch.Tensor, p: StageParameters) -> torch.Tensor:
        return z

    def momentum_rate(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        return self.kernel.apply_transpose(self.activation(self.preactivation(y, p)), p[2])

    def jacobian(self, state: torch.Tensor, p: StageParameters) -> torch.Tensor:
        if self.norm != "none":
            return self._autograd_jacobian(state, p)
        y, _ = self.split_state(state)
        slope = self.activation.derivative(self.preactivation(y, p)).flatten(1)
        matrix = self.kernel.matrix(p[0], tuple(y.shape[2:]))
        stiffness = -(matrix.transpose(-1, -2) * slope.unsqueeze(-2)) @ matrix
        eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
        return self._split_jacobian(eye.expand_as(stiffness), stiffness)


DYNAMICS: dict[str, type[Dynamics]] = {
    "standard": StandardDynamics,
    "antisymmetric": AntisymmetricDynamics,
    "parabolic": ParabolicDynamics,
    "hamiltonian": HamiltonianDynamics,
    "second-order": SecondOrderDynamics,
}


def make_dynamics(name: str, width: int, T: float, intervals: int, **options) -> Dynamics:
    """Build a dynamics by name (standard, antisymmetric, parabolic, hamiltonian, second-order).

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
