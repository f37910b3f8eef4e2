"""Jacobian spectra along trajectories: of J = ∂f/∂Y per step, and of the step map.

Continuous: with J = ∂f/∂Y along a trajectory, Re λ(J) > 0 is unstable, < 0 stable and
≈ 0 energy-bounded. Discrete: the eigenvalues μ of the linearized step map
∂carry_{l+1}/∂carry_l say whether the actual scheme amplifies perturbations in a step.
Everything runs in float64 on a copy of the block. Shapes: spectra (steps, batch, n), complex128.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from ..errors import ResodeError, check_tensor
from ..integrators import ImplicitField
from ..integrators.base import at_stage_time
from ..model.block import ODEBlock
from ..model.normalization import require_per_example
from .regions import as_integrator

ZERO_TOLERANCE = 1e-7
"""|Re λ| ≤ ZERO_TOLERANCE · max(1, |λ|) counts as zero (energy-bounded)."""


def classify(max_real: float, scale: float = 1.0, tol: float = ZERO_TOLERANCE) -> str:
    """The lecture's verdict for one step: ``unstable``, ``stable`` or ``energy-bounded``."""
    bound = tol * max(1.0, scale)
    if max_real > bound:
        return "unstable"
    if max_real < -bound:
        return "stable"
    return "energy-bounded"


def jacobian(dynamics, y: torch.Tensor, parameters) -> torch.Tensor:
    """J = ∂f/∂Y at each example of ``y``: shape (batch, n, n), n the unknowns per example
    (width, 2·width for split dynamics, channels·pixels for convolutions).

    The dynamics' exact formula (autograd per example where normalization needs it).
    """
    return dynamics.jacobian(y, parameters)


def autograd_jacobian(f, y: torch.Tensor) -> torch.Tensor:
    """Per-example Jacobian of a row-wise map f: (batch, n) → (batch, m), shape (batch, m, n)."""
    return torch.func.vmap(torch.func.jacrev(lambda row: f(row.unsqueeze(0)).squeeze(0)))(y)


@dataclass
class TrajectorySpectra:
    """Eigenvalues of J at (Y_l, θ(t_l)) for every step l and example: (steps, batch, n).

    ``explicit_eigenvalues``: for dynamics with an implicit part (−LY + g(Y)), those of the
    explicitly treated part ∂g/∂Y, on which IMEX methods (``stability_on_explicit_part``)
    are judged.
    """

    eigenvalues: torch.Tensor
    h: float
    T: float
    explicit_eigenvalues: torch.Tensor | None = None

    def for_integrator(self, integrator) -> torch.Tensor:
        """The spectrum ``integrator``'s region applies to: ∂g/∂Y for IMEX methods, else J."""
        explicit_part = as_integrator(integrator).stability_on_explicit_part
        if explicit_part and self.explicit_eigenvalues is not None:
            return self.explicit_eigenvalues
        return self.eigenvalues

    @property
    def max_real(self) -> torch.Tensor:
        """max Re λ per step, shape (steps,)."""
        return self.eigenvalues.real.amax(dim=(1, 2))

    @property
    def spectral_radius(self) -> torch.Tensor:
        """max |λ| per step, shape (steps,)."""
        return self.eigenvalues.abs().amax(dim=(1, 2))

    def unstable_share(self, tol: float = ZERO_TOLERANCE) -> torch.Tensor:
        """Share of examples with max Re λ > tol·max(1, |λ|) per step, shape (steps,)."""
        bound = tol * self.eigenvalues.abs().amax(dim=2).clamp_min(1.0)
        return (self.eigenvalues.real.amax(dim=2) > bound).double().mean(dim=1)

    def classes(self, tol: float = ZERO_TOLERANCE) -> list[str]:
        return [
            classify(float(r), float(s), tol) for r, s in zip(self.max_real, self.spectral_radius)
        ]


