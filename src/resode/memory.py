"""How a block keeps what backpropagation needs: the three memory modes.

- ``store``: autograd records every step (activation memory O(N)).
- ``checkpoint``: only the carries at the start of segments of ⌈√N⌉ steps are kept; each
  segment is recomputed during the backward pass (memory O(√N), one extra forward pass).
- ``reversible``: nothing but the final carry is kept. The backward pass rebuilds each
  carry_l from carry_{l+1} with the integrator's exact inverse step, recomputes that one
  step with autograd and hands the gradient on (memory O(1) in N, about two extra forward
  passes). The gradient is the exact gradient of the discrete network, up to the rounding
  of the reconstruction — unlike the continuous adjoint method.

``solve(integrator, field, x0, h, flat, index, memory)`` runs N = len(index) steps, where
``flat`` are the sampled weight tensors and ``index[l][i]`` picks the parameters of stage i
of step l (see ``Dynamics.sampled_parameters``). Returns the final state.
"""

from __future__ import annotations

import math

import torch
from torch.utils.checkpoint import checkpoint

from .errors import ResodeError, check_choice
from .integrators import Integrator
from .integrators.base import Carry

MEMORY_MODES = ("store", "checkpoint", "reversible")

Index = list[list[tuple[int, ...]]]


def check_memory(memory: str, integrator: Integrator) -> str:
    """Validate a memory mode for an integrator; reversible needs a reversible integrator."""
    check_choice("memory mode", memory, MEMORY_MODES)
    if memory == "reversible" and not integrator.reversible:
        from .integrators import INTEGRATORS

        names = ", ".join(name for name, method in INTEGRATORS.items() if method.reversible)
        raise ResodeError(
            f"memory='reversible' needs a reversible integrator ({names}); "
            f"{integrator.name!r} is not: use memory='checkpoint' instead"
        )
    return memory


def _stage_parameters(flat, step_index):
    return [tuple(flat[k] for k in stage) for stage in step_index]


def solve(
    integrator: Integrator,
    field,
    x0: torch.Tensor,
    h: float,
    flat: list[torch.Tensor],
    index: Index,
    memory: str = "store",
) -> torch.Tensor:
    if memory == "reversible" and torch.is_grad_enabled():
        carry = _ReversibleSolve.apply(integrator, field, h, index, x0, *flat)
        return integrator.current(tuple(carry))
    parameters = [_stage_parameters(flat, row) for row in index]
    carry = integrator.initial(field, x0, h, parameters[0])
    if memory == "checkpoint" and torch.is_grad_enabled():
        return integrator.current(_checkpointed(integrator, field, carry, h, parameters))
    for stage_parameters in parameters:
        carry = integrator.advance(field, carry, h, stage_parameters)
    return integrator.current(carry)


def _checkpointed(integrator, field, carry: Carry, h: float, parameters) -> Carry:
    steps = len(parameters)
    length = max(1, math.ceil(math.sqrt(steps)))

    def segment(first: int, *carry: torch.Tensor) -> Carry:
        for stage_parameters in parameters[first : first + length]:
            carry = integrator.advance(field, carry, h, stage_parameters)
        return carry

    for first in range(0, steps, length):
        carry = checkpoint(segment, first, *carry, use_reentrant=False, preserve_rng_state=False)
    return carry


class _ReversibleSolve(torch.autograd.Function):
    """Forward without a graph; backward rebuilds the carries from the end, step by step."""

    @staticmethod
    def forward(ctx, integrator, field, h, index, x0, *flat):
        parameters = [_stage_parameters(flat, row) for row in index]
        with torch.no_grad():
            carry = integrator.initial(field, x0, h, parameters[0])
            for stage_parameters in parameters:
                carry = integrator.advance(field, carry, h, stage_parameters)
        ctx.integrator, ctx.field, ctx.h, ctx.index = integrator, field, h, index
        ctx.carry_size = len(carry)
        ctx.save_for_backward(*carry, *flat)
        return tuple(carry)

    @staticmethod
    def backward(ctx, *carry_grads):
        integrator, field, h, index = ctx.integrator, ctx.field, ctx.h, ctx.index
        saved = ctx.saved_tensors
        carry, flat = saved[: ctx.carry_size], saved[ctx.carry_size :]
        grads = tuple(torch.zeros_like(c) if g is None else g for c, g in zip(carry, carry_grads))
        flat_grads: list[torch.Tensor | None] = [None] * len(flat)

        def backprop(run, inputs: Carry, row) -> tuple[torch.Tensor, ...]:
            """Recompute one step from ``inputs`` and pull ``grads`` back through it."""
            used = sorted({k for stage in row for k in stage if flat[k].requires_grad})
            leaves = {k: flat[k].detach().requires_grad_() for k in used}
            local = {k: leaves.get(k, flat[k]) for stage in row for k in stage}
            stage_parameters = [tuple(local[k] for k in stage) for stage in row]
            with torch.enable_grad():
                inputs = tuple(x.detach().requires_grad_() for x in inputs)
                outputs = run(inputs, stage_parameters)
                result = torch.autograd.grad(
                    outputs, (*inputs, *leaves.values()), grads, allow_unused=True
                )
            for k, grad in zip(used, result[len(inputs) :]):
                if grad is not None:
                    flat_grads[k] = grad if flat_grads[k] is None else flat_grads[k] + grad
            return tuple(
                torch.zeros_like(x) if g is None else g
                for x, g in zip(inputs, result[: len(inputs)])
            )

        for row in reversed(index):
            parameters = _stage_parameters(flat, row)
            with torch.no_grad():
                carry = integrator.reverse(field, carry, h, parameters)
            grads = backprop(lambda c, p: integrator.advance(field, c, h, p), carry, row)
        first = _stage_parameters(flat, index[0])
        with torch.no_grad():
            x0 = integrator.undo_initial(field, carry, h, first)
        (x0_grad,) = backprop(lambda c, p: integrator.initial(field, c[0], h, p), (x0,), index[0])
        return (None, None, None, None, x0_grad, *flat_grads)
