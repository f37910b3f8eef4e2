"""Stability analysis: Jacobian spectra along trajectories, stability regions, safe steps.

Continuous: with J = ∂f/∂Y along a trajectory, Re λ(J) > 0 is unstable, < 0 stable and
≈ 0 energy-bounded. Discrete: a step of size h is stable when every hλ lies in the
integrator's region {z : |R(z)| ≤ 1}. Forward sensitivity: the growth of perturbations of
Y0 through the whole block, ‖∂Y_N/∂Y0‖₂, by power iteration with JVP/VJP (no dense Jacobian).

Shapes: states (batch, width); spectra (steps, batch, width), complex128.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ResodeError, check_int, check_positive
from ..integrators import INTEGRATORS, Integrator, get_integrator
from ..model.block import ODEBlock

ZERO_TOLERANCE = 1e-7
"""|Re λ| ≤ ZERO_TOLERANCE · max(1, |λ|) counts as zero (energy-bounded)."""


def jacobian(dynamics, y: torch.Tensor, parameters) -> torch.Tensor:
    """J = ∂f/∂Y at each row of ``y``: shape (batch, width, width).

    Uses the dynamics' exact formula when it has one, else autograd (vmap of jacrev).
    """
    exact = getattr(dynamics, "jacobian", None)
    if exact is not None:
        return exact(y, parameters)
    return autograd_jacobian(lambda v: dynamics(v, parameters), y)


def autograd_jacobian(f, y: torch.Tensor) -> torch.Tensor:
    """Per-example Jacobian of a row-wise map f: (batch, n) → (batch, m), shape (batch, m, n)."""
    return torch.func.vmap(torch.func.jacrev(lambda row: f(row.unsqueeze(0)).squeeze(0)))(y)


def classify(max_real: float, scale: float = 1.0, tol: float = ZERO_TOLERANCE) -> str:
    """The lecture's verdict for one step: ``unstable``, ``stable`` or ``energy-bounded``."""
    bound = tol * max(1.0, scale)
    if max_real > bound:
        return "unstable"
    if max_real < -bound:
        return "stable"
    return "energy-bounded"


@dataclass
class TrajectorySpectra:
    """Eigenvalues of J at (Y_l, θ(t_l)) for every step l and example: (steps, batch, width).

    ``explicit_eigenvalues``: for dynamics with an implicit part (−LY + g(Y)), those of the
    explicitly treated part ∂g/∂Y, on which IMEX methods (``split_spectrum``) are judged.
    """

    eigenvalues: torch.Tensor
    h: float
    T: float
    explicit_eigenvalues: torch.Tensor | None = None

    def for_integrator(self, integrator) -> torch.Tensor:
        """The spectrum ``integrator``'s region applies to: ∂g/∂Y for IMEX methods, else J."""
        split = getattr(_as_integrator(integrator), "split_spectrum", False)
        if split and self.explicit_eigenvalues is not None:
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


@torch.no_grad()
def trajectory_spectra(block: ODEBlock, y0: torch.Tensor) -> TrajectorySpectra:
    """Spectra of J along the trajectories of a batch ``y0`` (batch, width), in float64."""
    _check_states(block, y0)
    analysed = _analysis_copy(block)
    y0 = y0.detach().to(dtype=torch.float64, device=next(analysed.parameters()).device)
    states = analysed.trajectory(y0)[:-1]  # Y_0 … Y_{N-1}
    steps = analysed.dynamics.stage_parameters(analysed.steps, analysed.stage_offsets)
    jacobians = torch.stack(
        [jacobian(analysed.dynamics, y, stage[0]) for y, stage in zip(states, steps)]
    )
    explicit = None
    if getattr(analysed.dynamics, "implicit", False):  # the part an IMEX step treats explicitly
        reactions = [analysed.dynamics.reaction_jacobian(y, s[0]) for y, s in zip(states, steps)]
        explicit = torch.linalg.eigvals(torch.stack(reactions)).cpu()
    return TrajectorySpectra(torch.linalg.eigvals(jacobians).cpu(), block.h, block.T, explicit)


