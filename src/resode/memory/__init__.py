"""How backpropagation gets through the step loop: the memory modes, as strategies.

Every mode runs the integrator's one step loop (:meth:`~resode.integrators.Integrator.iterate`)
forward; they differ in what they keep for the backward pass:

- ``store`` (:class:`Store`): autograd records every step (activation memory O(N)).
- ``checkpoint`` (:class:`~resode.memory.checkpointing.Checkpointing`): keeps the carries at the
  start of segments of ⌈√N⌉ steps, recomputes each segment in the backward pass (O(√N)).
- ``reversible`` (:class:`~resode.memory.reversible.Reversible`): keeps only the final
  carry and rebuilds every earlier one with the integrator's exact inverse step (O(1) in N).
- ``adjoint`` (:class:`~resode.memory.adjoint.Adjoint`): keeps only Y_N and integrates the
  continuous adjoint equations backward (O(1) in N) — an *approximation* of the gradient.

The first three give the exact gradient of the discrete network (up to rounding), unlike the
continuous adjoint method. Without autograd (``torch.no_grad``) every mode simply runs.
"""

from __future__ import annotations

import torch

from ..errors import ResodeError, check_choice
from ..integrators import INTEGRATORS, Integrator
from .adjoint import Adjoint, adjoint_sweep
from .base import MemoryMode, Store, saved_activation_bytes
from .checkpointing import Checkpointing
from .reversible import Reversible

STORE = Store()
MEMORY_MODES: dict[str, MemoryMode] = {
    mode.name: mode for mode in (STORE, Checkpointing(), Reversible(), Adjoint())
}


def memory_mode(memory: str, integrator: Integrator) -> MemoryMode:
    """The memory mode named ``memory``, validated for ``integrator`` (``reversible`` needs a
    reversible one, ``adjoint`` an explicit Runge–Kutta one)."""
    mode = MEMORY_MODES[check_choice("memory mode", memory, MEMORY_MODES)]
    if not mode.fits(integrator):
        names = ", ".join(name for name, method in INTEGRATORS.items() if mode.fits(method))
        raise ResodeError(
            f"memory={memory!r} needs {mode.requirement} ({names}); "
            f"{integrator.name!r} is not: use memory='checkpoint' instead"
        )
    return mode


def check_memory(memory: str, integrator: Integrator) -> str:
    """Validate a memory mode's name for an integrator (see :func:`memory_mode`)."""
    return memory_mode(memory, integrator).name


def solve(mode: MemoryMode, integrator: Integrator, field, y0: torch.Tensor, h: float, plan, grids):
    """Y_N for the stage plan ``plan`` on the weight grids ``grids``, the gradient as ``mode``
    says (plain autograd, :class:`Store`, when gradients are off)."""
    if not torch.is_grad_enabled():
        mode = STORE
    return mode.solve(integrator, field, y0, h, plan, grids)


__all__ = [
    "MEMORY_MODES",
    "STORE",
    "MemoryMode",
    "adjoint_sweep",
    "check_memory",
    "memory_mode",
    "saved_activation_bytes",
    "solve",
]
