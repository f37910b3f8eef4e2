"""Weights on a time grid, independent of the number of integration steps.

A :class:`TimeParameter` stores θ on M intervals of [0, T] as one tensor whose dim 0 is
time, so smoothness is a difference along dim 0 and refinement is interpolation:

- ``interp="constant"``: M values, θ(t) = θ_k on [t_k, t_{k+1}), t_k = kT/M.
- ``interp="linear"``:   M + 1 node values, θ(t) linear between the nodes.

An integrator with N steps and stage offsets c_i needs θ(t_l + c_i h), h = T/N. Where those
stages fall on the grid depends only on (N, c, M, interp), so the lookup is planned once
(:func:`stage_plan`, cached) and every forward pass samples all stages in one batched op.
For constant weights a stage on a grid node takes the interval of the step it belongs to,
so a step never mixes two weight sets and the integrator keeps its order when M divides N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from ..errors import check_choice, check_int, check_positive

INTERPOLATIONS = ("constant", "linear")
_SNAP = 1e-9


@dataclass(frozen=True)
class StagePlan:
    """Where each (step, stage) samples the grid.

    ``stage_source[l][i]`` indexes the list returned by :meth:`StagePlan.sample`: first the
    grid entries themselves, then the interpolated points ``lower + fraction`` (linear only).
    """

    stage_source: tuple[tuple[int, ...], ...]
    grid_size: int
    lower: tuple[int, ...]
    fraction: tuple[float, ...]
    intervals: int = 1
    interp: str = "constant"

    def at_offsets(self, offsets: tuple[float, ...]) -> StagePlan:
        """The plan of the same steps and grid for other stage offsets (e.g. 1 − c_i for a
        step taken backward from t_{l+1})."""
        return stage_plan(len(self.stage_source), tuple(offsets), self.intervals, self.interp)

    def sample(self, values: torch.Tensor) -> list[torch.Tensor]:
        """Grid entries followed by the interpolated points, each of shape values.shape[1:]."""
        parts = list(values.unbind(0))
        if self.lower:
            index = torch.tensor(self.lower, device=values.device)
            weight = torch.tensor(self.fraction, dtype=values.dtype, device=values.device)
            weight = weight.view(-1, *([1] * (values.dim() - 1)))
            below = values.index_select(0, index)
            above = values.index_select(0, index + 1)
            parts.extend(torch.lerp(below, above, weight).unbind(0))
        return parts

    def stage_parameters(self, grids) -> list[list[tuple[torch.Tensor, ...]]]:
        """For grids (K, b, …): per step and stage the tuple of sampled tensors."""
        columns = [self.sample(grid) for grid in grids]
        return [[tuple(col[s] for col in columns) for s in row] for row in self.stage_source]

    def rows_of(self, source: int) -> tuple[int, ...]:
        """The grid rows that sample ``source`` is made of."""
        if source < self.grid_size:
            return (source,)
        lower = self.lower[source - self.grid_size]
        return (lower, lower + 1)

    def sample_one(self, row, source: int) -> torch.Tensor:
        """Sample ``source`` alone, from ``row(k)`` = grid row k (for one-step recomputation)."""
        if source < self.grid_size:
            return row(source)
        j = source - self.grid_size
        return torch.lerp(row(self.lower[j]), row(self.lower[j] + 1), self.fraction[j])


@lru_cache(maxsize=256)
def stage_plan(steps: int, offsets: tuple[float, ...], intervals: int, interp: str) -> StagePlan:
    """Plan the lookup of θ(t_l + c_i h) for l < steps on a grid of ``intervals`` intervals."""
    ratio = intervals / steps
    lower: list[int] = []
    fraction: list[float] = []
    fractional_index: dict[float, int] = {}
    grid_size = intervals if interp == "constant" else intervals + 1
    sources = []
    for l in range(steps):
        step_midpoint = (l + 0.5) * ratio
        row = []
        for c in offsets:
            position = (l + c) * ratio  # in grid units
            nearest = round(position)
            on_node = abs(position - nearest) < _SNAP
            if interp == "constant":
                if on_node:  # a node belongs to the interval on the side of this step
                    k = nearest if nearest < step_midpoint else nearest - 1
                else:
                    k = math.floor(position)
                row.append(min(max(k, 0), intervals - 1))
            elif on_node:
                row.append(nearest)
            else:
                key = round(position, 9)
                if key not in fractional_index:
                    fractional_index[key] = len(lower)
                    k = math.floor(position)
                    lower.append(k)
                    fraction.append(position - k)
                row.append(grid_size + fractional_index[key])
        sources.append(tuple(row))
    return StagePlan(tuple(sources), grid_size, tuple(lower), tuple(fraction), intervals, interp)


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

    def plan(self, steps: int, offsets: tuple[float, ...]) -> StagePlan:
        return stage_plan(steps, tuple(offsets), self.intervals, self.interp)

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
        """(T/M) Σ_k ‖θ_k‖²: a quadrature of ∫‖θ(t)‖² dt, independent of the grid size."""
        return self.values.square().sum() * self.spacing

    @torch.no_grad()
    def refine(self, factor: int = 2) -> None:
        """Subdivide every interval into ``factor``; θ(t) is unchanged (exactly)."""
        check_int("refinement factor", factor)
        if self.interp == "constant":
            new = self.values.repeat_interleave(factor, dim=0)
        else:
            positions = torch.arange(self.intervals * factor + 1, dtype=torch.float64) / factor
            k = positions.floor().long().clamp(max=self.intervals - 1)
            w = (positions - k).to(self.values.device, self.values.dtype)
            w = w.view(-1, *([1] * (self.values.dim() - 1)))
            k = k.to(self.values.device)
            new = torch.lerp(self.values[k], self.values[k + 1], w)
        self.values = nn.Parameter(new.contiguous())
        self.intervals *= factor

    def extra_repr(self) -> str:
        shape = tuple(self.values.shape[1:])
        return f"shape={shape}, intervals={self.intervals}, T={self.T:g}, interp={self.interp}"
