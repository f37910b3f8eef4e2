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
Stages that stand for a time average over a span (Verlet's kick and drift, the leapfrog's
jump: the integrator's ``stage_spans``) are blended over the weight sets the span crosses
when N > M, so the methods keep order 2 as N grows at a fixed weight grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from ..errors import check_choice, check_int, check_positive, tracing
from ..integrators.base import Blend

INTERPOLATIONS = ("constant", "linear")
_SNAP = 1e-9


@dataclass(frozen=True)
class StagePlan:
    """Where each (step, stage) samples the grid.

    ``stage_source[l][i]`` indexes the list returned by :meth:`StagePlan.sample`: first the
    grid entries themselves, then the interpolated points ``lower + fraction`` (linear only),
    then the blends (constant only): ``blends[j] = (at, ((source, share), …))``, a stage whose
    span crosses weight jumps (:class:`~resode.integrators.base.Blend`).
    """

    stage_source: tuple[tuple[int, ...], ...]
    grid_size: int
    lower: tuple[int, ...]
    fraction: tuple[float, ...]
    blends: tuple[tuple[int, tuple[tuple[int, float], ...]], ...] = ()
    intervals: int = 1
    interp: str = "constant"

    def at_offsets(self, offsets: tuple[float, ...]) -> StagePlan:
        """The plan of the same steps and grid for other stage offsets (e.g. 1 − c_i for a
        step taken backward from t_{l+1}), without blended spans."""
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

    def stage_parameters(self, grids) -> list[list]:
        """For grids (K, b, …): per step and stage the tuple of sampled tensors (or a Blend)."""
        columns = [self.sample(grid) for grid in grids]
        return [
            [self.parameters_of(s, lambda i: tuple(col[i] for col in columns)) for s in row]
            for row in self.stage_source
        ]

    def parameters_of(self, source: int, pick):
        """``pick(i)`` for a sampled source i, or the :class:`Blend` of sources ``source`` is."""
        j = source - self.grid_size - len(self.lower)
        if j < 0:
            return pick(source)
        at, parts = self.blends[j]
        return Blend(tuple((share, pick(i)) for i, share in parts), pick(at))

    def rows_of(self, source: int) -> tuple[int, ...]:
        """The grid rows that sample ``source`` is made of."""
        if source < self.grid_size:
            return (source,)
        j = source - self.grid_size
        if j >= len(self.lower):
            at, parts = self.blends[j - len(self.lower)]
            return tuple(sorted({at, *(i for i, _ in parts)}))
        return (self.lower[j], self.lower[j] + 1)

    def sample_one(self, row, source: int) -> torch.Tensor:
        """Sample ``source`` (not a blend) alone, from ``row(k)`` = grid row k."""
        if source < self.grid_size:
            return row(source)
        j = source - self.grid_size
        return torch.lerp(row(self.lower[j]), row(self.lower[j] + 1), self.fraction[j])


def span_shares(start: float, end: float, intervals: int) -> dict[int, float]:
    """Share of [start, end] (grid units) in each interval k; parts outside [0, M] count for
    the first or last interval. Shares below the snapping tolerance are dropped."""
    shares: dict[int, float] = {}
    k = math.floor(start + _SNAP)
    while k < end - _SNAP:
        share = (min(end, k + 1) - max(start, k)) / (end - start)
        if share > _SNAP:
            key = min(max(k, 0), intervals - 1)
            shares[key] = shares.get(key, 0.0) + share
        k += 1
    return shares


def _interval_of(position: float, step_midpoint: float, intervals: int) -> int:
    """The constant-weight interval a stage at ``position`` (grid units) samples: a grid node
    belongs to the interval on the side of the stage's step."""
    nearest = round(position)
    if abs(position - nearest) < _SNAP:
        k = nearest if nearest < step_midpoint else nearest - 1
    else:
        k = math.floor(position)
    return min(max(k, 0), intervals - 1)


@lru_cache(maxsize=256)
def stage_plan(
    steps: int,
    offsets: tuple[float, ...],
    intervals: int,
    interp: str,
    spans: tuple[tuple[float, float], ...] | None = None,
) -> StagePlan:
    """Plan the lookup of θ(t_l + c_i h) for l < steps on a grid of ``intervals`` intervals.

    With ``spans``, constant weights and more steps than intervals (N > M), a stage whose
    span [t_l + a h, t_l + b h] crosses grid nodes becomes a blend of the weight sets by their
    share of the span; with N ≤ M every step keeps its own weights (the classic networks).
    """
    if steps <= intervals:
        spans = None
    ratio = intervals / steps
    lower: list[int] = []
    fraction: list[float] = []
    fractional_index: dict[float, int] = {}
    blends: list = []
    grid_size = intervals if interp == "constant" else intervals + 1
    sources = []
    for l in range(steps):
        step_midpoint = (l + 0.5) * ratio
        row = []
        for i, c in enumerate(offsets):
            position = (l + c) * ratio  # in grid units
            nearest = round(position)
            on_node = abs(position - nearest) < _SNAP
            if interp == "constant":
                row.append(_interval_of(position, step_midpoint, intervals))
                if spans is not None:
                    a, b = spans[i]
                    shares = span_shares((l + a) * ratio, (l + b) * ratio, intervals)
                    if len(shares) > 1:
                        blends.append((row[-1], tuple(sorted(shares.items()))))
                        row[-1] = -len(blends)  # numbered once the interpolations are known
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
        sources.append(row)
    first_blend = grid_size + len(lower)
    sources = [tuple(s if s >= 0 else first_blend - s - 1 for s in row) for row in sources]
    return StagePlan(
        tuple(sources),
        grid_size,
        tuple(lower),
        tuple(fraction),
        tuple(blends),
        intervals=intervals,
        interp=interp,
    )


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

    def plan(self, steps: int, offsets: tuple[float, ...], spans: tuple | None = None) -> StagePlan:
        """The cached :func:`stage_plan`; while tracing, the plan is made afresh (a compiled
        graph holds its result as constants, and the cache wrapper cannot be traced)."""
        plan = stage_plan.__wrapped__ if tracing() else stage_plan
        return plan(steps, tuple(offsets), self.intervals, self.interp, spans)

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
