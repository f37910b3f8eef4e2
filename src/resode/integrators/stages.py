"""The stage plan: where the stages of N steps sample parameters stored on a time grid.

An integrator with N steps and stage offsets c_i needs θ(t_l + c_i h), h = T/N, of weights
stored on M intervals of [0, T] (:class:`~resode.model.timegrid.TimeParameter`):

- ``interp="constant"``: M values, θ(t) = θ_k on [t_k, t_{k+1}), t_k = kT/M.
- ``interp="linear"``:   M + 1 node values, θ(t) linear between the nodes.

Where those stages fall on the grid depends only on (N, c, M, interp), so the lookup is
planned once (:func:`stage_plan`, cached) and every forward pass samples all stages in one
batched op. For constant weights a stage on a grid node takes the interval of the step it
belongs to, so with M | N a step never mixes two weight sets and every method keeps its
order p; with N ≤ M every step has its own weights (the classic networks).

Weight jumps inside a step (constant weights, N > M, M ∤ N). Each stage stands for a span of
the step, the integrator's ``stage_spans``: Verlet's kick and drift, the leapfrog's jump, a
Runge–Kutta stage's piece b_i of the step around c_i
(:func:`~resode.integrators.explicit.quadrature_spans`). A stage whose span crosses a jump
takes f averaged over the weight sets by their share of the span (a
:class:`~resode.integrators.base.Blend`), so the step across the jump is exact to first
order: local error O(h²) instead of O(h), and with at most M − 1 such steps the order is
min(p, 2). Measured (float64, M = 4, N = 9 … 65): euler 1.03, heun 1.96, rk3 1.92, rk4 1.99,
leapfrog 1.99, verlet 1.99, imex 0.94 (no spans: order 1 either way); without blending the
Runge–Kutta methods fall to order 1 (1.00–1.02). Linear weights have kinks at the nodes
instead: no blend, and min(p, 2) as well (a kink inside a step costs O(h²) there; measured
1.00, 1.98, 1.98, 1.99, 2.07, 1.98, 0.98). No blend makes a step across a jump O(h³) in
general: for Heun the h² conditions force both stages onto σf_1 + (1 − σ)f_2, which leaves
h²σ(1 − σ)(f_1′f_2 − f_2′f_1)/2; for RK4 they need negative shares near the ends of a step.

Node grids. Quantities that are continuous in time whatever the weights do (batch
normalization's running statistics: the states they describe are continuous) are stored on
L + 1 nodes over [0, T] and read at each stage's own time by linear interpolation
(:meth:`StagePlan.node_sample`). They come last in the grids (``node_grids`` of them), are
sampled per step and stage rather than per weight source, and have no gradient.

The memory modes run the step loop on a plan and map gradients back onto the grid rows
through :meth:`StagePlan.rows_of`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch

from .base import Blend

INTERPOLATIONS = ("constant", "linear")
_SNAP = 1e-9


@dataclass(frozen=True)
class StagePlan:
    """Where each (step, stage) samples the grid.

    ``stage_source[l][i]`` indexes the list returned by :meth:`StagePlan.sample`: first the
    grid entries themselves, then the interpolated points ``lower + fraction`` (linear only),
    then the blends (constant only): ``blends[j] = (at, ((k, share), …))``, a stage whose
    span crosses weight jumps (:class:`~resode.integrators.base.Blend`). Only
    :meth:`rows_of` and :meth:`blend_of` read this numbering; everything else asks them.
    """

    stage_source: tuple[tuple[int, ...], ...]
    grid_size: int
    lower: tuple[int, ...]
    fraction: tuple[float, ...]
    blends: tuple[tuple[int, tuple[tuple[int, float], ...]], ...] = ()
    intervals: int = 1
    interp: str = "constant"
    offsets: tuple[float, ...] = ()
    node_grids: int = 0
    """How many of the grids, the last ones, are node grids (read at the stages' times)."""

    def at_offsets(
        self, offsets: tuple[float, ...], spans: tuple[tuple[float, float], ...] | None = None
    ) -> StagePlan:
        """The plan of the same steps and grid for other stage offsets (e.g. 1 − c_i for a
        step taken backward from t_{l+1}, whose stage spans are then (1 − b_i, 1 − a_i)),
        stages blended over ``spans`` as in :func:`stage_plan` (none without them)."""
        steps = len(self.stage_source)
        return stage_plan(
            steps, tuple(offsets), self.intervals, self.interp, spans, self.node_grids
        )

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
        """For grids (K, b, …): per step and stage the tuple of sampled tensors (or a Blend),
        the node grids' values at the stage's time last."""
        columns = [self.sample(grid) for grid in grids[: len(grids) - self.node_grids]]

        def pick(i: int) -> tuple:
            return tuple(col[i] for col in columns)

        return [
            [
                self.parameters_of(s, pick, nodes)
                for s, nodes in zip(row, self.node_parameters(grids, l))
            ]
            for l, row in enumerate(self.stage_source)
        ]

    def node_sample(self, grid: torch.Tensor, step: int, stage: int) -> torch.Tensor:
        """A node grid (L + 1 rows over [0, T], linear in time) at t_l + c_i h, l = ``step``,
        i = ``stage``: shape grid.shape[1:]."""
        last = grid.shape[0] - 1
        position = (step + self.offsets[stage]) * last / len(self.stage_source)
        k = min(max(math.floor(position + _SNAP), 0), last - 1)
        share = min(max(position - k, 0.0), 1.0)
        if share < _SNAP:
            return grid[k]
        if share > 1 - _SNAP:
            return grid[k + 1]
        return torch.lerp(grid[k], grid[k + 1], share)

    def node_parameters(self, grids, step: int) -> list[tuple]:
        """Per stage of ``step``, the node grids (the last ``node_grids`` of ``grids``) read
        at the stage's time; empty tuples without node grids."""
        nodes = grids[len(grids) - self.node_grids :] if self.node_grids else ()
        return [
            tuple(self.node_sample(grid, step, i) for grid in nodes)
            for i in range(len(self.offsets))
        ]

    def rows_of(self, source: int) -> tuple[tuple[int, float], ...]:
        """The grid rows θ at ``source`` is taken from, with their shares: ((k, 1.0),) for the
        grid entry k, ((k, 1 − f), (k + 1, f)) for θ interpolated at k + f (linear weights);
        for a blend (:meth:`blend_of`) the weight sets its span crosses with their shares of
        it, and the set at the stage's own time with share 0 when it is not among them."""
        blend = self.blend_of(source)
        if blend is not None:
            at, parts = blend
            return parts if any(k == at for k, _ in parts) else (*parts, (at, 0.0))
        if source < self.grid_size:
            return ((source, 1.0),)
        j = source - self.grid_size
        return ((self.lower[j], 1 - self.fraction[j]), (self.lower[j] + 1, self.fraction[j]))

    def blend_of(self, source: int) -> tuple[int, tuple[tuple[int, float], ...]] | None:
        """``(at, ((k, share), …))`` when ``source`` is a blend, else None."""
        j = source - self.grid_size - len(self.lower)
        return self.blends[j] if j >= 0 else None

    def parameters_of(self, source: int, pick, nodes: tuple = ()):
        """``pick(i)`` for a sampled source i, or the :class:`Blend` of sources ``source`` is;
        each followed by the stage's ``nodes`` (:meth:`node_parameters`)."""
        blend = self.blend_of(source)
        if blend is None:
            return pick(source) + nodes
        at, parts = blend
        return Blend(tuple((share, pick(k) + nodes) for k, share in parts), pick(at) + nodes)

    def sample_one(self, row, source: int) -> torch.Tensor:
        """Sample ``source`` (not a blend) alone, from ``row(k)`` = grid row k."""
        rows = self.rows_of(source)
        if len(rows) == 1:
            return row(rows[0][0])
        (below, _), (above, share) = rows
        return torch.lerp(row(below), row(above), share)


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
    node_grids: int = 0,
) -> StagePlan:
    """Plan the lookup of θ(t_l + c_i h) for l < steps on a grid of ``intervals`` intervals;
    the last ``node_grids`` grids are node grids, read at the stages' times.

    With ``spans``, constant weights and more steps than intervals (N > M), a stage whose
    span [t_l + a h, t_l + b h] crosses grid nodes becomes a blend of the weight sets by their
    share of the span (an empty span, a = b, never does); with N ≤ M every step keeps its own
    weights (the classic networks).
    """
    if steps <= intervals:
        spans = None
    grid_size = intervals if interp == "constant" else intervals + 1
    lower: tuple[int, ...] = ()
    fraction: tuple[float, ...] = ()
    blends: tuple = ()
    if interp == "constant":
        sources, blends = _constant_sources(steps, offsets, intervals, spans)
        first_blend = grid_size  # blends are numbered after the grid entries
        sources = [tuple(s if s >= 0 else first_blend - s - 1 for s in row) for row in sources]
    else:
        sources, lower, fraction = _linear_sources(steps, offsets, intervals)
    return StagePlan(
        tuple(tuple(row) for row in sources),
        grid_size,
        lower,
        fraction,
        blends,
        intervals=intervals,
        interp=interp,
        offsets=tuple(offsets),
        node_grids=node_grids,
    )


