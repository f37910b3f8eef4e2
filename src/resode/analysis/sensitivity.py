"""Forward sensitivity: how much Y_N moves when Y_0 does, ‖∂Y_N/∂Y_0‖₂ per example.

Power iteration on JᵀJ with Jacobian–vector products, no dense Jacobian, so it scales to
any unit size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import check_int, check_positive
from ..model.block import ODEBlock
from .spectra import analysis_copy


@dataclass
class Sensitivity:
    """Forward sensitivity of Y_N to Y0, per example and summarized."""

    growth: torch.Tensor  # ‖Y_N(Y0 + εδ) − Y_N(Y0)‖ / ‖εδ‖, shape (batch,)
    singular_value: torch.Tensor  # largest singular value of ∂Y_N/∂Y0, shape (batch,)

    def summary(self) -> dict[str, float]:
        return {
            "growth_mean": float(self.growth.mean()),
            "growth_max": float(self.growth.max()),
            "singular_value_mean": float(self.singular_value.mean()),
            "singular_value_max": float(self.singular_value.max()),
        }


def _norms(y: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """Euclidean norm of each example (all non-batch dims), shape (batch,) or broadcastable."""
    norms = y.flatten(1).norm(dim=1)
    return norms.view(-1, *([1] * (y.dim() - 1))) if keepdim else norms


def sensitivity(
    block: ODEBlock,
    y0: torch.Tensor,
    epsilon: float = 1e-4,
    iterations: int = 30,
    seed: int = 0,
) -> Sensitivity:
    """Finite-perturbation growth and ‖∂Y_N/∂Y0‖₂ per example (power iteration on JᵀJ)."""
    check_positive("epsilon", epsilon)
    check_int("iterations", iterations)
    analysed, y0 = analysis_copy(block, y0)
    analysed.requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    direction = torch.randn(y0.shape, generator=generator, dtype=torch.float64).to(y0.device)
    direction = direction / _norms(direction, keepdim=True)
    with torch.no_grad():
        moved = analysed(y0 + epsilon * direction) - analysed(y0)
    growth = _norms(moved) / epsilon
    # One forward pass; J v and Jᵀ w are backward passes through its graph (the J v by the
    # double-backward identity J v = ∂/∂w ⟨Jᵀ w, v⟩), rows being independent examples.
    with torch.enable_grad():
        y0 = y0.clone().requires_grad_(True)
        yN = analysed(y0)
        w = torch.zeros_like(yN, requires_grad=True)
        (transpose_w,) = torch.autograd.grad(yN, y0, w, create_graph=True)
        v = direction
        for _ in range(iterations):  # v ← JᵀJ v / ‖JᵀJ v‖
            (jv,) = torch.autograd.grad(transpose_w, w, v, retain_graph=True)
            (jtjv,) = torch.autograd.grad(yN, y0, jv, retain_graph=True)
            v = jtjv / _norms(jtjv, keepdim=True).clamp_min(1e-300)
        (jv,) = torch.autograd.grad(transpose_w, w, v)
    sigma = _norms(jv.detach())
    return Sensitivity(growth.cpu(), sigma.cpu())
