"""The ``reversible`` memory mode: keep the final carry only, rebuild the others backward.

The backward pass rebuilds each carry_l from carry_{l+1} with the integrator's exact inverse
step, recomputes that one step with autograd and hands the gradient on (activation memory
O(1) in N, about two extra forward passes). The gradient is the exact gradient of the
discrete network up to the rounding of the reconstruction. Needs a
:class:`~resode.integrators.base.ReversibleIntegrator` (``leapfrog``, ``verlet``).
"""

from __future__ import annotations

import torch

from ..integrators.base import ReversibleIntegrator
from .base import MemoryMode


class Reversible(MemoryMode):
    name = "reversible"
    requirement = "a reversible integrator"

    def fits(self, integrator) -> bool:
        return isinstance(integrator, ReversibleIntegrator)

    def solve(self, integrator, field, y0, h, plan, grids):
        carry = _ReversibleSolve.apply(integrator, field, h, plan, y0, *grids)
        return integrator.current(tuple(carry))


class _ReversibleSolve(torch.autograd.Function):
    """Forward without a graph; backward rebuilds the carries from the end, step by step.

    The inputs are the whole weight grids; the backward samples one step's weights from
    leaf copies of the rows it uses and adds their gradients into one buffer per grid, so
    the gradient memory is that of the grids themselves.
    """

    @staticmethod
    def forward(ctx, integrator, field, h, plan, x0, *grids):
        steps = plan.stage_parameters(grids)
        with torch.no_grad():
            carry = integrator.run(field, integrator.initial(field, x0, h, steps[0]), h, steps)
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

        weighted = len(grids) - plan.node_grids  # the node grids (last) have no gradient

        def step_parameters(step: int, rows=None):
            def sample(c: int, source: int):
                return plan.sample_one(lambda k: (rows or {}).get((c, k), grids[c][k]), source)

            def pick(source: int):
                return tuple(sample(c, source) for c in range(weighted))

            nodes = plan.node_parameters(grids, step)
            return [plan.parameters_of(s, pick, n) for s, n in zip(plan.stage_source[step], nodes)]

        def leaves_of(step: int) -> dict:
            used = sorted({k for s in plan.stage_source[step] for k, _ in plan.rows_of(s)})
            return {
                (c, k): grids[c][k].detach().requires_grad_()
                for c in range(weighted)
                if grid_grads[c] is not None
                for k in used
            }

        def accumulate(rows: dict, row_grads) -> None:
            for (c, k), grad in zip(rows, row_grads):
                if grad is not None:
                    grid_grads[c][k] += grad

        for step in reversed(range(len(plan.stage_source))):
            rows = leaves_of(step)
            with torch.enable_grad():  # interpolated weights keep their graph to the rows
                parameters = step_parameters(step, rows)
            carry, grads, row_grads = integrator.backward_step(
                field, carry, grads, h, parameters, tuple(rows.values())
            )
            accumulate(rows, row_grads)
        with torch.no_grad():
            x0 = integrator.undo_initial(field, carry, h, step_parameters(0))
        rows = leaves_of(0)
        with torch.enable_grad():
            x0 = x0.detach().requires_grad_()
            outputs = integrator.initial(field, x0, h, step_parameters(0, rows))
            result = torch.autograd.grad(outputs, (x0, *rows.values()), grads, allow_unused=True)
        accumulate(rows, result[1:])
        x0_grad = torch.zeros_like(x0) if result[0] is None else result[0]
        return (None, None, None, None, x0_grad, *grid_grads)
