"""What a memory mode is, and the plainest one: let autograd store every step."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from ..integrators import Integrator
from ..model.timegrid import StagePlan


class GradientMode(ABC):
    """A way to run the step loop so that backpropagation can get through it."""

    name: str = ""
    requirement: str = "any integrator"
    """What :meth:`fits` asks of the integrator, for error messages."""

    def fits(self, integrator: Integrator) -> bool:
        """Whether this mode can differentiate through ``integrator``."""
        return True

    @abstractmethod
    def solve(
        self,
        integrator: Integrator,
        field,
        y0: torch.Tensor,
        h: float,
        plan: StagePlan,
        grids: tuple[torch.Tensor, ...],
    ) -> torch.Tensor:
        """Y_N from Y_0 over the stages of ``plan`` sampled from the weight ``grids``."""


class Store(GradientMode):
    """Autograd records every step: activation memory O(N), no recomputation."""

    name = "store"

    def solve(self, integrator, field, y0, h, plan, grids):
        return integrator.solve(field, y0, h, plan.stage_parameters(grids))