def _constant_sources(steps: int, offsets, intervals: int, spans) -> tuple[list, tuple]:
    """Per step and stage the interval it samples, or −j for the j-th blend (1-based) where
    its span crosses weight jumps; and the blends ``(at, ((k, share), …))``."""
    ratio = intervals / steps
    blends: list = []
    sources = []
    for l in range(steps):
        row = []
        for i, c in enumerate(offsets):
            row.append(_interval_of((l + c) * ratio, (l + 0.5) * ratio, intervals))
            if spans is not None and spans[i][1] > spans[i][0]:
                a, b = spans[i]
                shares = span_shares((l + a) * ratio, (l + b) * ratio, intervals)
                if len(shares) > 1:
                    blends.append((row[-1], tuple(sorted(shares.items()))))
                    row[-1] = -len(blends)
        sources.append(row)
    return sources, tuple(blends)


def _linear_sources(steps: int, offsets, intervals: int) -> tuple[list, tuple, tuple]:
    """Per step and stage the node it samples, or ``intervals + 1 + j`` for the j-th
    interpolated point ``lower[j] + fraction[j]`` (each distinct time once)."""
    ratio = intervals / steps
    grid_size = intervals + 1
    lower: list[int] = []
    fraction: list[float] = []
    fractional_index: dict[float, int] = {}
    sources = []
    for l in range(steps):
        row = []
        for c in offsets:
            position = (l + c) * ratio  # in grid units
            nearest = round(position)
            if abs(position - nearest) < _SNAP:
                row.append(nearest)
                continue
            key = round(position, 9)
            if key not in fractional_index:
                fractional_index[key] = len(lower)
                k = math.floor(position)
                lower.append(k)
                fraction.append(position - k)
            row.append(grid_size + fractional_index[key])
        sources.append(row)
    return sources, tuple(lower), tuple(fraction)
