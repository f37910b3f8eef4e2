"""Finite-time Lyapunov exponents of the discrete network along its data trajectories.

With the step map carry_{l+1} = Φ_l(carry_l) and its Jacobians A_l = ∂Φ_l/∂carry_l, k tangent
vectors Q_0 (orthonormal, random) are pushed through the steps and re-orthonormalized,
A_l Q_l = Q_{l+1} R_l (QR); the exponents are λ_i = (1/T) Σ_l log |(R_l)_ii|, T = N h, the
growth rates per unit time of perturbations of the whole network, largest first: λ_1 > 0
means the trained network amplifies small input changes (by about e^{λ_1 T}). A_l Q_l are
Jacobian–vector products (``torch.func.jvp`` of the integrator's ``advance``) with the k
tangents stacked along the batch, so one product per step serves every example; the states
come from the one step loop, :meth:`~resode.integrators.base.Integrator.iterate`.
For a linear network with constant step map A, λ_i → log|μ_i(A)| / h as N grows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ResodeError, check_int
from ..model.normalization import require_per_example
from .spectra import analysis_copy


@dataclass
class Lyapunov:
    """Exponents per example, largest first, shape (batch, k), over the time T."""

    exponents: torch.Tensor
    T: float

    def summary(self) -> dict:
        return {
            "k": int(self.exponents.shape[1]),
            "T": self.T,
            "mean": [float(v) for v in self.exponents.mean(dim=0)],
            "max": [float(v) for v in self.exponents.amax(dim=0)],
            "min": [float(v) for v in self.exponents.amin(dim=0)],
            "growth_exp_lambda1_T_max": float(torch.exp(self.exponents[:, 0] * self.T).max()),
        }


def _orthonormalize(tangents, k: int, batch: int) -> tuple[tuple, torch.Tensor]:
    """QR of each example's k tangents (stacked along the batch: (k·batch, …) per part):
    the orthonormal Q in the same layout, and log|diag R| of shape (batch, k)."""
    flat = torch.cat([t.reshape(k, batch, -1) for t in tangents], dim=2)  # (k, batch, n)
    q, r = torch.linalg.qr(flat.permute(1, 2, 0))  # (batch, n, k), (batch, k, k)
    logs = r.diagonal(dim1=1, dim2=2).abs().clamp_min(1e-300).log()
    q = q.permute(2, 0, 1)  # (k, batch, n)
    parts, start = [], 0
    for t in tangents:
        size = t[0].numel()
        parts.append(q[..., start : start + size].reshape(t.shape))
        start += size
    return tuple(parts), logs


def finite_time_lyapunov(integrator, field, carry, h: float, steps, k: int = 3, seed: int = 0):
    """λ_1 ≥ … ≥ λ_k per example (batch, k) of the steps ``steps`` from ``carry``."""
    batch = carry[0].shape[0]
    size = sum(c[0].numel() for c in carry)
    if not 1 <= k <= size:
        raise ResodeError(f"k must be between 1 and the carry size {size}, got {k}")
    generator = torch.Generator().manual_seed(seed)
    tangents = tuple(
        torch.randn((k * batch, *c.shape[1:]), generator=generator, dtype=c.dtype).to(c.device)
        for c in carry
    )
    tangents, _ = _orthonormalize(tangents, k, batch)
    total = torch.zeros(batch, k, dtype=torch.float64)
    for parameters, following in zip(steps, integrator.iterate(field, carry, h, steps)):
        stacked = tuple(c.repeat(k, *([1] * (c.dim() - 1))) for c in carry)

        def step(*parts, parameters=parameters):
            return integrator.advance(field, parts, h, parameters)

        _, pushed = torch.func.jvp(step, stacked, tangents)
        tangents, logs = _orthonormalize(pushed, k, batch)
        total += logs.double().cpu()
        carry = following
    return total / (h * len(steps))


def lyapunov_exponents(block, y0: torch.Tensor, k: int = 3, seed: int = 0) -> Lyapunov:
    """The k leading finite-time Lyapunov exponents of ``block`` along the trajectories of
    ``y0`` (float64; the carry of a two-step or staggered method counts as the state)."""
    check_int("k", k)
    analysed, y0 = analysis_copy(block, y0)
    analysed.requires_grad_(False)
    require_per_example(analysed.dynamics, "Lyapunov exponents")
    field, integrator, h = analysed.dynamics, analysed.integrator, analysed.h
    steps = analysed.stage_parameters()
    with torch.no_grad():
        carry = integrator.initial(field, field.lift(y0), h, steps[0])
        exponents = finite_time_lyapunov(integrator, field, carry, h, steps, k, seed)
    return Lyapunov(exponents, block.T)
