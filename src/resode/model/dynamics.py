"""Right-hand sides f(Y, θ(t)) of the network ODE dY/dt = f(Y, θ(t)).

=================  ==============================  ==============================
name               f(Y)                            Jacobian J = ∂f/∂Y
=================  ==============================  ==============================
``standard``       σ(K Y + b)                      diag(σ') K
``antisymmetric``  σ((K − Kᵀ − γI) Y + b)          diag(σ') (K − Kᵀ − γI)
``parabolic``      −Kᵀ σ(K Y + b)                  −Kᵀ diag(σ') K   (negative semi-definite)
``hamiltonian``    Y' = σ(K Z + b), Z' = −σ(KᵀY+b)  [[0, D₁K], [−D₂Kᵀ, 0]] (imaginary λ)
``second-order``   Y'' = −Kᵀ σ(K Y + b)            [[0, I], [−KᵀDK, 0]]    (imaginary λ)
``diffusion-``     −L Y + σ(K Y + b),              −L + diag(σ') K
``reaction``       L = MᵀM + εI (learned M)        (−L: implicit in ``imex``)
=================  ==============================  ==============================

With σ' ≥ 0, the antisymmetric form has Re λ(J) ≤ 0 (for γ ≥ 0) and the parabolic form a
symmetric negative semi-definite Jacobian: both are stable by construction.

Optional normalization N_t inside f (``norm``, see :mod:`~resode.model.normalization`): then
σ(K Y + b) becomes σ(N_t(K Y) + b), N_t with a scale (and, for ``batch``, running statistics)
in time on the weight grid, b the shift after it. It voids the structural stability
guarantees; in evaluation mode every kind maps each example on its own.

A dynamics is built from a width and a :class:`~resode.model.spec.BlockSpec` (which has
validated every option) and owns its weights on a time grid. ``stage_parameters(steps,
offsets)`` samples the weights at every stage of every step once per forward pass (applying
reparameterizations to the whole grid first); ``forward(y, p)`` evaluates f for one stage's
parameters ``p``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import ResodeError, check_int, check_positive
from ..integrators.base import ImplicitField, SplitField
from .activations import get_activation
from .diffusion import make_diffusion
from .fused import activated_linear
from .kernels import make_kernel
from .normalization import (
    Normalization,
    check_normalization,
    make_normalization,
    require_per_example,
)
from .timegrid import TimeParameter

if TYPE_CHECKING:
    from .spec import BlockSpec

StageParameters = tuple[torch.Tensor, ...]


class Dynamics(nn.Module):
    """Base class: weights K(t), b(t) on a shared time grid and an activation σ."""

    def __init__(self, width: int, spec: BlockSpec) -> None:
        super().__init__()
        self.width = check_int("width", width)
        self.kernel = make_kernel(spec.kernel, self.width, spec.kernel_size)
        self.activation = get_activation(spec.activation)
        self.weight = TimeParameter(self.kernel.weight_shape, spec.intervals, spec.T, spec.interp)
        self.bias = TimeParameter(self.kernel.bias_shape, spec.intervals, spec.T, spec.interp)
        check_normalization(spec.norm, spec.groups, self.width, self.kernel.spatial_dims > 0)
        self.normalization = make_normalization(spec.norm, spec.groups)
        self.normalization.attach(self)
        std = self.kernel.default_std() if spec.init_std is None else spec.init_std
        with torch.no_grad():  # weights start constant in time: a smooth initial θ(t)
            self.weight.values.copy_(
                torch.randn(self.kernel.weight_shape).mul_(std).expand_as(self.weight.values)
            )

    def operator_grid(self) -> torch.Tensor:
        """The grid of operators used in f (reparameterized weights), shape (G, n, n)."""
        return self.weight.values

    def stage_parameters(
        self,
        steps: int,
        offsets: tuple[float, ...],
        spans: tuple | None = None,
        image_size: tuple[int, ...] = (),
    ) -> list[list[StageParameters]]:
        """(K, b, …) at t_l + c_i h for every step l and stage i, computed in one pass
        (blended over the stage's span where ``spans`` is given and weights jump in it)."""
        plan, grids = self.parameter_plan(steps, offsets, spans, image_size)
        return plan.stage_parameters(grids)

    def parameter_plan(
        self,
        steps: int,
        offsets: tuple[float, ...],
        spans: tuple | None = None,
        image_size: tuple[int, ...] = (),
    ):
        """The stage lookup plan and the grids it samples, (K, b, …) each of shape (G, …);
        ``image_size``: the states' spatial size (for a convolution's norm; () for vectors)."""
        nodes = self.normalization.node_grids
        plan = self.weight.plan(steps, offsets, spans, nodes)
        field = self._field_grids(self.weight.T / steps, image_size)
        return plan, field + self.normalization.grids(self)

    def _field_grids(self, h: float, image_size: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
        """(K, b, …): the grids of f itself at step size h on states of spatial size
        ``image_size``; the normalization's follow them."""
        return (self.operator_grid(), self.bias.values)

    def preactivation(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        """N_t(K Y) + b (K Y + b without normalization)."""
        if self.normalization.identity:
            return self.kernel.apply(y, p[0], p[1])
        return self.normalize(self.kernel.apply(y, p[0]), p)

    def normalize(self, z: torch.Tensor, p: StageParameters) -> torch.Tensor:
        """N_t(z) + b at the stage parameters ``p``, z of shape (batch, channels, …)."""
        count = self.normalization.grid_count
        return self.normalization.apply(z, p[1], tuple(p[len(p) - count :]), self)

    def use_stored_normalization(self, normalization: Normalization) -> None:
        """Switch to the map of a run saved before normalization had a scale and running
        statistics (see :func:`~resode.model.normalization.adopt_stored_normalization`)."""
        for name in ("norm_scale", "statistics"):
            if hasattr(self, name):
                delattr(self, name)
        self.normalization = normalization

    def lift(self, y0: torch.Tensor) -> torch.Tensor:
        """The state the ODE starts from, given the block's input Y0."""
        return y0

    def project(self, state: torch.Tensor) -> torch.Tensor:
        """The block's output from the final state."""
        return state

    def forward(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        if self.normalization.identity:  # the hot path: one fused node for a dense kernel
            return activated_linear(self.kernel, self.activation, y, p[0], p[1])
        return self.activation(self.preactivation(y, p))

    def jacobian(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        """J = ∂f/∂Y at each example, features flattened: shape (batch, n, n).

        Exact (diag(σ') K) without normalization; by autograd per example with any other
        (batch normalization in evaluation mode, with its running statistics: in training
        mode it couples the examples and has no per-example J).
        """
        if not self.normalization.identity:
            return self._autograd_jacobian(y, p)
        slope = self.activation.derivative(self.preactivation(y, p)).flatten(1)
        return slope.unsqueeze(-1) * self.kernel.matrix(p[0], tuple(y.shape[2:]))

    def _autograd_jacobian(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        require_per_example(self, "Jacobian")

        def one(row: torch.Tensor) -> torch.Tensor:
            return self(row.unsqueeze(0), p).flatten()

        flat = torch.func.vmap(torch.func.jacrev(one))(y)
        return flat.reshape(y.shape[0], -1, y[0].numel())

    def extra_repr(self) -> str:
        norm = "" if self.normalization.identity else f", norm={self.normalization.name}"
        return f"{self.kernel.describe()}, activation={self.activation.name}{norm}"


class StandardDynamics(Dynamics):
    """f(Y) = σ(K Y + b): the plain ResNet. Its stability depends on the spectrum of K."""


class AntisymmetricDynamics(Dynamics):
    """f(Y) = σ((K − Kᵀ − γI) Y + b), γ ≥ 0: Re λ(J) ≤ 0 by construction."""

    def __init__(self, width: int, spec: BlockSpec) -> None:
        super().__init__(width, spec)
        self.gamma = spec.gamma

    def operator_grid(self) -> torch.Tensor:
        return self.kernel.antisymmetric(self.weight.values, self.gamma)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gamma={self.gamma:g}"


class ParabolicDynamics(Dynamics):
    """f(Y) = −Kᵀ σ(K Y + b): J = −Kᵀ diag(σ') K is symmetric negative semi-definite.

    With ``lipschitz`` (forward Euler, constant weights): f(Y) = −c Kᵀ σ(K Y + b) with
    c = min(1, 2 / (h s ‖K‖²)) per weight node, s = sup σ'. A step's Jacobian
    I − h c Kᵀ D K (0 ≤ D ≤ s) then has eigenvalues in [1 − h c s ‖K‖², 1] ⊂ [−1, 1], so
    every step is non-expansive, at any depth: the step-size condition h ≤ 2 / (s ‖K‖²) of
    the lecture turned into a constraint (a convex-potential layer, Meunier et al. 2022).
    ‖K‖ is exact for dense K and a rigorous bound for a convolution on images of the size
    the block receives (:meth:`~resode.model.kernels.ConvKernel.operator_norms`).
    """

    def __init__(self, width: int, spec: BlockSpec) -> None:
        super().__init__(width, spec)
        self.lipschitz = spec.lipschitz

    def _field_grids(self, h: float, image_size: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
        weights = self.weight.values
        if self.lipschitz is None:
            return (weights, self.bias.values, -weights)
        return (weights, self.bias.values, -self.step_scales(h, image_size) * weights)

    def step_scales(self, h: float, image_size: tuple[int, ...] = ()) -> torch.Tensor:
        """c = min(1, 2 / (h s ‖K‖²)) per weight node, shaped to scale the grid (G, 1, …)."""
        if len(image_size) != self.kernel.spatial_dims:
            raise ResodeError(
                f"the non-expansive {self.kernel.describe()} needs the image size its states "
                f"have ({self.kernel.spatial_dims} sizes), got {image_size}"
            )
        weights = self.weight.values
        norms = self.kernel.operator_norms(weights, image_size)
        limit = 2.0 / (h * self.activation.slope_bound * norms.square().clamp_min(1e-300))
        scales = limit.clamp(max=1.0)
        return scales.reshape(-1, *([1] * (weights.dim() - 1)))

    def extra_repr(self) -> str:
        bound = "" if self.lipschitz is None else ", non-expansive"
        return super().extra_repr() + bound

    def forward(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        return self.kernel.apply_transpose(self.activation(self.preactivation(y, p)), p[2])

    def jacobian(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        """Bᵀ diag(σ') K with B = p[2] (−K, or −cK for the non-expansive steps)."""
        if not self.normalization.identity:
            return self._autograd_jacobian(y, p)
        slope = self.activation.derivative(self.preactivation(y, p)).flatten(1)
        matrix = self.kernel.matrix(p[0], tuple(y.shape[2:]))
        outer = self.kernel.matrix(p[2], tuple(y.shape[2:]))
        return (outer.transpose(-1, -2) * slope.unsqueeze(-2)) @ matrix


class SplitDynamics(Dynamics, SplitField):
    """Dynamics on a pair: Y' = f_Y(Z, θ), Z' = f_Z(Y, θ), the state being [Y, Z] along dim 1.

    The block's input fills Y and Z starts at 0 (at rest: no learned lift, so the network
    has the same parameters as a first-order one); the block's output is Y at t = T.
    Explicit Runge–Kutta methods integrate the pair as one first-order system; the
    ``verlet`` integrator uses the split (:meth:`position_rate`, :meth:`momentum_rate`).
    """

    def split_state(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return state[:, : self.width], state[:, self.width :]

    def lift(self, y0: torch.Tensor) -> torch.Tensor:
        return torch.cat([y0, torch.zeros_like(y0)], dim=1)

    def project(self, state: torch.Tensor) -> torch.Tensor:
        return state[:, : self.width]

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
        return self.activation(self.preactivation(z, p))

    def momentum_rate(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        return -self.activation(self._transpose_with_bias(y, p))

    def _transpose_with_bias(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        """N_t(Kᵀ Y) + b (Kᵀ Y + b without normalization)."""
        return self.normalize(self.kernel.apply_transpose(y, p[0]), p)

    def jacobian(self, state: torch.Tensor, p: StageParameters) -> torch.Tensor:
        if not self.normalization.identity:
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

    def _field_grids(self, h: float, image_size: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
        weights = self.weight.values
        return (weights, self.bias.values, -weights)

    def position_rate(self, z: torch.Tensor, p: StageParameters) -> torch.Tensor:
        return z

    def momentum_rate(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        return self.kernel.apply_transpose(self.activation(self.preactivation(y, p)), p[2])

    def jacobian(self, state: torch.Tensor, p: StageParameters) -> torch.Tensor:
        if not self.normalization.identity:
            return self._autograd_jacobian(state, p)
        y, _ = self.split_state(state)
        slope = self.activation.derivative(self.preactivation(y, p)).flatten(1)
        matrix = self.kernel.matrix(p[0], tuple(y.shape[2:]))
        stiffness = -(matrix.transpose(-1, -2) * slope.unsqueeze(-2)) @ matrix
        eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
        return self._split_jacobian(eye.expand_as(stiffness), stiffness)


class DiffusionReactionDynamics(Dynamics, ImplicitField):
    """f(Y) = −L Y + σ(K Y + b): diffusion L = MᵀM + εI (ε = 1e-3) plus a standard reaction.

    L(t) is symmetric positive definite and learnable, M(t) on the weight grid; dense M for
    the dense kernel, a periodic depthwise convolution for conv1d/conv2d (the reaction's K
    keeps zero padding), see :mod:`resode.model.diffusion`. The split serves the ``imex``
    integrator: :meth:`explicit_rate` g(Y) = σ(KY + b), :meth:`implicit_solve` (I + hL)⁻¹ r.
    Explicit integrators use :meth:`forward`. J = −L + diag(σ') K; stage parameters (K, b, M).
    M starts with λ_max(MᵀM) ≈ 1 (mild); :meth:`set_diffusion_radius` makes L stiff.
    """

    def __init__(self, width: int, spec: BlockSpec) -> None:
        super().__init__(width, spec)
        self.diffusion = make_diffusion(self.kernel)
        grid = self.weight
        self.diffusion_weight = TimeParameter(
            self.diffusion.weight_shape, grid.intervals, grid.T, grid.interp
        )
        with torch.no_grad():
            initial = self.diffusion.initial_weight()
            self.diffusion_weight.values.copy_(initial.expand_as(self.diffusion_weight.values))

    def _field_grids(self, h: float, image_size: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
        return (self.operator_grid(), self.bias.values, self.diffusion_weight.values)

    def explicit_rate(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        """The reaction g(Y) = σ(N(K Y + b)), treated explicitly by ``imex``."""
        return super().forward(y, p)

    def implicit_solve(self, r: torch.Tensor, h: float, p: StageParameters) -> torch.Tensor:
        """(I + hL)⁻¹ r, the shape of r: Cholesky (dense) or FFT (periodic convolution)."""
        return self.diffusion.solve(r, h, p[2])

    def forward(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        return self.explicit_rate(y, p) - self.diffusion.apply(y, p[2])

    def diffusion_matrix(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        """L as an n×n matrix for states shaped like ``y`` (n = features per example)."""
        return self.diffusion.matrix(p[2], tuple(y.shape[2:]))

    def reaction_jacobian(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        """diag(σ') K, the Jacobian of the explicit part, shape (batch, n, n)."""
        if self.normalization.identity:
            return super().jacobian(y, p)
        return self._autograd_jacobian(y, p) + self.diffusion_matrix(y, p)

    def jacobian(self, y: torch.Tensor, p: StageParameters) -> torch.Tensor:
        """J = −L + diag(σ') K, shape (batch, n, n)."""
        if not self.normalization.identity:
            return self._autograd_jacobian(y, p)
        return super().jacobian(y, p) - self.diffusion_matrix(y, p)

    def diffusion_radius(self, spatial: tuple[int, ...] = ()) -> float:
        """max over the weight grid of λ_max(L) (on images of size ``spatial`` for conv)."""
        if len(spatial) != self.kernel.spatial_dims:
            expected = "()" if not self.kernel.spatial_dims else "the image size"
            raise ResodeError(f"spatial must be {expected} for {self.kernel.describe()}")
        with torch.no_grad():
            return max(
                float(self.diffusion.eigenvalues(m, spatial)[-1])
                for m in self.diffusion_weight.values
            )

    @torch.no_grad()
    def set_diffusion_radius(self, radius: float, spatial: tuple[int, ...] = ()) -> None:
        """Scale M(t) so that max_t λ_max(L(t)) = ``radius`` (> ε): a stiff L for experiments."""
        check_positive("diffusion radius", radius)
        epsilon = self.diffusion.epsilon
        if radius <= epsilon:
            raise ResodeError(f"diffusion radius must exceed ε = {epsilon:g}, got {radius:g}")
        current = self.diffusion_radius(spatial) - epsilon
        self.diffusion_weight.values.mul_(((radius - epsilon) / current) ** 0.5)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.diffusion.describe()}"


DYNAMICS: dict[str, type[Dynamics]] = {
    "standard": StandardDynamics,
    "antisymmetric": AntisymmetricDynamics,
    "parabolic": ParabolicDynamics,
    "hamiltonian": HamiltonianDynamics,
    "second-order": SecondOrderDynamics,
    "diffusion-reaction": DiffusionReactionDynamics,
}
