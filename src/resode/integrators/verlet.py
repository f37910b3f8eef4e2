"""Störmer–Verlet for split dynamics Y' = f_Y(Z, θ), Z' = f_Z(Y, θ) (Hamiltonian, second order).

Staggered (leapfrog) form, the carry being (Y_l, Z_{l−1/2}):

    Z_{l+1/2} = Z_{l−1/2} + h f_Z(Y_l, θ(t_l))            (kick)
    Y_{l+1}   = Y_l + h f_Y(Z_{l+1/2}, θ(t_l + h/2))       (drift)

With one weight set per step both use θ_l (Haber & Ruthotto's Hamiltonian network). The start
Z_{−1/2} = Z_0 − (h/2) f_Z(Y_0, θ(0)) is a half kick, so the first step starts from Z(0) = Z_0
to second order. For Y' = Z, Z' = F(Y) the scheme is Y_{l+1} = 2Y_l − Y_{l−1} + h² F(Y_l)
(the leapfrog network) with Y_{−1} = Y_0 + (h²/2) F(Y_0) ≈ Y(−h) when Y'(0) = 0; the
literal start Y_{−1} = Y_0 would give the first step twice the kick and the scheme first order.

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

from .base import Carry, Integrator, imaginary_segment_step, largest_root_modulus


class StormerVerlet(Integrator):
    name = "verlet"
    order = 2
    stage_offsets = (0.0, 0.5)
    reversible = True
    requires = "split"
    stability_radius = 2.0
    """Stable for hλ on the imaginary segment |z| < 2 (λ of the first-order system)."""

    def initial(self, field, y0: torch.Tensor, h: float, parameters: Sequence[Any]) -> Carry:
        y, z = field.split_state(y0)
        return (y, torch.add(z, field.momentum_rate(y, parameters[0]), alpha=-h / 2))

    def advance(self, field, carry: Carry, h: float, parameters: Sequence[Any]) -> Carry:
        y, z = carry
        z = torch.add(z, field.momentum_rate(y, parameters[0]), alpha=h)
        return (torch.add(y, field.position_rate(z, parameters[1]), alpha=h), z)

    def current(self, carry: Carry) -> torch.Tensor:
        return torch.cat(carry, dim=1)

    def reverse(self, field, carry: Carry, h: float, parameters: Sequence[Any]) -> Carry:
        y, z = carry
        y = torch.add(y, field.position_rate(z, parameters[1]), alpha=-h)
        return (y, torch.add(z, field.momentum_rate(y, parameters[0]), alpha=-h))

    def undo_initial(self, field, carry: Carry, h: float, parameters: Sequence[Any]):
        y, z = carry
        return torch.cat([y, torch.add(z, field.momentum_rate(y, parameters[0]), alpha=h / 2)], 1)

    def amplification(self, z):
        z = np.asarray(z, dtype=np.complex128)
        return largest_root_modulus([np.ones_like(z), -(2 + z * z), np.ones_like(z)])

    def max_stable_step(self, eigenvalues: np.ndarray, tol: float = 1e-9) -> float:
        return imaginary_segment_step(eigenvalues, self.stability_radius, tol)
