"""Gauss–Newton–Krylov training: conjugate gradients on the Gauss–Newton system, matrix-free.

For an objective Φ(θ) = E(F(θ)) + R(θ) with network output F(θ) on a batch, loss E and
penalty R, one step solves

    (Jᵀ H_E J + ∇²R + λ I) p = −∇Φ,     J = ∂F/∂θ,  H_E = ∂²E/∂F²

by conjugate gradients, each product J v a Jacobian-vector product (forward mode) and Jᵀ u a
vector-Jacobian product (reverse mode) of ``torch.func`` over the network's parameters; no
Jacobian is formed. H_E is applied per example: I/B for the least squares ½ mean ‖F − C‖²,
(diag(s) − s sᵀ)/B with s = softmax(F) for the mean cross-entropy (per pixel, divided by the
number of pixels too, for segmentation). ∇²R is applied by differentiating ∇R once more.

Step control: a backtracking (Armijo) line search from step length 1, and a
Levenberg–Marquardt rule for λ from ρ = (actual decrease) / (decrease the quadratic model
m(p) = ∇Φᵀp + ½ pᵀ(JᵀH_E J + ∇²R)p predicts) of the full step: ρ < ¼ raises λ by 3/2,
ρ > ¾ lowers it by 2/3. A step that decreases nothing is not taken and λ is quadrupled.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, jvp, vjp

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Penalty = Callable[[], torch.Tensor | None]

_DAMPING_RANGE = (1e-8, 1e8)


def curvature_product(task: str, output: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """H_E v for the mean loss of ``task`` at ``output``; both (batch, k, *spatial)."""
    if task == "regression":
        return vector / output.shape[0]
    probabilities = torch.softmax(output.detach(), dim=1)
    weighted = probabilities * vector
    count = output.numel() // output.shape[1]  # examples (times pixels)
    return (weighted - probabilities * weighted.sum(dim=1, keepdim=True)) / count


class GaussNewton(torch.optim.Optimizer):
    """Gauss–Newton with CG (see the module docstring) over ``params``, a subset of the
    parameters of ``model`` (the others, e.g. a head fixed by variable projection, stay).

    ``damping`` is the initial λ (kept in the param group and adapted); ``cg_iterations``
    and ``cg_tolerance`` (relative residual) end CG; ``backtracks`` halvings at most.
    """

    def __init__(
        self,
        model: nn.Module,
        params,
        task: str,
        damping: float = 1e-2,
        cg_iterations: int = 10,
        cg_tolerance: float = 1e-2,
        backtracks: int = 6,
    ) -> None:
        defaults = {"lr": 1.0, "damping": damping}
        super().__init__(list(params), defaults)
        self.model = model
        self.task = task
        self.cg_iterations = cg_iterations
        self.cg_tolerance = cg_tolerance
        self.backtracks = backtracks

    @property
    def parameters_(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def _names(self) -> list[str]:
        names = {id(p): name for name, p in self.model.named_parameters()}
        return [names[id(p)] for p in self.parameters_]

    def _output_function(self, x: torch.Tensor) -> Callable[..., torch.Tensor]:
        names = self._names()

        def output(*values: torch.Tensor) -> torch.Tensor:
            return functional_call(self.model, dict(zip(names, values)), (x,))

        return output

    @torch.no_grad()
    def linearization(
        self, x: torch.Tensor, y: torch.Tensor, loss: Loss, penalty: Penalty | None = None
    ):
        """The Gauss–Newton model at the current parameters on the batch (``x``, ``y``).

        Returns (product, gradient, objective, loss value, output): ``product(v)`` applies
        Jᵀ H_E J + ∇²R to a flat vector v, ``gradient`` is ∇Φ flat, ``objective`` Φ.
        """
        params = self.parameters_
        primals = tuple(p.detach() for p in params)
        output_of = self._output_function(x)
        output, pullback = vjp(output_of, *primals)  # torch.func ignores the outer no_grad
        leaf = output.detach().requires_grad_(True)
        with torch.enable_grad():
            value = loss(leaf, y)
            (residual,) = torch.autograd.grad(value, leaf)
        gradient = _flat(pullback(residual))
        objective = value.detach()
        penalty_gradient = None
        if penalty is not None:
            with torch.enable_grad():
                term = penalty()
                if term is not None:
                    grads = torch.autograd.grad(term, params, create_graph=True, allow_unused=True)
                    penalty_gradient = [
                        g if g is not None else torch.zeros_like(p) for g, p in zip(grads, params)
                    ]
                    gradient = gradient + _flat([g.detach() for g in penalty_gradient])
                    objective = objective + term.detach()
        shapes = [p.shape for p in params]
        curved = [i for i, g in enumerate(penalty_gradient or []) if g.requires_grad]

        def product(vector: torch.Tensor) -> torch.Tensor:
            tangents = _unflat(vector, shapes)
            _, forward = jvp(output_of, primals, tangents)
            result = _flat(pullback(curvature_product(self.task, output, forward)))
            if curved:
                with torch.enable_grad():
                    second = torch.autograd.grad(
                        [penalty_gradient[i] for i in curved],
                        [params[i] for i in curved],
                        [tangents[i] for i in curved],
                        retain_graph=True,
                        allow_unused=True,
                    )
                parts = [torch.zeros_like(p) for p in params]
                for i, s in zip(curved, second):
                    if s is not None:
                        parts[i] = s
                result = result + _flat(parts)
            return result

        return product, gradient, objective, value.detach(), output.detach()

    @torch.no_grad()
    def step(  # type: ignore[override]
        self, x: torch.Tensor, y: torch.Tensor, loss: Loss, penalty: Penalty | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One damped Gauss–Newton step on the batch; returns (loss, output) before it."""
        group = self.param_groups[0]
        damping = group["damping"]
        product, gradient, objective, value, output = self.linearization(x, y, loss, penalty)
        direction, curvature = conjugate_gradients(
            product, gradient, damping, self.cg_iterations, self.cg_tolerance
        )
        slope = float(gradient @ direction)  # < 0 for a descent direction
        predicted = -(slope + 0.5 * curvature)  # decrease of the undamped model at α = 1
        params = self.parameters_
        start = [p.detach().clone() for p in params]
        shapes = [p.shape for p in params]
        accepted, ratio, length = False, 0.0, 1.0
        if slope < 0 and predicted > 0:
            for trial in range(self.backtracks + 1):
                _assign(params, start, _unflat(direction, shapes), length)
                new = self._objective(x, y, loss, penalty)
                if trial == 0:
                    ratio = (float(objective) - new) / predicted
                if new <= float(objective) + 1e-4 * length * slope:
                    accepted = True
                    break
                length *= 0.5
        if not accepted:
            _assign(params, start, None, 0.0)
            damping *= 4.0
        elif ratio < 0.25:
            damping *= 1.5
        elif ratio > 0.75:
            damping *= 2.0 / 3.0
        group["damping"] = min(max(damping, _DAMPING_RANGE[0]), _DAMPING_RANGE[1])
        return value, output

    @torch.no_grad()
    def _objective(self, x, y, loss: Loss, penalty: Penalty | None) -> float:
        value = loss(self.model(x), y)
        term = penalty() if penalty is not None else None
        total = float(value if term is None else value + term)
        return total if total == total else float("inf")  # nan counts as no decrease


