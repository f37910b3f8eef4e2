"""Normalization N_t inside the vector field, f(t, Y) = σ(N_t(K(t) Y) + b(t)): one class per kind.

Normalization is part of the vector field, so everything it learns or keeps is a function of
time on the block's weight grid, like K(t) and b(t): a scale 1 + a(t) (a
:class:`~resode.model.timegrid.TimeParameter` starting at 0, so weight decay pulls the scale
towards 1) and, for batch normalization, running statistics μ(t), σ²(t). The bias b(t) is the
shift after the normalization, where it is not cancelled. With ẑ the standardized z = K Y,
of shape (batch, channels, …):

=============  =====================================================  ===========
name           ẑ: z standardized …                                    per example
=============  =====================================================  ===========
``none``       not at all; N(z) = z (and f = σ(K Y + b))              yes
``batch``      per channel, over the batch and pixels in training;    in eval
               with the running μ(t), σ²(t) in evaluation mode
``group``      per example over each group of channels (and pixels)   yes
``layer``      per example over all its channels (and pixels)         yes
``instance``   per example and channel over its pixels (images only)  yes
=============  =====================================================  ===========

and N_t(z) = (1 + a(t)) ẑ. Batch normalization's running statistics are continuous in time
(the states they describe are, even where the weights jump): :class:`TimeStatistics` keeps
them on nodes at every end and middle of the M weight intervals, t = kT/(2M), and the stage
plan reads them at each stage's own time by linear interpolation (node grids, see
:mod:`~resode.integrators.stages`). Every training forward pass records the batch's mean and
(unbiased) variance at each stage evaluation, with the weights (1 − f, f) by which that stage
reads its two nodes; each node k that was reached gets its weighted average m̄_k and is updated
once per pass, μ_k ← (1 − r) μ_k + r m̄_k with r = max(ρ, 1/n_k) at its n_k-th pass (ρ =
:data:`MOMENTUM`; likewise σ²_k): the plain average of the first 1/ρ passes, then an
exponential one, so no trace of the initial values is left; nodes no pass has reached are
interpolated between the nearest reached ones. In evaluation mode a stage at
time t reads μ(t), σ²(t), so the network is a per-example map at any depth; multilevel
training refines the nodes with the weights.

Runs saved before normalization had a scale or running statistics (norm ≠ none and no
``norm_scale`` among their weights) keep their old map, N(K Y + b) with the current batch's
statistics: :func:`adopt_stored_normalization` switches a network to it, and a one-line note
says its answers depend on the batch. The analyses that need a per-example map ask
:func:`require_per_example`.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ResodeError, check_choice, check_int
from .timegrid import TimeParameter, refined_grid

if TYPE_CHECKING:
    from .dynamics import Dynamics

EPS = 1e-5
"""ε in ẑ = (z − μ) / √(σ² + ε)."""
MOMENTUM = 0.1
"""ρ, the weight of a training pass's statistics in the running ones."""
DEFAULT_GROUPS = 8
"""Group normalization's default number of groups: the largest divisor of the channels up to
this."""


