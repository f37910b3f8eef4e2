"""Regularizers: time smoothness of the weights and weight decay.

Both are quadratures over time scaled by the grid spacing, so they mean the same at any
depth or grid refinement:

- ``time_smoothness``: Σ_k Δt ‖(θ_{k+1} − θ_k)/Δt‖² ≈ ∫₀ᵀ ‖θ'(t)‖² dt  ("slowly varying J").
- ``weight_decay``:    Σ over time weights of Δt Σ_k ‖θ_k‖², plus ‖θ‖² for the others.
"""

from __future__ import annotations

import torch
from torch import nn

from ..model.timegrid import TimeParameter


def time_parameters(module: nn.Module) -> list[TimeParameter]:
    return [m for m in module.modules() if isinstance(m, TimeParameter)]


def time_smoothness(module: nn.Module) -> torch.Tensor:
    """Sum of the smoothness penalties of every :class:`TimeParameter` in ``module``."""
    terms = [p.smoothness() for p in time_parameters(module)]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def weight_decay(module: nn.Module) -> torch.Tensor:
    """Squared norm of all parameters, time weights integrated over [0, T]."""
    timed = time_parameters(module)
    timed_ids = {id(p.values) for p in timed}
    terms = [p.squared_norm() for p in timed]
    terms += [p.square().sum() for p in module.parameters() if id(p) not in timed_ids]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def regularization(module: nn.Module, smoothness: float, decay: float) -> torch.Tensor | None:
    """smoothness · time_smoothness + decay · weight_decay, or None when both weights are 0."""
    total = None
    if smoothness:
        total = smoothness * time_smoothness(module)
    if decay:
        term = decay * weight_decay(module)
        total = term if total is None else total + term
    return total
