"""Störmer–Verlet for split dynamics Y' = f_Y(Z, θ), Z' = f_Z(Y, θ) (Hamiltonian, second order).

Staggered (leapfrog) form, the carry being (Y_l, Z_{l−1/2}):

    Z_{l+1/2} = Z_{l−1/2} + h f_Z(Y_l, θ(t_l))            (kick)
    Y_{l+1}   = Y_l + h f_Y(Z_{l+1/2}, θ(t_l + h/2))       (drift)

With one weight set per step both use θ_l (Haber & Ruthotto's Hamiltonian network). The start
Z_{−1/2} = Z_0 − (h/2) f_Z(Y_0, θ(0)) is a half kick (at θ(0) itself), so the first step
starts from Z(0) = Z_0 to second order. For Y' = Z, Z' = F(Y) the scheme is
Y_{l+1} = 2Y_l − Y_{l−1} + h² F(Y_l) (the leapfrog network) with
Y_{−1} = Y_0 + (h²/2) F(Y_0) ≈ Y(−h) when Y'(0) = 0; the literal start Y_{−1} = Y_0 would
give the first step twice the kick and the scheme first order.

The kick stands for ∫ f_Z over [t_{l−1/2}, t_{l+1/2}], the drift for ∫ f_Y over [t_l, t_{l+1}]:
where piecewise-constant weights jump inside a span, the rate is averaged over the weight sets
by their share of it (a :class:`~resode.integrators.base.Blend`: still a shear, so explicit
and reversible), which keeps order 2 at weight jumps.

Explicit, symplectic, second order and reversible (every kick and drift is a shear). The
state a carry stands for is (Y_l, Z_{l−1/2}) concatenated along dim 1.

On the linear problem Y' = ωZ, Z' = −ωY the eigenvalues λ = ±iω of the first-order system
give, with z = hλ, step-map eigenvalues μ with μ + 1/μ = 2 + z²: |μ| = 1 while |z| ≤ 2
(on the imaginary axis), one |μ| > 1 beyond, and for real λ (an unstable ODE) always.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .base import (
    Carry,
    ReversibleIntegrator,
    SplitField,
    at_stage_time,
    imaginary_segment_step,
    largest_root_modulus,
    stage_rate,
)


class StormerVerlet(ReversibleIntegrator):
    name = "verlet"
    order = 2
    stage_offsets = (0.0, 0.5)
    stage_spans = ((-0.5, 0.5), (0.0, 1.0))
    needs = SplitField
    no_stability_function = (
        "a staggered method on (Y, Z); its amplification is the larger root modulus of "
        "ξ² − (2 + z²)ξ + 1"
    )
    stability_radius = 2.0
    """Stable for hλ on the imaginary segment |z| < 2 (λ of the first-order system)."""

    def initial(self, field, y0: torch.Tensor, h: float, parameters: Sequence[Any]) -> Carry:
        y, z = field.split_state(y0)
        return (y, torch.add(z, field.momentum_rate(y, at_stage_time(parameters[0])), alpha=-h / 2))

    def advance(self, field, carry: Carry, h: float, parameters: Sequence[Any]) -> Carry:
        y, z = carry
        z = torch.add(z, stage_rate(field.momentum_rate, y, parameters[0]), alpha=h)
        return (torch.add(y, stage_rate(field.position_rate, z, parameters[1]), alpha=h), z)

    def current(self, carry: Carry) -> torch.Tensor:
        return torch.cat(carry, dim=1)

    def reverse(self, field, carry: Carry, h: float, parameters: Sequence[Any]) -> Carry:
        y, z = carry
        y = torch.add(y, stage_rate(field.position_rate, z, parameters[1]), alpha=-h)
        return (y, torch.add(z, stage_rate(field.momentum_rate, y, parameters[0]), alpha=-h))

    def backward_step(
        self, field, carry: Carry, grads: Carry, h: float, parameters, leaves: Sequence
    ) -> tuple[Carry, Carry, tuple]:
        """Two evaluations, each serving both directions: the drift f_Y(Z_{l+1/2}) rebuilds
        Y_l and is differentiated at Z_{l+1/2}; the kick f_Z(Y_l) rebuilds Z_{l−1/2} and is
        differentiated at Y_l. Vector–Jacobian products chained by hand:
        ∂L/∂Z_{l+1/2} = g_Z + h J_driftᵀ g_Y, ∂L/∂Y_l = g_Y + h J_kickᵀ ∂L/∂Z_{l+1/2}."""
        y_next, z_half = carry
        g_y, g_z = grads
        with torch.enable_grad():
            w = z_half.detach().requires_grad_()
            drift = stage_rate(field.position_rate, w, parameters[1])
            y = torch.add(y_next, drift.detach(), alpha=-h).requires_grad_()
            kick = stage_rate(field.momentum_rate, y, parameters[0])
            drift_grads = torch.autograd.grad(
                drift, (w, *leaves), g_y * h, allow_unused=True, retain_graph=True
            )
            g_half = g_z if drift_grads[0] is None else g_z + drift_grads[0]
            kick_grads = torch.autograd.grad(kick, (y, *leaves), g_half * h, allow_unused=True)
        z_previous = torch.add(z_half, kick.detach(), alpha=-h)
        g_y_previous = g_y if kick_grads[0] is None else g_y + kick_grads[0]
        leaf_grads = tuple(
            a if b is None else (b if a is None else a + b)
            for a, b in zip(drift_grads[1:], kick_grads[1:])
        )
        return (y.detach(), z_previous), (g_y_previous, g_half), leaf_grads

    def undo_initial(self, field, carry: Carry, h: float, parameters: Sequence[Any]):
        y, z = carry
        kick = field.momentum_rate(y, at_stage_time(parameters[0]))
        return torch.cat([y, torch.add(z, kick, alpha=h / 2)], 1)

    def amplification(self, z):
        """Larger root modulus of ξ² − (2 + z²)ξ + 1 = 0."""
        z = np.asarray(z, dtype=np.complex128)
        return largest_root_modulus([np.ones_like(z), -(2 + z * z), np.ones_like(z)])

    def max_stable_step(self, eigenvalues: np.ndarray, tol: float = 1e-9) -> float:
        """2/max|λ| when every λ is imaginary, else 0."""
        return imaginary_segment_step(eigenvalues, self.stability_radius, tol)
