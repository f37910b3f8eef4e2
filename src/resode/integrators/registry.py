"""The integrators by name."""

from __future__ import annotations

from ..errors import check_choice
from .base import Integrator
from .explicit import ExplicitRungeKutta
from .imex import ImexEuler
from .leapfrog import TwoStepLeapfrog
from .plain import LayerMap
from .tableau import EULER, HEUN, RK3, RK4
from .verlet import StormerVerlet

INTEGRATORS: dict[str, Integrator] = {
    **{tableau.name: ExplicitRungeKutta(tableau) for tableau in (EULER, HEUN, RK3, RK4)},
    "leapfrog": TwoStepLeapfrog(),
    "verlet": StormerVerlet(),
    "imex": ImexEuler(),
    "plain": LayerMap(),
}


def get_integrator(name: str) -> Integrator:
    """Look up an integrator by name: euler, heun, rk3, rk4, leapfrog, verlet, imex, plain."""
    return INTEGRATORS[check_choice("integrator", name, INTEGRATORS)]


def ode_integrators_for(field) -> list[str]:
    """The names of the time integrators (not the plain layer map) that can step ``field``
    (a dynamics class or instance; None: any first-order field), in registry order."""
    return [
        name
        for name, method in INTEGRATORS.items()
        if method.discretizes_ode and method.supports(field)
    ]