def _analysis_copy(block: ODEBlock) -> ODEBlock:
    """A float64 copy that keeps its graph (``store``), so double backward works through it."""
    analysed = copy.deepcopy(block).double()
    analysed.memory = "store"
    return analysed


def _as_integrator(integrator) -> Integrator:
    if isinstance(integrator, str):
        return get_integrator(integrator)
    if not isinstance(integrator, Integrator):
        raise ResodeError(
            f"integrator must be a name or an Integrator, got {type(integrator).__name__}"
        )
    return integrator


def amplification(integrator, z) -> np.ndarray:
    """|R(z)| (largest root modulus for multistep methods) at complex z = hλ, as NumPy."""
    if isinstance(z, torch.Tensor):
        z = z.detach().cpu().numpy()
    return np.asarray(_as_integrator(integrator).amplification(np.asarray(z)))


def is_stable(integrator, z, tol: float = 1e-12):
    """hλ = z in the stability region (amplification ≤ 1 + tol), elementwise.

    Returns a bool (scalar z), a NumPy array or, for a tensor z, a bool tensor.
    """
    inside = amplification(integrator, z) <= 1 + tol
    if isinstance(z, torch.Tensor):
        return torch.as_tensor(inside)
    return bool(inside) if np.ndim(inside) == 0 else inside


def _ray_limits(polynomial: np.ndarray, directions: np.ndarray, tol: float) -> np.ndarray:
    """For each unit direction e^{iφ}: sup{u : |R(s e^{iφ})| ≤ 1 for all s ∈ (0, u]}.

    |R(u e^{iφ})|² − 1 = Σ_m c_m(φ) u^m with c_m = Σ_{j+k=m} r_j r_k cos((j − k)φ), a real
    polynomial in u; its first sign change on u > 0 ends the stable segment of the ray.
    """
    degree = len(polynomial) - 1
    phi = np.angle(directions)
    coefficients = np.zeros((len(directions), 2 * degree + 1))
    for j in range(degree + 1):
        for k in range(degree + 1):
            coefficients[:, j + k] += polynomial[j] * polynomial[k] * np.cos((j - k) * phi)
    coefficients[:, 0] -= 1.0  # p(u) = |R|² − 1, p(0) = 0
    coefficients[np.abs(coefficients) <= tol] = 0.0
    limits = np.full(len(directions), np.inf)
    nonzero = coefficients != 0
    lowest = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), -1)  # -1: |R| ≡ 1
    rows = np.arange(len(directions))
    leading = coefficients[rows, np.maximum(lowest, 0)]
    limits[(lowest >= 0) & (leading > 0)] = 0.0  # |R| > 1 for every small u
    for m in np.unique(lowest[(lowest >= 0) & (leading < 0)]):
        group = np.flatnonzero((lowest == m) & (leading < 0))
        limits[group] = _first_upcrossing(coefficients[group, m:], coefficients[group])
    return limits


def _first_upcrossing(reduced: np.ndarray, full: np.ndarray) -> np.ndarray:
    """Smallest u > 0 where Σ full_m u^m turns positive; roots from ``reduced`` (batched)."""
    degree = reduced.shape[1] - 1
    result = np.full(len(reduced), np.inf)
    if degree < 1:
        return result
    companion = np.zeros((len(reduced), degree, degree))
    companion[:, 1:, :-1] = np.eye(degree - 1)
    companion[:, :, -1] = -reduced[:, :-1] / reduced[:, -1:]
    roots = np.linalg.eigvals(companion)
    real = np.abs(roots.imag) <= 1e-7 * np.maximum(1.0, np.abs(roots))
    candidates = np.where(real & (roots.real > 1e-12), roots.real, np.inf)
    beyond = np.where(np.isfinite(candidates), candidates * (1 + 1e-6), 0.0)
    powers = beyond[..., None] ** np.arange(full.shape[1])
    turns_positive = (powers * full[:, None, :]).sum(axis=-1) > 0
    return np.where(turns_positive, candidates, np.inf).min(axis=1)


