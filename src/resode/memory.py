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

from .errors import ResodeError, check_choice
from .integrators import Integrator
from .integrators.base import Carry
from .timegrid import StagePlan

MEMORY_MODES = ("store", "checkpoint", "reversible")


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

        def backprop(run, inputs: Carry, sources) -> tuple[torch.Tensor, ...]:
            """Recompute one step from ``inputs`` and pull ``grads`` back through it."""
            used = sorted({k for s in sources for k in plan.rows_of(s)})
            rows = {
                (c, k): grids[c][k].detach().requires_grad_()
                for c in range(len(grids))
                if grid_grads[c] is not None
                for k in used
            }
            with torch.enable_grad():
                inputs = tuple(x.detach().requires_grad_() for x in inputs)
                outputs = run(inputs, step_parameters(sources, rows))
                result = torch.autograd.grad(
                    outputs, (*inputs, *rows.values()), grads, allow_unused=True
                )
            for (c, k), grad in zip(rows, result[len(inputs) :]):
                if grad is not None:
                    grid_grads[c][k] += grad
            return tuple(
                torch.zeros_like(x) if g is None else g
                for x, g in zip(inputs, result[: len(inputs)])
            )

        for sources in reversed(plan.stage_source):
            with torch.no_grad():
                carry = integrator.reverse(field, carry, h, step_parameters(sources))
            grads = backprop(lambda c, p: integrator.advance(field, c, h, p), carry, sources)
        first = plan.stage_source[0]
        with torch.no_grad():
            x0 = integrator.undo_initial(field, carry, h, step_parameters(first))
        (x0_grad,) = backprop(lambda c, p: integrator.initial(field, c[0], h, p), (x0,), first)
        return (None, None, None, None, x0_grad, *grid_grads)
