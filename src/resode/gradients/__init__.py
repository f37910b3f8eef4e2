"""How a block keeps what backpropagation needs: the three memory modes.

- ``store``: autograd records every step (activation memory O(N)).
- ``checkpoint``: only the carries at the start of segments of ⌈√N⌉ steps are kept; each
  segment is recomputed during the backward pass (memory O(√N), one extra forward pass).
- ``reversible``: nothing but the final carry is kept. The backward pass rebuilds each
  carry_l from carry_{l+1} with the integrator's exact inverse step, recomputes that one
  step with autograd and hands the gradient on (memory O(1) in N, about two extra forward
  passes). The gradient is the exact gradient of the discrete network, up to the rounding
  of the reconstruction — unlike the continuous adjoint method.

``solve(integrator, field, x0, h, plan, grids, memory)`` runs the N steps of a
:class:`~resode.timegrid.StagePlan` on the weight grids (K, b, …) (see
``Dynamics.parameter_plan``) and returns the final state.
"""

from __future__ import annotations

import math

import torch
from torch.utils.checkpoint import checkpoint

from ..errors import ResodeError, check_choice
from ..integrators import INTEGRATORS, Integrator
from ..integrators.base import Carry
from ..model.timegrid import StagePlan

MEMORY_MODES = ("store", "checkpoint", "reversible")


def check_memory(memory: str, integrator: Integrator) -> str:
    """Validate a memory mode for an integrator; reversible needs a reversible integrator."""
    check_choice("memory mode", memory, MEMORY_MODES)
    if memory == "reversible" and not integrator.reversible:
        names = ", ".join(name for name, method in INTEGRATORS.items() if method.reversible)
        raise ResodeError(
            f"memory='reversible' needs a reversible integrator ({names}); "
            f"{integrator.name!r} is not: use memory='checkpoint' instead"
        )
    return memory


def solve(
    integrator: Integrator,
    field,
    x0: torch.Tensor,
    h: float,
    plan: StagePlan,
    grids: tuple[torch.Tensor, ...],
    memory: str = "store",
) -> torch.Tensor:
    if memory == "reversible" and torch.is_grad_enabled():
        carry = _ReversibleSolve.apply(integrator, field, h, plan, x0, *grids)
        return integrator.current(tuple(carry))
    parameters = plan.stage_parameters(grids)
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
    """Forward without a graph; backward rebuilds the carries from the end, step by step.

    The inputs are the whole weight grids; the backward samples one step's weights from
    leaf copies of the rows it uses and adds their gradients into one buffer per grid, so
    the gradient memory is that of the grids themselves.
    """

    @staticmethod
    def forward(ctx, integrator, field, h, plan, x0, *grids):
        parameters = plan.stage_parameters(grids)
        with torch.no_grad():
            carry = integrator.initial(field, x0, h, parameters[0])
            for stage_parameters in parameters:
                carry = integrator.advance(field, carry, h, stage_parameters)
        ctx.integrator, ctx.field, ctx.h, ctx.plan = integrator, field, h, plan
        ctx.carry_size = len(carry)
        ctx.save_for_backward(*carry, *grids)
        return tuple(carry)

    @staticmethod
    def backward(ctx, *carry_grads):
        integrator, field, h, plan = ctx.integrator, ctx.field, ctx.h, ctx.plan
        saved = ctx.saved_tensors
        carry, grids = saved[: ctx.carry_size], saved[ctx.carry_size :]
        grads = tuple(torch.zeros_like(c) if g is None else g for c, g in zip(carry, carry_grads))
        grid_grads = [
            torch.zeros_like(grid) if ctx.needs_input_grad[5 + c] else None
            for c, grid in enumerate(grids)
        ]

        def step_parameters(sources, rows=None):
            def sample(c: int, source: int):
                return plan.sample_one(lambda k: (rows or {}).get((c, k), grids[c][k]), source)

            return [tuple(sample(c, s) for c in range(len(grids))) for s in sources]

        def leaves_of(sources) -> dict:
            used = sorted({k for s in sources for k in plan.rows_of(s)})
            return {
                (c, k): grids[c][k].detach().requires_grad_()
                for c in range(len(grids))
                if grid_grads[c] is not None
                for k in used
            }

        def accumulate(rows: dict, row_grads) -> None:
            for (c, k), grad in zip(rows, row_grads):
                if grad is not None:
                    grid_grads[c][k] += grad

        for sources in reversed(plan.stage_source):
            rows = leaves_of(sources)
            with torch.enable_grad():  # interpolated weights keep their graph to the rows
                parameters = step_parameters(sources, rows)
            carry, grads, row_grads = integrator.backward_step(
                field, carry, grads, h, parameters, tuple(rows.values())
            )
            accumulate(rows, row_grads)
        first = plan.stage_source[0]
        with torch.no_grad():
            x0 = integrator.undo_initial(field, carry, h, step_parameters(first))
        rows = leaves_of(first)
        with torch.enable_grad():
            x0 = x0.detach().requires_grad_()
            outputs = integrator.initial(field, x0, h, step_parameters(first, rows))
            result = torch.autograd.grad(outputs, (x0, *rows.values()), grads, allow_unused=True)
        accumulate(rows, result[1:])
        x0_grad = torch.zeros_like(x0) if result[0] is None else result[0]
        return (None, None, None, None, x0_grad, *grid_grads)
