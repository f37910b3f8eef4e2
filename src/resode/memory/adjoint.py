"""The ``adjoint`` memory mode: optimize-then-discretize, the continuous adjoint method.

**An approximation of the network's gradient**, not its exact gradient: the other modes
differentiate the discrete network (discretize-then-optimize); this one discretizes the
continuous adjoint equations instead, as neural-ODE libraries do. In s = T − t, from t = T:

    dỸ/ds = −f(Ỹ, θ(T − s)),     Ỹ(0) = Y_N          (the states, rebuilt backward)
    dλ/ds =  (∂f/∂Y)ᵀ λ,          λ(0) = ∂L/∂Y_N       (the adjoint)
    dg/ds =  (∂f/∂θ)ᵀ λ,          g(0) = 0             ∂L/∂θ ≈ g(T),  ∂L/∂Y_0 ≈ λ(T)

stepped by the same explicit Runge–Kutta method with the same N steps (stage i of the step
back over [t_l, t_{l+1}] at t_{l+1} − c_i h) through the one step loop, ``integrator.run``,
on the pair [Ỹ, λ] along dim 1. g never feeds back, so its Runge–Kutta update
h Σ_i b_i r_i is added into the weight grids stage by stage (r_i mapped onto the grid rows
that θ at stage i is sampled from). Each stage costs one evaluation of f and one
vector–Jacobian product; nothing is kept per step (activation memory O(1) in N).

A stage the forward pass blends across a weight jump (a :class:`~resode.integrators.base.Blend`)
is blended over the reversed span on the way back too, each part's gradient going to its own
weight set. The gradient error is O(h^p) for a method of order p where the backward
reconstruction is stable (O(h^min(p, 2)) with weight jumps inside steps); for dynamics
that are stable forward (parabolic, damped: Re λ(J) < 0) the backward ODE −f is unstable,
Ỹ_0 drifts from Y_0 and the gradient with it.
"""

from __future__ import annotations

import torch

from ..integrators import ExplicitRungeKutta
from ..integrators.stages import StagePlan
from .base import MemoryMode


class Adjoint(MemoryMode):
    name = "adjoint"
    requirement = "an explicit Runge–Kutta integrator"

    def fits(self, integrator) -> bool:
        return isinstance(integrator, ExplicitRungeKutta)

    def solve(self, integrator, field, y0, h, plan, grids):
        return _AdjointSolve.apply(integrator, field, h, plan, y0, *grids)


class _AdjointSolve(torch.autograd.Function):
    """Forward: Y_N without a graph. Backward: :func:`adjoint_sweep` from (Y_N, ∂L/∂Y_N)."""

    @staticmethod
    def forward(ctx, integrator, field, h, plan, y0, *grids):
        with torch.no_grad():
            y_final = integrator.solve(field, y0, h, plan.stage_parameters(grids))
        ctx.integrator, ctx.field, ctx.h, ctx.plan = integrator, field, h, plan
        ctx.save_for_backward(y_final, *grids)
        return y_final

    @staticmethod
    def backward(ctx, grad_final):
        y_final, *grids = ctx.saved_tensors
        wanted = [ctx.needs_input_grad[5 + c] for c in range(len(grids))]
        _, y0_grad, grid_grads = adjoint_sweep(
            ctx.integrator, ctx.field, y_final, grad_final, ctx.h, ctx.plan, grids, wanted
        )
        return (None, None, None, None, y0_grad, *grid_grads)


def adjoint_sweep(
    integrator: ExplicitRungeKutta,
    field,
    y_final: torch.Tensor,
    grad_final: torch.Tensor,
    h: float,
    plan: StagePlan,
    grids,
    wanted=None,
) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Integrate the adjoint system from t = T back to 0 with the forward method and steps.

    ``y_final``, ``grad_final``: Y_N and ∂L/∂Y_N, shape (batch, width, …); ``grids``: the
    weight grids the forward sampled through ``plan``. Returns (Ỹ_0, λ_0 ≈ ∂L/∂Y_0, one
    gradient per grid, shaped like it, None where ``wanted[c]`` is false).
    """
    grids = [grid.detach() for grid in grids]
    wanted = [True] * len(grids) if wanted is None else wanted
    grid_grads = [torch.zeros_like(g) if w else None for g, w in zip(grids, wanted)]
    spans = integrator.stage_spans  # stage i of the step back stands for the reversed span
    back = plan.at_offsets(
        tuple(1.0 - c for c in integrator.stage_offsets),
        None if spans is None else tuple((1.0 - b, 1.0 - a) for a, b in spans),
    )
    with torch.no_grad():
        sampled = back.stage_parameters(grids)
        weights = [h * b for b in integrator.tableau.b]
        steps = [
            [(p, s, w) for p, s, w in zip(sampled[l], back.stage_source[l], weights)]
            for l in reversed(range(len(sampled)))
        ]
        augmented = _AdjointField(field, y_final.shape[1], back, grid_grads)
        pair = torch.cat([y_final.detach(), grad_final.to(y_final.dtype)], dim=1)
        (pair,) = integrator.run(augmented, (pair,), h, steps)
    width = y_final.shape[1]
    return pair[:, :width], pair[:, width:], grid_grads


class _AdjointField:
    """The field of the pair [Ỹ, λ] in s = T − t: [−f(Ỹ), (∂f/∂Y)ᵀλ], one f and one VJP per
    stage; as a side effect adds h b_i (∂f/∂θ)ᵀλ into the grid gradients.

    A stage's parameters are ``(θ tuple, grid source, h b_i)``.
    """

    def __init__(self, field, width: int, plan: StagePlan, grid_grads: list) -> None:
        self.field, self.width, self.plan, self.grid_grads = field, width, plan, grid_grads

    def __call__(self, pair: torch.Tensor, stage) -> torch.Tensor:
        parameters, source, weight = stage
        state, adjoint = pair[:, : self.width], pair[:, self.width :]
        blend = self.plan.blend_of(source)  # parameters is then a Blend: f averaged over parts
        parts = (parameters,) if blend is None else tuple(p for _, p in parameters.parts)
        with torch.enable_grad():
            state = state.detach().requires_grad_()
            leaves = [tuple(p.detach().requires_grad_() for p in part) for part in parts]
            if blend is None:
                rate = self.field(state, leaves[0])
            else:
                shares = (share for share, _ in parameters.parts)
                rate = sum(w * self.field(state, part) for w, part in zip(shares, leaves))
            flat = [p for part in leaves for p in part]
            grads = torch.autograd.grad(rate, (state, *flat), adjoint, allow_unused=True)
        if blend is None:
            self._accumulate(self.plan.rows_of(source), weight, grads[1:])
        else:  # part j is grid row k_j, its share already inside its gradient
            size = len(leaves[0])
            for j, (k, _) in enumerate(blend[1]):
                self._accumulate(((k, 1.0),), weight, grads[1 + j * size : 1 + (j + 1) * size])
        state_grad = torch.zeros_like(state) if grads[0] is None else grads[0]
        return torch.cat([-rate.detach(), state_grad], dim=1)

    def _accumulate(self, rows, weight: float, grads) -> None:
        """Add weight · ∂θ into the grid ``rows`` ((k, share), …) θ is sampled from."""
        for buffer, grad in zip(self.grid_grads, grads):
            if buffer is not None and grad is not None:
                for k, share in rows:
                    buffer[k].add_(grad, alpha=weight * share)