def check_states(block: ODEBlock, y0) -> torch.Tensor:
    """A batch of initial states for ``block``: a finite float tensor (batch, width, …)."""

    def shape(got: tuple[int, ...]) -> str | None:
        if len(got) >= 2 and got[1] == block.width:
            return None
        return f"y0 must have shape (batch, {block.width}, …), got {got}"

    return check_tensor(y0, "y0", shape=shape)


def analysis_copy(block: ODEBlock, y0: torch.Tensor) -> tuple[ODEBlock, torch.Tensor]:
    """A float64 copy of ``block`` in evaluation mode (normalization with its running
    statistics) that keeps its graph (``store``, so double backward works through it) and
    ``y0`` checked, detached and moved to it in float64."""
    check_states(block, y0)
    if not block.integrator.discretizes_ode:
        raise ResodeError(
            "a plain network (Y_{l+1} = σ(K_l Y_l + b_l)) is not an ODE discretization: "
            "it has no Jacobian spectra against a stability region to analyse"
        )
    analysed = copy.deepcopy(block).double().eval()
    analysed.memory = "store"
    y0 = y0.detach().to(dtype=torch.float64, device=next(analysed.parameters()).device)
    return analysed, y0


@torch.no_grad()
def trajectory_spectra(block: ODEBlock, y0: torch.Tensor) -> TrajectorySpectra:
    """Spectra of J along the trajectories of a batch ``y0`` (batch, width, …), in float64."""
    analysed, y0 = analysis_copy(block, y0)
    states = analysed.trajectory(y0)[:-1]  # Y_0 … Y_{N-1}
    steps = analysed.stage_parameters()
    jacobians = torch.stack(
        [jacobian(analysed.dynamics, y, at_stage_time(s[0])) for y, s in zip(states, steps)]
    )
    explicit = None
    if isinstance(analysed.dynamics, ImplicitField):  # the part an IMEX step treats explicitly
        reactions = [
            analysed.dynamics.reaction_jacobian(y, at_stage_time(s[0]))
            for y, s in zip(states, steps)
        ]
        explicit = torch.linalg.eigvals(torch.stack(reactions)).cpu()
    return TrajectorySpectra(torch.linalg.eigvals(jacobians).cpu(), block.h, block.T, explicit)


@torch.no_grad()
def step_map_spectra(block: ODEBlock, y0: torch.Tensor) -> torch.Tensor:
    """Eigenvalues μ of the linearized step map ∂carry_{l+1}/∂carry_l along the trajectories.

    The carry is the integrator's state (Y_l; (Y_{l−1}, Y_l) for the two-step leapfrog;
    (Y_l, Z_{l−1/2}) for Verlet), so this is the discrete stability of the actual scheme:
    |μ| ≤ 1 means perturbations do not grow in that step. For Verlet on split dynamics and
    the leapfrog on antisymmetric dynamics (γ = 0) all |μ| = 1 while h is below the largest
    stable step of the spectra of J. Shape (steps, batch, carry size), complex128, float64.
    """
    analysed, y0 = analysis_copy(block, y0)
    require_per_example(analysed.dynamics, "step map")
    field, integrator, h = analysed.dynamics, analysed.integrator, analysed.h
    steps = analysed.stage_parameters()
    carry = integrator.initial(field, field.lift(y0), h, steps[0])
    shapes = [c.shape[1:] for c in carry]
    sizes = [math.prod(shape) for shape in shapes]

    def step_of_one(row: torch.Tensor, stage_parameters) -> torch.Tensor:
        parts = row.split(sizes)
        one = tuple(part.reshape(1, *shape) for part, shape in zip(parts, shapes))
        following = integrator.advance(field, one, h, stage_parameters)
        return torch.cat([c.reshape(-1) for c in following])

    spectra = []
    for parameters, following in zip(steps, integrator.iterate(field, carry, h, steps)):
        rows = torch.cat([c.flatten(1) for c in carry], dim=1)
        maps = torch.func.vmap(torch.func.jacrev(step_of_one), in_dims=(0, None))(rows, parameters)
        spectra.append(torch.linalg.eigvals(maps).cpu())
        carry = following
    return torch.stack(spectra)