def max_stable_step(integrator, eigenvalues, tol: float = 1e-9) -> float:
    """Largest h with |R(sλ)| ≤ 1 for all s ∈ (0, h] and all given λ.

    Real parts and magnitudes below tol·max|λ| count as zero (rounding of the eigensolver).

    0 when no h > 0 works (e.g. forward Euler with purely imaginary λ), ∞ when all do
    (e.g. λ = 0 only). Forward Euler, λ = −3: 2/3. RK4, λ = i: 2√2.
    """
    integrator = _as_integrator(integrator)
    try:
        values = (
            eigenvalues.detach().cpu() if isinstance(eigenvalues, torch.Tensor) else eigenvalues
        )
        lam = np.asarray(values, dtype=np.complex128).ravel()
    except (TypeError, ValueError, RuntimeError):
        raise ResodeError(
            "eigenvalues must be a number, a sequence or an array of numbers"
        ) from None
    if not np.isfinite(lam).all():
        raise ResodeError("eigenvalues contain non-finite values (nan or inf)")
    # Eigenvalues are computed to about tol·max|λ|: snap real parts and magnitudes below it.
    floor = tol * float(np.abs(lam).max(initial=0.0))
    lam = np.where(np.abs(lam.real) <= floor, 1j * lam.imag, lam)
    lam = lam[np.abs(lam) > floor]
    if lam.size == 0:
        return math.inf
    polynomial = getattr(getattr(integrator, "tableau", None), "stability_polynomial", None)
    if polynomial is None:  # multistep and split methods know their own region
        return float(integrator.max_stable_step(lam, tol))
    # The limit depends on the direction only (scaled by 1/|λ|); directions repeat a lot.
    directions = np.round(lam / np.abs(lam), 12)
    unique, inverse = np.unique(directions, return_inverse=True)
    limits = _ray_limits(np.asarray(polynomial), unique, tol)[inverse] / np.abs(lam)
    return float(limits.min())


def advice_for(spectra: TrajectorySpectra, integrator_name: str, dynamics=None) -> tuple[str, dict]:
    """A verdict and concrete advice for the spectrum of a trained block.

    Compares every integrator that applies to ``dynamics`` (all first-order ones if None).
    """
    candidates = [name for name, method in INTEGRATORS.items() if method.supports(dynamics)]
    if integrator_name not in candidates:
        candidates.append(integrator_name)
    safe = {
        name: max_stable_step(name, spectra.for_integrator(name).reshape(-1)) for name in candidates
    }
    steps_needed = {
        name: (math.ceil(spectra.T / h) if h > 0 and math.isfinite(h) else (1 if h else None))
        for name, h in safe.items()
    }
    current = safe[integrator_name]
    ode_unstable = "unstable" in spectra.classes()
    if spectra.h <= current:
        verdict = (
            f"stable: h = {spectra.h:.4g} ≤ largest stable step {current:.4g} of {integrator_name}"
        )
    elif current > 0:
        verdict = (
            f"unstable: h = {spectra.h:.4g} > largest stable step {current:.4g}; "
            f"use ≥ {steps_needed[integrator_name]} steps with {integrator_name}"
        )
    else:
        options = [f"{n} with ≥ {k} steps" for n, k in steps_needed.items() if k]
        verdict = f"unstable: no step size makes {integrator_name} stable for this spectrum"
        verdict += f"; use {' or '.join(options)}" if options else ""
    if ode_unstable:
        verdict += "; the ODE itself has Re λ > 0: use antisymmetric or parabolic dynamics"
    return verdict, {"max_stable_step": safe, "steps_needed": steps_needed}