def conjugate_gradients(
    product: Callable[[torch.Tensor], torch.Tensor],
    gradient: torch.Tensor,
    damping: float,
    iterations: int,
    tolerance: float,
) -> tuple[torch.Tensor, float]:
    """Approximately solve (G + λI) p = −g by CG from p = 0; return p and pᵀ G p (G = product)."""
    solution = torch.zeros_like(gradient)
    residual = -gradient
    search = residual.clone()
    norm = float(residual @ residual)
    target = tolerance**2 * norm
    for _ in range(iterations):
        if norm <= target or norm == 0.0:
            break
        applied = product(search) + damping * search
        height = float(search @ applied)
        if height <= 0:  # numerically indefinite; keep what we have
            break
        alpha = norm / height
        solution = solution + alpha * search
        residual = residual - alpha * applied
        new_norm = float(residual @ residual)
        search = residual + (new_norm / norm) * search
        norm = new_norm
    curvature = float(solution @ product(solution)) if solution.any() else 0.0
    return solution, curvature


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflat(vector: torch.Tensor, shapes) -> tuple[torch.Tensor, ...]:
    parts, begin = [], 0
    for shape in shapes:
        size = int(torch.Size(shape).numel())
        parts.append(vector[begin : begin + size].reshape(shape))
        begin += size
    return tuple(parts)


@torch.no_grad()
def _assign(params, start, step, length: float) -> None:
    """θ ← start + length · step (step None: back to start)."""
    for index, (p, s) in enumerate(zip(params, start)):
        p.copy_(s if step is None else s + length * step[index])
