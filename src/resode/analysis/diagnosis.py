"""Instability diagnosis: find the unit and step where forward propagation blows up.

``diagnose(model, x)`` propagates a batch step by step. At the first step whose state is
non-finite or exceeds ``bound`` in absolute value it raises :class:`StabilityError` with the
unit and step, h·|λ|max of the Jacobian at the last finite state against the integrator's
largest stable step for that spectrum, and concrete advice.
"""

from __future__ import annotations

import copy
import math

import torch

from ..errors import TrainingDivergedError, check_positive
from ..model.convnet import ConvResNet
from .regions import advice_for
from .spectra import TrajectorySpectra, jacobian


class StabilityError(TrainingDivergedError):
    """Forward propagation produced non-finite values or grew beyond the bound."""

    def __init__(self, message: str, unit: int, step: int, details: dict) -> None:
        super().__init__(message)
        self.unit = unit
        self.step = step
        self.details = details

    def in_epoch(self, epoch: int) -> StabilityError:
        """The same error, its message prefixed with the training epoch."""
        return StabilityError(f"in epoch {epoch}: {self}", self.unit, self.step, self.details)


def units(model) -> list:
    """The ODE blocks of a network, in the order the data passes them."""
    return list(model.units) if isinstance(model, ConvResNet) else [model.block]


@torch.no_grad()
def diagnose(model, x: torch.Tensor, bound: float = 1e6) -> None:
    """Raise :class:`StabilityError` if propagating ``x`` through ``model`` blows up."""
    check_positive("state bound", bound)
    y = model.open(x)
    for unit_index, block in enumerate(units(model)):
        if not _healthy(y, bound):
            raise StabilityError(
                f"the input of unit {unit_index} is already non-finite or beyond {bound:g}",
                unit_index,
                0,
                {},
            )
        state = block.initial_state(y)
        for step, following in enumerate(block.states_from(state)):
            if not _healthy(following, bound):
                raise _explain(block, unit_index, step, state, following, bound)
            state = following
        y = block.dynamics.project(state)
        if isinstance(model, ConvResNet) and unit_index < len(model.connectors):
            y = model.connectors[unit_index](y)


def _healthy(y: torch.Tensor, bound: float) -> bool:
    """Finite and within the bound, in one reduction (nan compares false)."""
    return bool((y.abs() <= bound).all())


def _explain(block, unit: int, step: int, y, following, bound: float) -> StabilityError:
    """Build the error for a blow-up in step ``step`` (from Y_step = y to Y_{step+1})."""
    largest = float(following.abs().nan_to_num(nan=math.inf).max())
    what = "non-finite values" if not math.isfinite(largest) else f"|Y| = {largest:.3g} > {bound:g}"
    if not block.integrator.discretizes_ode:
        message = (
            f"forward propagation blew up in unit {unit}, layer {step + 1} of {block.steps} "
            f"({what}): a plain network has no step size to reduce; a residual network with "
            "stable dynamics (antisymmetric or parabolic) avoids growth by construction"
        )
        return StabilityError(message, unit, step + 1, {"integrator": block.integrator.name})
    dynamics = copy.deepcopy(block.dynamics).double().eval()
    size = tuple(y.shape[2:])
    parameters = dynamics.stage_parameters(block.steps, block.stage_offsets, None, size)[step][0]
    eigenvalues = torch.linalg.eigvals(jacobian(dynamics, y.double(), parameters))
    finite = eigenvalues[torch.isfinite(eigenvalues)]
    spectra = TrajectorySpectra(finite.reshape(1, 1, -1).cpu(), block.h, block.T)
    verdict, advice = advice_for(spectra, block.integrator.name, dynamics)
    radius = float(finite.abs().max()) if finite.numel() else math.inf
    safe = advice["max_stable_step"][block.integrator.name]
    details = {
        "h": block.h,
        "h_lambda_max": block.h * radius,
        "max_real": float(finite.real.max()) if finite.numel() else math.nan,
        "max_stable_step": safe,
        "integrator": block.integrator.name,
        "advice": verdict,
        "steps_needed": advice["steps_needed"],
    }
    message = (
        f"forward propagation blew up in unit {unit}, step {step + 1} of {block.steps} ({what}): "
        f"h·|λ|max = {block.h * radius:.3g} with h = {block.h:.3g}, while the largest stable step "
        f"of {block.integrator.name} for this spectrum is {safe:.3g}; {verdict}"
    )
    if "antisymmetric or parabolic" not in message:
        message += "; a stable dynamics (antisymmetric or parabolic) avoids growth by construction"
    return StabilityError(message, unit, step + 1, details)
