"""Logarithmic norms and the growth bound they give, where frozen eigenvalues mislead.

μ₂(J) = λ_max((J + Jᵀ)/2) bounds the growth of perturbations of the flow Y' = f(Y, t):
d‖δ‖/dt ≤ μ₂(J(t)) ‖δ‖, so ‖δ(T)‖ ≤ exp(∫₀ᵀ μ₂(J(t)) dt) ‖δ(0)‖ — a one-sided Lipschitz
bound that holds for time-dependent J, unlike max Re λ(J(t)) ≤ 0 (Markus–Yamabe: every
frozen eigenvalue has real part −1/4 while solutions grow like e^{t/2}; ``resode experiment
frozen``). resode evaluates μ₂ matrix-free (Lanczos, :mod:`.iterative`) at every step's
state and reports exp(Σ_l h μ₂(J_l)), a quadrature of the exponent, next to the measured
growth of the discrete network (which matches the flow's up to the integrator's error).

For f = σ(KY + b), J = diag(σ')K: even for antisymmetric K (Re λ(J) ≤ 0) the symmetric part
(DK − KD)/2 is not zero when σ' varies between features, so μ₂(J) > 0 is common and the bound
grows although eigenvalues say "energy-bounded"; resode then reports the bound as it is (a
guarantee, possibly pessimistic) together with the measured growth and the finite-time
Lyapunov exponents (:mod:`.lyapunov`), which say what the network actually does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .iterative import field_row_map, jacobian_operator, symmetric_part_max
from .spectra import analysis_copy


def log_norm(f, y: torch.Tensor) -> torch.Tensor:
    """μ₂ of ∂f/∂y per example of ``y`` (batch, n…), f a row-wise map: shape (batch,)."""
    values = [symmetric_part_max(jacobian_operator(f, example)) for example in y]
    return torch.tensor(values, dtype=torch.float64)


@dataclass
class LogNorms:
    """μ₂(J_l) per step and example, shape (steps, batch), and the step size h."""

    values: torch.Tensor
    h: float

    @property
    def growth_bound(self) -> torch.Tensor:
        """exp(Σ_l h μ₂(J_l)) per example, shape (batch,)."""
        return torch.exp(self.h * self.values.sum(dim=0))

    def summary(self) -> dict:
        bound = self.growth_bound
        return {
            "per_step_max": [float(v) for v in self.values.amax(dim=1)],
            "growth_bound_mean": float(bound.mean()),
            "growth_bound_max": float(bound.max()),
            "positive_share": float((self.values > 0).double().mean()),
        }


def log_norms(block, y0: torch.Tensor) -> LogNorms:
    """μ₂(J) at (Y_l, θ(t_l)) for every step l along the trajectories of ``y0`` (float64)."""
    analysed, y0 = analysis_copy(block, y0)
    analysed.requires_grad_(False)
    with torch.no_grad():
        states = analysed.trajectory(y0)[:-1]
    values = [
        log_norm(field_row_map(analysed.dynamics, stage[0]), y)
        for y, stage in zip(states, analysed.stage_parameters())
    ]
    return LogNorms(torch.stack(values), block.h)


def frozen_growth(max_real: torch.Tensor, h: float) -> float:
    """exp(Σ_l h max Re λ(J_l)): what frozen eigenvalues would predict (not a bound)."""
    return math.exp(h * float(max_real.sum()))
