"""The two-step leapfrog (explicit midpoint) method for first-order dynamics Y' = f(Y, θ(t)).

    Y_{l+1} = Y_{l−1} + 2h f(Y_l, θ(t_l)),   Y_1 = Y_0 + h f(Y_0, θ(0))   (an Euler start)

Second order, two function evaluations fewer than Heun per step, and exactly reversible:
Y_{l−1} = Y_{l+1} − 2h f(Y_l). The carry is (Y_{l−1}, Y_l); the Euler start is written as the
virtual Y_{−1} = Y_0 − h f(Y_0, θ(0)), so that step 0 is the general step.

On y' = λy the roots of ξ² − 2zξ − 1 = 0 (z = hλ) have product −1, so both lie on the unit
circle exactly when z is on the open imaginary segment |z| < 1; for real negative λ one root
is −z − √(z² + 1) < −1 and the method is unstable at every h.

The jump Y_{l−1} → Y_{l+1} stands for ∫ f over [t_{l−1}, t_{l+1}]: where piecewise-constant
weights jump inside that span, f(Y_l, ·) is averaged over the weight sets by their share of
it (a :class:`~resode.integrators.base.Blend`), which keeps order 2 (one weight set would
be wrong on O(h) of the span, an O(h²) local and O(h) global error per jump).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .base import (
    Carry,
    ReversibleIntegrator,
    at_stage_time,
    imaginary_segment_step,
    largest_root_modulus,
    stage_rate,
)


class TwoStepLeapfrog(ReversibleIntegrator):
    name = "leapfrog"
    order = 2
    stage_offsets = (0.0,)
    stage_spans = ((-1.0, 1.0),)
    no_stability_function = (
        "a two-step method maps (Y_{l−1}, Y_l); its amplification is the larger root modulus "
        "of ξ² − 2zξ − 1"
    )
    stability_radius = 1.0
    """Stable for hλ on the imaginary segment |z| < 1."""

    def initial(self, field, y0: torch.Tensor, h: float, parameters: Sequence[Any]) -> Carry:
        return (torch.add(y0, field(y0, at_stage_time(parameters[0])), alpha=-h), y0)

    def advance(self, field, carry: Carry, h: float, parameters: Sequence[Any]) -> Carry:
        previous, y = carry
        return (y, torch.add(previous, stage_rate(field, y, parameters[0]), alpha=2 * h))

    def reverse(self, field, carry: Carry, h: float, parameters: Sequence[Any]) -> Carry:
        y, following = carry
        return (torch.add(following, stage_rate(field, y, parameters[0]), alpha=-2 * h), y)

    def reverse_and_redo(
        self, field, carry: Carry, h: float, parameters: Sequence[Any]
    ) -> tuple[Carry, Carry]:
        """Both directions need only f(Y_l): one evaluation, with a graph, serves both."""
        y, following = carry
        y = y.detach().requires_grad_()
        slope = stage_rate(field, y, parameters[0])
        previous = torch.add(following, slope.detach(), alpha=-2 * h).requires_grad_()
        return (previous, y), (y, torch.add(previous, slope, alpha=2 * h))

    def undo_initial(self, field, carry: Carry, h: float, parameters: Sequence[Any]):
        return carry[1]

    def amplification(self, z):
        """Larger root modulus of ξ² − 2zξ − 1 = 0."""
        z = np.asarray(z, dtype=np.complex128)
        return largest_root_modulus([np.ones_like(z), -2 * z, -np.ones_like(z)])

    def max_stable_step(self, eigenvalues: np.ndarray, tol: float = 1e-9) -> float:
        """1/max|λ| when every λ is imaginary, else 0."""
        return imaginary_segment_step(eigenvalues, self.stability_radius, tol)
