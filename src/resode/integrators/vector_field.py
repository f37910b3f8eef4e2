"""``integrate``: fixed-step integration of any vector field f(t, y) with a named method."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import ResodeError, check_int, check_positive, check_tensor
from .registry import get_integrator


def integrate(
    f: Callable[[float, torch.Tensor], torch.Tensor],
    y0: torch.Tensor,
    T: float,
    steps: int,
    method: str = "rk4",
    t0: float = 0.0,
    return_trajectory: bool = False,
) -> torch.Tensor:
    """Integrate y' = f(t, y), y(t0) = y0 over [t0, t0 + T] with ``steps`` steps of h = T/steps.

    Returns y(t0 + T) with the shape of ``y0``, or with ``return_trajectory=True`` the
    states at all steps stacked along a new dim 0: shape (steps + 1, *y0.shape).
    Differentiable in ``y0`` and in anything ``f`` closes over.
    """
    if not callable(f):
        raise ResodeError(f"f must be a callable f(t, y), got {type(f).__name__}")
    check_tensor(y0, "y0", complex_ok=True)
    T = check_positive("T", T)
    steps = check_int("steps", steps)
    integrator = get_integrator(method)
    if integrator.needs is not None or not integrator.discretizes_ode:
        why = (
            f"needs {integrator.needs.description} dynamics and works inside an ODEBlock"
            if integrator.needs is not None
            else "is the layer map of a plain network, not a time integrator"
        )
        raise ResodeError(
            f"method {method!r} {why}; integrate takes first-order methods "
            "(euler, heun, rk3, rk4, leapfrog)"
        )
    h = T / steps

    def field(y: torch.Tensor, t: float) -> torch.Tensor:
        return f(t, y)

    times = [[t0 + (l + c) * h for c in integrator.stage_offsets] for l in range(steps)]
    if not return_trajectory:
        return integrator.solve(field, y0, h, times)
    carry = integrator.initial(field, y0, h, times[0])
    states = [integrator.current(c) for c in integrator.iterate(field, carry, h, times)]
    return torch.stack([y0, *states])
