"""What a memory mode is, and the plainest one: let autograd store every step."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from ..integrators import Integrator
from ..integrators.stages import StagePlan


class MemoryMode(ABC):
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


class Store(MemoryMode):
    """Autograd records every step: activation memory O(N), no recomputation."""

    name = "store"

    def solve(self, integrator, field, y0, h, plan, grids):
        return integrator.solve(field, y0, h, plan.stage_parameters(grids))


def saved_activation_bytes(block: torch.nn.Module, y0: torch.Tensor) -> int:
    """Bytes autograd keeps for the backward pass of ``block(y0)`` (distinct storages,
    parameters excluded): what a memory mode saves. Runs one forward and backward pass."""
    parameters = {p.untyped_storage().data_ptr() for p in block.parameters()}
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = block(y0)
    out.sum().backward()
    return sum(storages.values())
