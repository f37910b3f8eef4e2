"""Variable projection: the linear head W is eliminated by solving its convex problem per batch.

With Z the head's input (the final state Y_N, pooled for signals and images) and Z̃ = [Z 1]
(a column of ones for the bias), the head Θ = [W c] solves, on each (mini)batch of B examples,

- regression:      min ½ mean ‖Z̃Θᵀ − C‖² + ½ α ‖W‖²  exactly, from the normal equations
                   (Z̃ᵀZ̃/B + α D) Θᵀ = Z̃ᵀC/B,  D = diag(1, …, 1, 0);
- classification:  min mean CE(Z̃Θᵀ, c) + ½ α ‖W‖²  by a few Newton steps from the current
                   head, Hessian (1/B) Σ_i (diag(s_i) − s_i s_iᵀ) ⊗ z̃_i z̃_iᵀ + α D, each with a
                   backtracking line search, so the objective never increases.

The outer optimizer then sees the reduced objective Φ(θ) = E(W*(θ) Z(θ)) in the other weights
(opening and ODE); by the envelope theorem its gradient is ∂E/∂θ at fixed W = W*, so the
head is copied into the model and kept out of the outer optimizer.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ResodeError
from ..model.convnet import ConvResNet

TASKS = ("classification", "regression")


def head_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Z, the input of the model's linear head, shape (batch, features)."""
    features = model.features(x)
    if isinstance(model, ConvResNet):
        if model.task == "segmentation":
            raise ResodeError("variable projection applies to classification and regression")
        return features.flatten(2).mean(dim=2)
    return features


def _augment(features: torch.Tensor) -> torch.Tensor:
    ones = torch.ones(len(features), 1, dtype=features.dtype, device=features.device)
    return torch.cat([features, ones], dim=1)


def _penalty_diagonal(features: int, alpha: float, like: torch.Tensor) -> torch.Tensor:
    diagonal = torch.full((features + 1,), alpha, dtype=like.dtype, device=like.device)
    diagonal[-1] = 0.0  # the bias is not regularized
    return diagonal


def least_squares_head(
    features: torch.Tensor, targets: torch.Tensor, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, c) minimizing ½ mean ‖W z_i + c − y_i‖² + ½ α ‖W‖²; features (B, m), targets (B, k).

    Solved in float64 from the normal equations (a least-squares solve when they are singular).
    """
    z = _augment(features.double())
    system = z.T @ z / len(z) + torch.diag(_penalty_diagonal(features.shape[1], alpha, z))
    right = z.T @ targets.double() / len(z)
    try:
        theta = torch.linalg.solve(system, right)  # (m + 1, k)
    except RuntimeError:  # singular: α = 0 and fewer examples than features
        theta = torch.linalg.lstsq(system, right).solution
    theta = theta.T.to(features.dtype)
    return theta[:, :-1].contiguous(), theta[:, -1].contiguous()


def softmax_objective(
    z: torch.Tensor, labels: torch.Tensor, theta: torch.Tensor, alpha: float
) -> torch.Tensor:
    """mean CE(z Θᵀ, labels) + ½ α ‖W‖² with z = [Z 1] (B, m+1), Θ = [W c] (k, m+1)."""
    scores = z @ theta.T
    loss = torch.nn.functional.cross_entropy(scores, labels)
    return loss + 0.5 * alpha * theta[:, :-1].square().sum()


def softmax_head(
    features: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    alpha: float,
    steps: int,
) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """``steps`` Newton steps on the softmax head from (W, c); returns W, c and the objective
    before each step and after the last (non-increasing: a step without decrease is not taken).
    """
    z = _augment(features.double())
    theta = torch.cat([weight, bias[:, None]], dim=1).double()
    labels = labels.long()
    classes, size = theta.shape
    diagonal = _penalty_diagonal(features.shape[1], alpha, z).repeat(classes)
    value = float(softmax_objective(z, labels, theta, alpha))
    values = [value]
    for _ in range(steps):
        probabilities = torch.softmax(z @ theta.T, dim=1)  # (B, k)
        residual = probabilities.clone()
        residual[torch.arange(len(z)), labels] -= 1.0
        gradient = residual.T @ z / len(z) + theta * diagonal.reshape(classes, size)
        # (1/B) Σ_i (diag s_i − s_i s_iᵀ)[c, d] z_i[j] z_i[k], flattened as (c, j), (d, k)
        outer = torch.einsum("ic,ij,ik->cjk", probabilities, z, z) / len(z)
        hessian = torch.zeros(classes, size, classes, size, dtype=z.dtype, device=z.device)
        index = torch.arange(classes)
        hessian[index, :, index, :] = outer
        hessian -= torch.einsum("ic,id,ij,ik->cjdk", probabilities, probabilities, z, z) / len(z)
        hessian = hessian.reshape(classes * size, classes * size)
        # the softmax is invariant to adding one vector to every row: a tiny shift fixes it
        shift = 1e-8 * float(hessian.diagonal().mean()) + 1e-12
        hessian += torch.diag(diagonal + shift)
        flat = gradient.reshape(-1)
        try:
            direction = -torch.linalg.solve(hessian, flat)
        except RuntimeError:
            direction = -torch.linalg.lstsq(hessian, flat[:, None]).solution[:, 0]
        slope = float(flat @ direction)
        if not slope < 0:
            break
        length, moved = 1.0, False
        for _ in range(20):
            trial = theta + length * direction.reshape(classes, size)
            new = float(softmax_objective(z, labels, trial, alpha))
            if new <= value + 1e-4 * length * slope:
                theta, value, moved = trial, new, True
                break
            length *= 0.5
        values.append(value)
        if not moved or slope > -1e-12:  # no decrease left, or converged
            break
    theta = theta.to(features.dtype)
    return theta[:, :-1].contiguous(), theta[:, -1].contiguous(), values


class VariableProjection:
    """Solves ``model.head`` on each batch and returns the network's output with it.

    ``regularization`` is α; ``newton_steps`` the Newton steps per batch (classification).
    """

    def __init__(
        self, model: nn.Module, task: str, regularization: float, newton_steps: int
    ) -> None:
        if task not in TASKS:
            raise ResodeError(f"--varpro applies to classification and regression, not {task}")
        self.model = model
        self.task = task
        self.regularization = regularization
        self.newton_steps = newton_steps

    def outer_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the head's: what the outer optimizer updates."""
        head = {id(p) for p in self.model.head.parameters()}
        return [p for p in self.model.parameters() if id(p) not in head]

    @torch.no_grad()
    def fit(self, features: torch.Tensor, targets: torch.Tensor, converge: bool = False) -> None:
        """Solve the head for the head inputs ``features`` and copy it into the model;
        ``converge`` allows 25 Newton steps (the head kept for evaluation)."""
        head = self.model.head
        if self.task == "regression":
            weight, bias = least_squares_head(features, targets, self.regularization)
        else:
            weight, bias, _ = softmax_head(
                features,
                targets,
                head.weight,
                head.bias,
                self.regularization,
                max(self.newton_steps, 25) if converge else self.newton_steps,
            )
        head.weight.copy_(weight)
        head.bias.copy_(bias)

    def __call__(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The output W* Z(θ) + c* on the batch, differentiable in the outer parameters."""
        features = head_input(self.model, x)
        self.fit(features.detach(), targets)
        return self.model.head(features)
