"""One generic explicit Runge–Kutta stepper, driven by a :class:`ButcherTableau`.

Adding an explicit method is adding a tableau. The stepper is stateless: the vector field
and its per-stage parameters are passed in, so the same code integrates a network block
(parameters = stage weights θ(t_l + c_i h)) and any callable f(t, y) (parameters = times).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .base import Carry, Integrator, VectorField
from .tableau import ButcherTableau


class ExplicitRungeKutta(Integrator):
    """Y_{l+1} = Y_l + h Σ_i b_i k_i with k_i = f(Y_l + h Σ_j a_ij k_j; p_i)."""

    def __init__(self, tableau: ButcherTableau) -> None:
        self.tableau = tableau
        # Only the nonzero coefficients are applied, each as one fused ``add(alpha=...)``.
        self._stage_terms = tuple(
            tuple((j, a_ij) for j, a_ij in enumerate(row[:i]) if a_ij != 0.0)
            for i, row in enumerate(tableau.a)
        )
        self._update_terms = tuple((i, b_i) for i, b_i in enumerate(tableau.b) if b_i != 0.0)

    @property
    def name(self) -> str:
        return self.tableau.name

    @property
    def order(self) -> int:
        return self.tableau.order

    @property
    def stage_offsets(self) -> tuple[float, ...]:
        """The c_i: stage i is evaluated at t_l + c_i h."""
        return self.tableau.c

    def stability_function(self, z):
        """R(z) = 1 + z bᵀ(I − zA)⁻¹𝟙 on complex numbers, arrays or tensors."""
        return self.tableau.stability_function(z)

    def amplification(self, z):
        """|R(z)|."""
        return np.abs(self.tableau.stability_function(np.asarray(z, dtype=np.complex128)))

    def advance(self, field, carry: Carry, h: float, parameters: Sequence[Any]) -> Carry:
        return (self.step(field, carry[0], h, parameters),)

    def step(
        self,
        field: VectorField,
        y: torch.Tensor,
        h: float,
        stage_parameters: Sequence[Any],
    ) -> torch.Tensor:
        """One step of size ``h`` from ``y``; ``stage_parameters[i]`` is passed to stage i."""
        slopes: list[torch.Tensor] = []
        for terms, parameters in zip(self._stage_terms, stage_parameters):
            stage = y
            for j, a_ij in terms:
                stage = torch.add(stage, slopes[j], alpha=h * a_ij)
            slopes.append(field(stage, parameters))
        result = y
        for i, b_i in self._update_terms:
            result = torch.add(result, slopes[i], alpha=h * b_i)
        return result

    def __repr__(self) -> str:
        return f"ExplicitRungeKutta({self.tableau.name}, order={self.order})"
