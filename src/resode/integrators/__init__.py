"""Time integrators: one explicit Runge–Kutta engine plus its named tableaus."""

from __future__ import annotations

from ..errors import check_choice
from .explicit import ExplicitRungeKutta
from .tableau import EULER, HEUN, RK3, RK4, ButcherTableau

INTEGRATORS: dict[str, ExplicitRungeKutta] = {
    tableau.name: ExplicitRungeKutta(tableau) for tableau in (EULER, HEUN, RK3, RK4)
}


def get_integrator(name: str) -> ExplicitRungeKutta:
    """Look up an integrator by name: euler, heun, rk3, rk4."""
    return INTEGRATORS[check_choice("integrator", name, INTEGRATORS)]


__all__ = [
    "EULER",
    "HEUN",
    "INTEGRATORS",
    "RK3",
    "RK4",
    "ButcherTableau",
    "ExplicitRungeKutta",
    "get_integrator",
]
