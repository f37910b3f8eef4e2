"""Weights on a time grid, independent of the number of integration steps.

A :class:`TimeParameter` stores θ on M intervals of [0, T] as one tensor whose dim 0 is
time, so smoothness is a difference along dim 0 and refinement is interpolation:

- ``interp="constant"``: M values, θ(t) = θ_k on [t_k, t_{k+1}), t_k = kT/M.
- ``interp="linear"``:   M + 1 node values, θ(t) linear between the nodes.

An integrator with N steps and stage offsets c_i needs θ(t_l + c_i h), h = T/N: where those
stages fall on the grid is planned once (:func:`~resode.integrators.stages.stage_plan`,
cached, next to the integrators and memory modes that consume the plan) and every forward
pass samples all stages in one batched op.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import check_choice, check_int, check_positive, tracing
from ..integrators.stages import INTERPOLATIONS, StagePlan, stage_plan

__all__ = ["INTERPOLATIONS", "TimeParameter", "refined_grid"]


class TimeParameter(nn.Module):
    """A parameter θ(t) of shape ``shape`` on ``intervals`` intervals of [0, T]."""

    def __init__(
        self,
        shape: tuple[int, ...],
        intervals: int,
        T: float,
        interp: str = "constant",
    ) -> None:
        super().__init__()
        self.intervals = check_int("grid (number of weight intervals)", intervals)
        self.T = check_positive("T", T)
        self.interp = check_choice("interpolation", interp, INTERPOLATIONS)
        size = self.intervals if interp == "constant" else self.intervals + 1
        self.values = nn.Parameter(torch.zeros(size, *shape))

    @property
    def spacing(self) -> float:
        """Grid spacing T / M."""
        return self.T / self.intervals

    def plan(
        self,
        steps: int,
        offsets: tuple[float, ...],
        spans: tuple | None = None,
        node_grids: int = 0,
    ) -> StagePlan:
        """The cached :func:`stage_plan`; while tracing, the plan is made afresh (a compiled
        graph holds its result as constants, and the cache wrapper cannot be traced)."""
        plan = stage_plan.__wrapped__ if tracing() else stage_plan
        return plan(steps, tuple(offsets), self.intervals, self.interp, spans, node_grids)

    def at(self, t: float) -> torch.Tensor:
        """θ(t) for one time t ∈ [0, T] (for analysis; the step loop uses :meth:`plan`)."""
        position = min(max(t / self.spacing, 0.0), float(self.intervals))
        if self.interp == "constant":
            return self.values[min(math.floor(position), self.intervals - 1)]
        k = min(math.floor(position), self.intervals - 1)
        return torch.lerp(self.values[k], self.values[k + 1], position - k)

    def smoothness(self) -> torch.Tensor:
        """Σ_k (T/M) ‖(θ_{k+1} − θ_k) / (T/M)‖²: a quadrature of ∫‖θ'(t)‖² dt."""
        if self.values.shape[0] < 2:
            return self.values.sum() * 0
        return self.values.diff(dim=0).square().sum() / self.spacing

    def squared_norm(self) -> torch.Tensor:
        """∫₀ᵀ ‖θ(t)‖² dt exactly, so the same θ(t) has the same penalty on any grid.

        Constant: (T/M) Σ_k ‖θ_k‖². Linear: (T/M)/3 · Σ_k (‖θ_k‖² + ⟨θ_k, θ_{k+1}⟩ + ‖θ_{k+1}‖²),
        the integral of the square of each linear piece.
        """
        if self.interp == "constant":
            return self.values.square().sum() * self.spacing
        left, right = self.values[:-1], self.values[1:]
        pieces = left.square() + left * right + right.square()
        return pieces.sum() * (self.spacing / 3)

    @torch.no_grad()
    def refine(self, factor: int = 2) -> None:
        """Subdivide every interval into ``factor``; θ(t) is unchanged (exactly)."""
        self.values = nn.Parameter(refined_grid(self.values, self.intervals, self.interp, factor))
        self.intervals *= factor

    def extra_repr(self) -> str:
        shape = tuple(self.values.shape[1:])
        return f"shape={shape}, intervals={self.intervals}, T={self.T:g}, interp={self.interp}"


@torch.no_grad()
def refined_grid(values: torch.Tensor, intervals: int, interp: str, factor: int) -> torch.Tensor:
    """The grid ``values`` (dim 0 is time, on ``intervals`` intervals) on ``factor`` times as
    many intervals, the function of time unchanged: constant values repeated, linear ones
    interpolated at the new nodes."""
    check_int("refinement factor", factor)
    if interp == "constant":
        return values.repeat_interleave(factor, dim=0).contiguous()
    positions = torch.arange(intervals * factor + 1, dtype=torch.float64) / factor
    k = positions.floor().long().clamp(max=intervals - 1)
    w = (positions - k).to(values.device, values.dtype)
    w = w.view(-1, *([1] * (values.dim() - 1)))
    k = k.to(values.device)
    return torch.lerp(values[k], values[k + 1], w).contiguous()
