"""Normalization N inside the vector field, f(Y) = σ(N(K Y + b)): one class per kind.

=============  ==============================================  ===========
name           N(z), z of shape (batch, channels, …)           per example
=============  ==============================================  ===========
``none``       z                                               yes
``batch``      each channel over the current batch and pixels  no
``instance``   each example and channel over its pixels        yes
=============  ==============================================  ===========

Batch normalization uses the current batch's statistics in training and evaluation alike (no
running averages): it couples the examples, so a network with it is no per-example map and the
analyses that need one (Jacobians, step maps, Lyapunov exponents) refuse it through
:func:`require_per_example`. The user-facing value stays the name (``--norm batch``,
``BlockSpec.norm``); a dynamics resolves it once with :func:`make_normalization`. A new kind is
a subclass here and its entry in :data:`NORMALIZATIONS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F

from ..errors import ResodeError, check_choice

if TYPE_CHECKING:
    from .dynamics import Dynamics


@dataclass(frozen=True)
class Normalization(ABC):
    """N of the pre-activation z = K Y + b inside f. Frozen: a kind with options (say, a number
    of groups) declares them as fields and is compared by them."""

    name: ClassVar[str]
    """The value of ``norm`` that selects this kind."""
    identity: ClassVar[bool] = False
    """N(z) = z: f keeps its fused hot path and its exact Jacobian formulas."""
    per_example: ClassVar[bool] = True
    """N maps each example on its own, so f (and the network) is a per-example map."""

    @abstractmethod
    def apply(self, z: torch.Tensor) -> torch.Tensor:
        """N(z) for z of shape (batch, channels, …), the same shape."""


class NoNormalization(Normalization):
    """N(z) = z."""

    name = "none"
    identity = True

    def apply(self, z: torch.Tensor) -> torch.Tensor:
        return z


class BatchNormalization(Normalization):
    """Each channel over the current batch (and pixels), in training and evaluation alike."""

    name = "batch"
    identity = False
    per_example = False

    def apply(self, z: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(z, None, None, training=True)


class InstanceNormalization(Normalization):
    """Each example and channel over its pixels."""

    name = "instance"
    identity = False

    def apply(self, z: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(z)


NORMALIZATIONS: dict[str, type[Normalization]] = {
    kind.name: kind for kind in (NoNormalization, BatchNormalization, InstanceNormalization)
}
"""The kinds of normalization by name, the values of ``norm``."""


def make_normalization(name: str) -> Normalization:
    """The normalization called ``name`` (one of :data:`NORMALIZATIONS`)."""
    return NORMALIZATIONS[check_choice("normalization", name, NORMALIZATIONS)]()


def require_per_example(field: Dynamics, what: str) -> None:
    """Refuse an analysis that needs the dynamics ``field`` to map each example on its own:
    one line naming the ``what`` it cannot give and the normalizations that can."""
    normalization = field.normalization
    if not normalization.per_example:
        usable = " or ".join(sorted(n for n, kind in NORMALIZATIONS.items() if kind.per_example))
        raise ResodeError(
            f"{normalization.name} normalization couples the examples: no per-example {what} "
            f"to analyse; use norm {usable}"
        )
