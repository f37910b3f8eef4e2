"""The layer map of a network without skip connections: Y_{l+1} = f(Y_l, θ_l).

With the ``standard`` dynamics f = σ(K Y + b) this is the plain feed-forward network
Y_{l+1} = σ(K_l Y_l + b_l) — the network residual networks are compared with. It is not a
time integrator: there is no step size (h and T play no part), no order, no stability region
and no limit N → ∞, so stability analysis and a change of depth after training are refused.
It runs on the same step loop as the integrators, so everything else (memory modes, states,
the diagnosis, gradients through depth) works unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ResodeError
from .base import Carry, ImplicitField, Integrator, SplitField

NOT_AN_ODE = "the plain network Y_{l+1} = σ(K_l Y_l + b_l) is not the discretization of an ODE"


class LayerMap(Integrator):
    name = "plain"
    order = 0
    stage_offsets = (0.0,)
    discretizes_ode = False
    no_stability_function = NOT_AN_ODE

    def supports(self, field) -> bool:
        """First-order fields only: the layer is f itself."""
        if field is None:
            return True
        cls = field if isinstance(field, type) else type(field)
        return not issubclass(cls, (SplitField, ImplicitField))

    def advance(self, field, carry: Carry, h: float, parameters: Sequence[Any]) -> Carry:
        return (field(carry[0], parameters[0]),)

    def amplification(self, z):
        raise ResodeError(f"{NOT_AN_ODE}: it has no stability region")

    def max_stable_step(self, eigenvalues: np.ndarray, tol: float = 1e-9) -> float:
        raise ResodeError(f"{NOT_AN_ODE}: it has no step size")