@dataclass
class Sensitivity:
    """Forward sensitivity of Y_N to Y0, per example and summarized."""

    growth: torch.Tensor  # ‖Y_N(Y0 + εδ) − Y_N(Y0)‖ / ‖εδ‖, shape (batch,)
    singular_value: torch.Tensor  # largest singular value of ∂Y_N/∂Y0, shape (batch,)

    def summary(self) -> dict[str, float]:
        return {
            "growth_mean": float(self.growth.mean()),
            "growth_max": float(self.growth.max()),
            "singular_value_mean": float(self.singular_value.mean()),
            "singular_value_max": float(self.singular_value.max()),
        }


def _norms(y: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """Euclidean norm of each example (all non-batch dims), shape (batch,) or broadcastable."""
    norms = y.flatten(1).norm(dim=1)
    return norms.view(-1, *([1] * (y.dim() - 1))) if keepdim else norms


def _check_states(block: ODEBlock, y0) -> None:
    if not isinstance(y0, torch.Tensor):
        raise ResodeError(f"y0 must be a torch.Tensor, got {type(y0).__name__}")
    if not y0.is_floating_point():
        raise ResodeError(f"y0 must be a floating-point tensor, got {y0.dtype}")
    if y0.dim() < 2 or y0.shape[1] != block.width:
        raise ResodeError(f"y0 must have shape (batch, {block.width}, …), got {tuple(y0.shape)}")
    if not bool(torch.isfinite(y0).all()):
        raise ResodeError("y0 contains non-finite values (nan or inf)")


def sensitivity(
    block: ODEBlock,
    y0: torch.Tensor,
    epsilon: float = 1e-4,
    iterations: int = 30,
    seed: int = 0,
) -> Sensitivity:
    """Finite-perturbation growth and ‖∂Y_N/∂Y0‖₂ per example (power iteration on JᵀJ)."""
    check_positive("epsilon", epsilon)
    check_int("iterations", iterations)
    _check_states(block, y0)
    analysed = _analysis_copy(block).requires_grad_(False)
    y0 = y0.detach().to(dtype=torch.float64, device=next(analysed.parameters()).device)
    generator = torch.Generator().manual_seed(seed)
    direction = torch.randn(y0.shape, generator=generator, dtype=torch.float64).to(y0.device)
    direction = direction / _norms(direction, keepdim=True)
    with torch.no_grad():
        moved = analysed(y0 + epsilon * direction) - analysed(y0)
    growth = _norms(moved) / epsilon
    # One forward pass; J v and Jᵀ w are backward passes through its graph (the J v by the
    # double-backward identity J v = ∂/∂w ⟨Jᵀ w, v⟩), rows being independent examples.
    with torch.enable_grad():
        y0 = y0.clone().requires_grad_(True)
        yN = analysed(y0)
        w = torch.zeros_like(yN, requires_grad=True)
        (transpose_w,) = torch.autograd.grad(yN, y0, w, create_graph=True)
        v = direction
        for _ in range(iterations):  # v ← JᵀJ v / ‖JᵀJ v‖
            (jv,) = torch.autograd.grad(transpose_w, w, v, retain_graph=True)
            (jtjv,) = torch.autograd.grad(yN, y0, jv, retain_graph=True)
            v = jtjv / _norms(jtjv, keepdim=True).clamp_min(1e-300)
        (jv,) = torch.autograd.grad(transpose_w, w, v)
    sigma = _norms(jv.detach())
    return Sensitivity(growth.cpu(), sigma.cpu())


@torch.no_grad()
def step_map_spectra(block: ODEBlock, y0: torch.Tensor) -> torch.Tensor:
    """Eigenvalues μ of the linearized step map ∂carry_{l+1}/∂carry_l along the trajectories.

    The carry is the integrator's state (Y_l; (Y_{l−1}, Y_l) for the two-step leapfrog;
    (Y_l, Z_{l−1/2}) for Verlet), so this is the discrete stability of the actual scheme:
    |μ| ≤ 1 means perturbations do not grow in that step. For Verlet on split dynamics and
    the leapfrog on antisymmetric dynamics (γ = 0) all |μ| = 1 while h is below the largest
    stable step of the spectra of J. Shape (steps, batch, carry size), complex128, float64.
    """
    _check_states(block, y0)
    analysed = _analysis_copy(block)
    if analysed.dynamics.norm == "batch":
        raise ResodeError(
            "batch normalization couples the examples: no per-example step map to analyse"
        )
    field, integrator, h = analysed.dynamics, analysed.integrator, analysed.h
    y0 = y0.detach().to(dtype=torch.float64, device=next(analysed.parameters()).device)
    parameters = field.stage_parameters(analysed.steps, analysed.stage_offsets)
    carry = integrator.initial(field, field.lift(y0), h, parameters[0])
    shapes = [c.shape[1:] for c in carry]
    sizes = [math.prod(shape) for shape in shapes]

    def step_of_one(row: torch.Tensor, stage_parameters) -> torch.Tensor:
        parts = row.split(sizes)
        one = tuple(part.reshape(1, *shape) for part, shape in zip(parts, shapes))
        following = integrator.advance(field, one, h, stage_parameters)
        return torch.cat([c.reshape(-1) for c in following])

    spectra = []
    for stage_parameters in parameters:
        rows = torch.cat([c.flatten(1) for c in carry], dim=1)
        maps = torch.func.vmap(torch.func.jacrev(step_of_one), in_dims=(0, None))(
            rows, stage_parameters
        )
        spectra.append(torch.linalg.eigvals(maps).cpu())
        carry = integrator.advance(field, carry, h, stage_parameters)
    return torch.stack(spectra)


def discrete_stability(spectra: TrajectorySpectra, integrator) -> dict[str, list]:
    """Per step: is every hλ inside the region, and the amplification max |R(hλ)|.

    For IMEX methods λ are those of the explicit part; the implicit part only damps (≤ 1).
    """
    factors = amplification(integrator, spectra.h * spectra.for_integrator(integrator))
    factors = factors.max(axis=(1, 2))
    return {
        "inside_region": [bool(a <= 1 + 1e-9) for a in factors],
        "amplification": [float(a) for a in factors],
    }


def _step_map_summary(eigenvalues: torch.Tensor, tol: float = 1e-8) -> dict[str, list]:
    """Per step: the largest |μ| and whether every μ lies on the unit circle (to ``tol``)."""
    modulus = eigenvalues.abs()
    return {
        "max_modulus": [float(v) for v in modulus.amax(dim=(1, 2))],
        "on_unit_circle": [bool(v) for v in ((modulus - 1).abs() <= tol).all(dim=2).all(dim=1)],
    }


def stability_report(
    block: ODEBlock, y0: torch.Tensor, spectra: TrajectorySpectra | None = None
) -> dict:
    """Everything ``resode stability`` reports for a block and a batch of initial states.

    Pass ``spectra`` when already computed by :func:`trajectory_spectra` for the same input.
    """
    name = block.integrator.name
    spectra = trajectory_spectra(block, y0) if spectra is None else spectra
    discrete = discrete_stability(spectra, name)
    verdict, advice = advice_for(spectra, name, block.dynamics)
    return {
        "integrator": name,
        "dynamics": getattr(block, "dynamics_name", type(block.dynamics).__name__),
        "T": block.T,
        "steps": block.steps,
        "h": block.h,
        "examples": int(y0.shape[0]),
        "per_step": {
            "max_real": [float(v) for v in spectra.max_real],
            "spectral_radius": [float(v) for v in spectra.spectral_radius],
            "unstable_share": [float(v) for v in spectra.unstable_share()],
            "class": spectra.classes(),
            **discrete,
        },
        "step_map": _step_map_summary(step_map_spectra(block, y0)),
        "max_stable_step": advice["max_stable_step"][name],
        "max_stable_step_by_integrator": advice["max_stable_step"],
        "steps_needed_by_integrator": advice["steps_needed"],
        "sensitivity": sensitivity(block, y0).summary(),
        "verdict": verdict,
    }
