"""Multilevel training: train a shallow network, prolongate it to a deeper one, go on.

Prolongation by a factor r turns every ODE unit with N steps (h = T/N) into one with rN
steps (h/r). With ``grid=True`` the weight grid of M intervals is refined to rM intervals by
:meth:`~resode.model.timegrid.TimeParameter.refine` (batch normalization's running statistics
likewise), which leaves θ(t) unchanged exactly:

- ``interp="linear"``: the new nodes are θ(kT/(rM)) of the piecewise-linear θ (linear
  interpolation of the grid); the smoothness penalty Σ Δt ‖Δθ/Δt‖² = ∫‖θ'‖² dt is unchanged.
- ``interp="constant"``: each weight set is repeated r times (the same step function); here
  the penalty grows by r, since a jump Δθ costs ‖Δθ‖²/Δt (θ has no derivative at a jump).

With ``grid=False`` (an explicit ``--grid M``) only the steps change. Either way the deeper
network integrates the same ODE dY/dt = f(Y, θ(t)) with a smaller step, so its output differs
from the coarse one by the integration error only: O(h^p) for an integrator of order p.
The parameter tensors change shape, so an optimizer (and its schedule) must be built anew.
"""

from __future__ import annotations

from torch import nn

from ..errors import ResodeError, check_int
from ..model.block import ODEBlock
from ..model.normalization import TimeStatistics
from .regularizers import time_parameters


def ode_units(model: nn.Module) -> list[ODEBlock]:
    """Every :class:`ODEBlock` of ``model`` (itself if it is one), in module order."""
    return [m for m in model.modules() if isinstance(m, ODEBlock)]


def prolongate(model: nn.Module, factor: int = 2, grid: bool = True) -> nn.Module:
    """Multiply the steps of every ODE unit by ``factor``; with ``grid`` refine its weights.

    Works in place and returns ``model``. θ(t) is preserved exactly (see the module
    docstring); parameters are replaced, so rebuild any optimizer holding the old ones.
    """
    check_int("prolongation factor", factor)
    units = ode_units(model)
    if not units:
        raise ResodeError(f"{type(model).__name__} has no ODE units to prolongate")
    for unit in units:
        unit.steps = unit.steps * factor
        if grid:
            for parameter in time_parameters(unit):
                parameter.refine(factor)
            for statistics in unit.modules():
                if isinstance(statistics, TimeStatistics):
                    statistics.refine(factor)
    return model


def level_factors(levels: list[int]) -> list[int]:
    """Refinement factor N_{k+1} / N_k between consecutive levels."""
    return [fine // coarse for coarse, fine in zip(levels, levels[1:])]
