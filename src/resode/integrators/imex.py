"""The semi-implicit (IMEX) Euler step for dynamics Y' = −L Y + g(Y), L symmetric positive definite.

    Y_{l+1} = (I + hL)⁻¹ (Y_l + h g(Y_l)),   L, g at θ(t_l)

The stiff linear diffusion −LY is treated implicitly (one linear solve, exact: Cholesky or
FFT, see :mod:`resode.model.diffusion`), the nonlinear reaction g explicitly. First order, one
evaluation of g per step; not reversible (undoing the step would mean solving the nonlinear
equation Y_l + h g(Y_l) = (I + hL) Y_{l+1} for Y_l).

Stability. On the test equation y' = λ_I y + λ_E y, λ_I = −μ (μ ≥ 0, an eigenvalue of −L)
treated implicitly and λ_E = ν explicitly, one step multiplies by

    R(z, w) = (1 + z) / (1 − w),   z = hλ_E (explicit part),  w = hλ_I (implicit part),

so the method is stable where |1 + z| ≤ |1 − w|. For the implicit part alone (z = 0) that
holds for every w in the left half-plane: unconditionally stable, however stiff L is, and
it only helps, since 1/|1 − w| ≤ 1. ``amplification(z)`` and ``max_stable_step(λ)`` therefore
take the eigenvalues of the *explicit* part (the reaction Jacobian diag(σ')K): the limit is
forward Euler's, h ≤ −2 Re λ / |λ|². :mod:`resode.analysis` hands ``imex`` that spectrum
(``stability_on_explicit_part``); given the spectrum of the full J = −L + diag(σ')K instead,
the same limit is still sufficient in the commuting case (|1 + hν| ≤ |1 + h(ν − μ)| + hμ), but
pessimistic by the factor of stiffness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .base import Carry, ImplicitField, Integrator


class ImexEuler(Integrator):
    name = "imex"
    order = 1
    stage_offsets = (0.0,)
    needs = ImplicitField
    stability_on_explicit_part = True

    def advance(self, field, carry: Carry, h: float, parameters: Sequence[Any]) -> Carry:
        return (self.step(field, carry[0], h, parameters),)

    def step(self, field, y: torch.Tensor, h: float, parameters: Sequence[Any]) -> torch.Tensor:
        """(I + hL)⁻¹ (y + h g(y)) with L, g at the parameters of stage 0."""
        p = parameters[0]
        return field.implicit_solve(torch.add(y, field.explicit_rate(y, p), alpha=h), h, p)

    def stability_function(self, z, implicit=0.0):
        """R(z, w) = (1 + z)/(1 − w): z = hλ of the explicit part, w = hλ of the implicit part."""
        return (1 + z) / (1 - implicit)

    def amplification(self, z, implicit=0.0):
        """|R(z, w)| on NumPy/complex input; z explicit, ``implicit`` = w (default: none)."""
        z = np.asarray(z, dtype=np.complex128)
        return np.abs(self.stability_function(z, np.asarray(implicit, dtype=np.complex128)))

    def max_stable_step(self, eigenvalues: np.ndarray, tol: float = 1e-9) -> float:
        """Largest h with |1 + hλ| ≤ 1 for all λ of the explicit part: min −2 Re λ / |λ|².

        0 if some λ has Re λ ≥ 0 (λ ≠ 0), ∞ for no λ. The implicit part adds no limit.
        """
        lam = np.asarray(eigenvalues, dtype=np.complex128).ravel()
        lam = lam[lam != 0]
        if lam.size == 0:
            return math.inf
        if np.any(lam.real >= 0):
            return 0.0
        return float((-2 * lam.real / np.abs(lam) ** 2).min())