def _channel_view(values: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Per-channel ``values`` (C,) shaped to broadcast over z (batch, C, …)."""
    return values.view(1, -1, *([1] * (z.dim() - 2)))


@dataclass(frozen=True)
class Normalization(ABC):
    """N_t of the pre-activation z = K Y inside f. Frozen: a kind with options (a number of
    groups) declares them as fields and is compared by them."""

    name: ClassVar[str]
    """The value of ``norm`` that selects this kind."""
    identity: ClassVar[bool] = False
    """N(z) = z: f keeps its fused hot path and its exact Jacobian formulas."""
    per_example: ClassVar[bool] = True
    """N maps each example on its own in evaluation mode, so the network is a per-example map."""
    running: ClassVar[bool] = False
    """Keeps running statistics in time (:class:`TimeStatistics`, the field's ``statistics``)."""
    images_only: ClassVar[bool] = False
    """Needs pixels (a convolutional kernel)."""
    legacy: ClassVar[bool] = False
    """The map of runs saved before the scale and running statistics: N(K Y + b), no scale."""
    grid_count: ClassVar[int] = 1
    """How many per-time grids :meth:`grids` appends to the stage parameters."""
    node_grids: ClassVar[int] = 0
    """How many of them, the last ones, are node grids read at the stage's own time."""

    def attach(self, field: Dynamics) -> None:
        """Give ``field`` what this kind learns or keeps in time: the scale's a(t) as
        ``field.norm_scale`` (and the running statistics as ``field.statistics``)."""
        if not self.identity and not self.legacy:
            weight = field.weight
            field.norm_scale = TimeParameter(
                field.kernel.bias_shape, weight.intervals, weight.T, weight.interp
            )

    def grids(self, field: Dynamics) -> tuple[torch.Tensor, ...]:
        """The per-time grids a stage samples for N, appended to the field's own: (a,) …"""
        if self.identity or self.legacy:
            return ()
        return (field.norm_scale.values,)

    def apply(self, z: torch.Tensor, bias: torch.Tensor, q: tuple, field: Dynamics) -> torch.Tensor:
        """N_t(z) + b for z = K Y of shape (batch, channels, …); ``q``: this stage's samples
        of :meth:`grids`, ``bias`` b at the stage, shape (channels,)."""
        return self.standardize(z, 1 + q[0], bias, q, field)

    def standardize(self, z: torch.Tensor, scale, shift, q: tuple, field: Dynamics) -> torch.Tensor:
        """scale · ẑ + shift, both per channel (None: 1 and 0)."""
        raise NotImplementedError(f"{type(self).__name__} defines apply itself")


class NoNormalization(Normalization):
    """N(z) = z."""

    name = "none"
    identity = True
    grid_count = 0

    def apply(self, z, bias, q, field):
        return z + _channel_view(bias, z)


class BatchNormalization(Normalization):
    """Per channel over the batch (and pixels) in training, with the running μ(t), σ²(t) in
    evaluation mode; each training pass records its statistics in ``field.statistics``."""

    name = "batch"
    per_example = True
    running = True
    grid_count = 4
    node_grids = 3

    def attach(self, field: Dynamics) -> None:
        super().attach(field)
        weight = field.weight
        field.statistics = TimeStatistics(field.kernel.bias_shape[0], weight.intervals)

    def grids(self, field: Dynamics) -> tuple[torch.Tensor, ...]:
        statistics = field.statistics
        return (*super().grids(field), statistics.mean, statistics.var, statistics.rows())

    def standardize(self, z, scale, shift, q, field):
        if field.training:
            field.statistics.record(q[3], z)
            return F.batch_norm(z, None, None, scale, shift, training=True, eps=EPS)
        return F.batch_norm(z, q[1], q[2], scale, shift, training=False, eps=EPS)


@dataclass(frozen=True)
class GroupNormalization(Normalization):
    """Per example over each of ``groups`` groups of channels (and pixels)."""

    groups: int | None = None
    name = "group"

    def count(self, channels: int, pixels: bool) -> int:
        """The number of groups for ``channels`` channels: given, or the largest divisor up to
        :data:`DEFAULT_GROUPS` that leaves two channels per group for vectors (no pixels)."""
        if self.groups is not None:
            return self.groups
        fits = [g for g in range(1, DEFAULT_GROUPS + 1) if channels % g == 0]
        return max(g for g in fits if pixels or channels // g >= 2 or g == 1)

    def standardize(self, z, scale, shift, q, field):
        return F.group_norm(z, self.count(z.shape[1], z.dim() > 2), scale, shift, eps=EPS)


class LayerNormalization(Normalization):
    """Per example over all its channels (and pixels): group normalization with one group."""

    name = "layer"

    def standardize(self, z, scale, shift, q, field):
        return F.group_norm(z, 1, scale, shift, eps=EPS)


class InstanceNormalization(Normalization):
    """Per example and channel over its pixels."""

    name = "instance"
    images_only = True

    def standardize(self, z, scale, shift, q, field):
        return F.instance_norm(z, weight=scale, bias=shift, eps=EPS)


class OlderNormalization(Normalization):
    """The map of runs saved before normalization had a scale: N(K Y + b), nothing in time."""

    legacy = True
    grid_count = 0


class OlderBatchNormalization(OlderNormalization):
    """Over the current batch, in evaluation too (no running statistics)."""

    name = "batch"
    per_example = False

    def apply(self, z, bias, q, field):
        return F.batch_norm(z + _channel_view(bias, z), None, None, training=True, eps=EPS)


class OlderInstanceNormalization(OlderNormalization):
    """Per example and channel over its pixels."""

    name = "instance"
    images_only = True

    def apply(self, z, bias, q, field):
        return F.instance_norm(z + _channel_view(bias, z), eps=EPS)


NORMALIZATIONS: dict[str, type[Normalization]] = {
    kind.name: kind
    for kind in (
        NoNormalization,
        BatchNormalization,
        GroupNormalization,
        LayerNormalization,
        InstanceNormalization,
    )
}
"""The kinds of normalization by name, the values of ``norm``."""
_LEGACY = {"batch": OlderBatchNormalization, "instance": OlderInstanceNormalization}


def make_normalization(name: str, groups: int | None = None) -> Normalization:
    """The normalization called ``name`` (one of :data:`NORMALIZATIONS`); ``groups`` for
    ``group``."""
    kind = NORMALIZATIONS[check_choice("normalization", name, NORMALIZATIONS)]
    return kind(groups) if kind is GroupNormalization else kind()


def check_normalization(
    name: str, groups: int | None, width: int | None = None, pixels: bool = True
) -> None:
    """One line where ``groups`` is given for another kind, does not divide ``width``, or
    leaves one feature per group of a vector (``pixels`` False): nothing to normalize over."""
    if NORMALIZATIONS[name].images_only and not pixels:
        raise ResodeError(
            f"norm {name!r} normalizes over pixels and needs images or signals (a "
            f"convolutional unit); for vectors use norm batch, group or layer"
        )
    if groups is None:
        return
    check_int("groups", groups)
    if name != "group":
        raise ResodeError(f"groups applies to norm 'group' only, not {name!r}")
    if width is None:
        return
    if width % groups or (not pixels and width // groups < 2):
        need = "two features per group of a vector" if not pixels else "a divisor of it"
        raise ResodeError(
            f"groups ({groups}) must divide the number of channels ({width}) and leave "
            f"{need}; leave it out for the largest such divisor up to {DEFAULT_GROUPS}"
        )


class TimeStatistics(nn.Module):
    """Running mean and variance per channel, continuous in time: buffers ``mean`` and ``var``
    of shape (2M + 1, C), nodes at t = kT/(2M) for a weight grid of M intervals (a node at
    each interval's ends and middle), read at a stage's own time by linear interpolation."""

    def __init__(self, channels: int, intervals: int) -> None:
        super().__init__()
        self.intervals = intervals
        size = 2 * intervals + 1
        self.register_buffer("mean", torch.zeros(size, channels))
        self.register_buffer("var", torch.ones(size, channels))
        self.register_buffer("visits", torch.zeros(size))
        self._sums: list[torch.Tensor] | None = None

    def rows(self) -> torch.Tensor:
        """The identity on grid rows: sampled at a stage, the weights it reads each row by."""
        return torch.eye(self.mean.shape[0], dtype=self.mean.dtype, device=self.mean.device)

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Record the statistics of every stage evaluated inside, then update the rows once."""
        grid = self.mean
        self._sums = [grid.new_zeros(grid.shape[0]), torch.zeros_like(grid), torch.zeros_like(grid)]
        try:
            yield
            self._update(*self._sums)
        finally:
            self._sums = None

    @torch.no_grad()
    def record(self, rows: torch.Tensor, z: torch.Tensor) -> None:
        """Add the batch mean and unbiased variance of z (batch, C, …) per channel, weighted
        by ``rows`` (G,): a no-op outside :meth:`collecting` (a recomputation, an analysis)."""
        if self._sums is None:
            return
        dims = [0, *range(2, z.dim())]
        var, mean = torch.var_mean(z.detach(), dim=dims, correction=1)
        weights, means, variances = self._sums
        weights.add_(rows)
        means.addr_(rows, mean.to(means.dtype))
        variances.addr_(rows, var.to(variances.dtype))

    @torch.no_grad()
    def _update(self, weights: torch.Tensor, means: torch.Tensor, variances: torch.Tensor):
        """Blend this pass's averages into the nodes it reached; nodes no pass has reached yet
        are interpolated between the nearest reached ones (constant beyond the ends). New
        tensors, not in place: a backward pass may still hold the grids it sampled."""
        seen = (weights > 0).unsqueeze(1)
        total = weights.clamp(min=torch.finfo(weights.dtype).tiny).unsqueeze(1)
        self.visits = self.visits + seen.squeeze(1).to(self.visits.dtype)
        reached = self.visits > 0
        rate = (1 / self.visits.clamp(min=1)).clamp(min=MOMENTUM).unsqueeze(1)
        mean = torch.where(seen, torch.lerp(self.mean, means / total, rate), self.mean)
        var = torch.where(seen, torch.lerp(self.var, variances / total, rate), self.var)
        self.mean, self.var = _between(mean, reached), _between(var, reached)

    @torch.no_grad()
    def refine(self, factor: int) -> None:
        """Subdivide every interval into ``factor``, the statistics in time unchanged."""
        nodes = 2 * self.intervals
        self.mean = refined_grid(self.mean, nodes, "linear", factor)
        self.var = refined_grid(self.var, nodes, "linear", factor)
        visits = self.visits.new_zeros(nodes * factor + 1)
        visits[::factor] = self.visits  # the new nodes between are interpolated: not measured
        self.visits = visits
        self.intervals *= factor

    def extra_repr(self) -> str:
        return f"channels={self.mean.shape[1]}, intervals={self.intervals}"


def _between(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """``values`` (nodes, C) with the rows where ``known`` is false interpolated linearly
    between the nearest known rows, and held at the first or last known row beyond them."""
    index = known.nonzero().squeeze(1)
    if len(index) == 0 or bool(known.all()):
        return values
    position = torch.arange(len(values), device=values.device)
    right = torch.searchsorted(index, position).clamp(max=len(index) - 1)
    left = (right - (index[right] > position).long()).clamp(min=0)
    low, high = index[left], index[right]
    span = (high - low).clamp(min=1).to(values.dtype)
    share = ((position - low).to(values.dtype) / span).clamp(0, 1).unsqueeze(1)
    return torch.lerp(values[low], values[high], share)


def require_per_example(field: Dynamics, what: str) -> None:
    """Refuse an analysis that needs the dynamics ``field`` to map each example on its own:
    one line naming the ``what`` it cannot give and what can."""
    normalization = field.normalization
    if normalization.per_example and not (normalization.running and field.training):
        return
    if normalization.legacy:
        usable = " or ".join(n for n, kind in NORMALIZATIONS.items() if n != "none")
        raise ResodeError(
            f"this network's {normalization.name} normalization keeps no running statistics (a "
            f"run saved by an older resode): it couples the examples, no per-example {what} to "
            f"analyse; train it again (norm {usable} map each example on its own)"
        )
    raise ResodeError(
        f"{normalization.name} normalization in training mode couples the examples: no "
        f"per-example {what} to analyse; call .eval() to use its running statistics"
    )


def older_normalization(model: nn.Module, names: Iterable[str]) -> list[Dynamics]:
    """The normalized dynamics of ``model`` whose stored weights ``names`` (state-dict keys)
    have no scale: saved by an older resode, before normalization had one."""
    from .dynamics import Dynamics

    names = set(names)
    older = []
    for prefix, module in model.named_modules():
        if not isinstance(module, Dynamics) or module.normalization.identity:
            continue
        scale = f"{prefix}.norm_scale.values" if prefix else "norm_scale.values"
        if scale not in names and not module.normalization.legacy:
            older.append(module)
    return older


def adopt_stored_normalization(model: nn.Module, names: Iterable[str]) -> str | None:
    """Switch the :func:`older_normalization` dynamics of ``model`` to the map of older runs,
    N(K Y + b) without a scale (over the current batch for ``batch``); a one-line note when
    the answers now depend on the batch, else None."""
    switched = set()
    for field in older_normalization(model, names):
        field.use_stored_normalization(_LEGACY[field.normalization.name]())
        switched.add(field.normalization.name)
    if "batch" in switched:
        return (
            "note: this run's batch normalization keeps no running statistics (saved by an "
            "older resode): its answers depend on which examples share a batch"
        )
    return None
