"""Time integrators: explicit Runge–Kutta tableaus, the two-step leapfrog, Störmer–Verlet, IMEX.

All share the carry interface and the one step loop of
:class:`~resode.integrators.base.Integrator`; ``integrate`` applies them to any f(t, y). The
stage plan (:mod:`~resode.integrators.stages`) says where their stages sample weights stored
on a time grid.
"""

from __future__ import annotations

from .base import ImplicitField, Integrator, ReversibleIntegrator, SplitField
from .explicit import ExplicitRungeKutta
from .imex import ImexEuler
from .leapfrog import TwoStepLeapfrog
from .plain import LayerMap
from .registry import INTEGRATORS, get_integrator, ode_integrators_for
from .stages import StagePlan, stage_plan
from .tableau import EULER, HEUN, RK3, RK4, ButcherTableau
from .vector_field import integrate
from .verlet import StormerVerlet

__all__ = [
    "EULER",
    "HEUN",
    "INTEGRATORS",
    "RK3",
    "RK4",
    "ButcherTableau",
    "ExplicitRungeKutta",
    "ImexEuler",
    "ImplicitField",
    "Integrator",
    "LayerMap",
    "ReversibleIntegrator",
    "SplitField",
    "StagePlan",
    "StormerVerlet",
    "TwoStepLeapfrog",
    "get_integrator",
    "integrate",
    "ode_integrators_for",
    "stage_plan",
]
