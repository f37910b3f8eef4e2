"""``integrate``: fixed-step integration of any vector field f(t, y) with a named method."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import ResodeError, check_int, check_positive
from . import get_integrator


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
    if not isinstance(y0, torch.Tensor):
        raise ResodeError(f"y0 must be a torch.Tensor, got {type(y0).__name__}")
    if not (y0.is_floating_point() or y0.is_complex()):
        raise ResodeError(f"y0 must be a floating-point or complex tensor, got {y0.dtype}")
    if not bool(torch.isfinite(y0).all()):
        raise ResodeError("y0 contains non-finite values (nan or inf)")
    T = check_positive("T", T)
    steps = check_int("steps", steps)
    integrator = get_integrator(method)
    if integrator.requires is not None:
        raise ResodeError(
            f"method {method!r} needs {integrator.requires} dynamics and works inside an "
            "ODEBlock; integrate takes first-order methods (euler, heun, rk3, rk4, leapfrog)"
        )
    h = T / steps
    offsets = integrator.stage_offsets

    def field(y: torch.Tensor, t: float) -> torch.Tensor:
        return f(t, y)

    def times(l: int) -> list[float]:
        return [t0 + (l + c) * h for c in offsets]

    carry = integrator.initial(field, y0, h, times(0))
    states = [y0]
    for l in range(steps):
        carry = integrator.advance(field, carry, h, times(l))
        if return_trajectory:
            states.append(integrator.current(carry))
    return torch.stack(states) if return_trajectory else integrator.current(carry)
