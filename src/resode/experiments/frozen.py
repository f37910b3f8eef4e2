"""Frozen eigenvalues mislead for time-varying Jacobians; the log-norm bound does not.

The Markus–Yamabe (Vinograd-type) system y' = A(t) y with a = 3/2,

    A(t) = [[−1 + a cos²t,  1 − a cos t sin t], [−1 − a sin t cos t,  −1 + a sin²t]],

has frozen eigenvalues (a − 2 ± i√(4 − a²))/2, real part −1/4 at every t ("stable"), yet
y(t) = e^{(a−1)t} (−cos t, sin t) grows like e^{t/2}. The logarithmic norm μ₂(A(t)) =
λ_max((A + Aᵀ)/2) = a − 1 = 1/2 (the symmetric part is −I + a vvᵀ, |v| = 1), so the bound
exp(∫ μ₂) = e^{t/2} holds and is attained. Computed with resode's matrix-free log-norm, its
finite-time Lyapunov exponents (RK4 step map, QR iteration) and ``integrate``.

Writes frozen.json (per step: max Re λ, μ₂; at T: growth, bound, frozen prediction, FTLEs)
and frozen.png (log‖y(t)‖ against the bound and the frozen-eigenvalue prediction).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..analysis.lognorm import log_norm
from ..analysis.lyapunov import finite_time_lyapunov
from ..errors import ResodeError, check_int, check_positive
from ..integrators import get_integrator
from ..integrators.vector_field import integrate
from ..storage import write_json

A_COEFFICIENT = 1.5


def system_matrix(t: float, a: float = A_COEFFICIENT) -> torch.Tensor:
    """A(t) of the Markus–Yamabe example, (2, 2) float64."""
    c, s = math.cos(t), math.sin(t)
    rows = [[-1 + a * c * c, 1 - a * c * s], [-1 - a * s * c, -1 + a * s * s]]
    return torch.tensor(rows, dtype=torch.float64)


def run(out: Path, quick: bool = False, seed: int = 0, T: float = 10.0, steps: int = 400) -> dict:
    """Integrate from y(0) = (−1, 0) with RK4 over [0, T]; ``seed`` is unused (deterministic)."""
    T, steps = check_positive("T", T), check_int("steps", steps)
    if quick:
        T, steps = min(T, 4.0), min(steps, 80)
    h = T / steps
    if h > 0.5:
        raise ResodeError(f"steps must be at least 2T = {math.ceil(2 * T)}, got {steps}")

    def f(t: float, y: torch.Tensor) -> torch.Tensor:
        return y @ system_matrix(t).T

    y0 = torch.tensor([[-1.0, 0.0]], dtype=torch.float64)
    path = integrate(f, y0, T, steps, method="rk4", return_trajectory=True)[:, 0]
    times = [l * h for l in range(steps + 1)]
    frozen = [float(torch.linalg.eigvals(system_matrix(t)).real.max()) for t in times[:-1]]
    mu = [float(log_norm(lambda y, t=t: f(t, y), y[None])) for t, y in zip(times, path[:-1])]
    rk4 = get_integrator("rk4")
    stages = [[(l + c) * h for c in rk4.stage_offsets] for l in range(steps)]
    ftle = finite_time_lyapunov(rk4, lambda y, t: f(t, y), (y0,), h, stages, k=2)[0]
    norms = path.norm(dim=1).numpy()
    result = {
        "T": T,
        "steps": steps,
        "max_real_frozen": max(frozen),
        "log_norm_min": min(mu),
        "log_norm_max": max(mu),
        "growth": float(norms[-1] / norms[0]),
        "exact_growth": math.exp((A_COEFFICIENT - 1) * T),
        "log_norm_bound": math.exp(h * sum(mu)),
        "frozen_prediction": math.exp(h * sum(frozen)),
        "lyapunov_exponents": [float(v) for v in ftle],
    }
    write_json(out / "frozen.json", result)
    _plot(np.array(times), norms, np.array(mu), np.array(frozen), h, out / "frozen.png")
    return result


def _plot(times, norms, mu, frozen, h: float, path: Path) -> None:
    from ..plots import plt, save_figure

    figure, axis = plt.subplots(figsize=(6.4, 4.0))
    axis.semilogy(times, norms, label="‖y(t)‖ (RK4)", linewidth=2)
    axis.semilogy(
        times, np.exp(h * np.concatenate([[0], np.cumsum(mu)])), "--", label="bound exp(Σ h μ₂)"
    )
    axis.semilogy(
        times,
        np.exp(h * np.concatenate([[0], np.cumsum(frozen)])),
        ":",
        label="frozen: exp(Σ h max Re λ)",
    )
    axis.set_xlabel("t")
    axis.set_title("Markus–Yamabe: Re λ(A(t)) = −1/4, yet ‖y‖ grows like $e^{t/2}$")
    axis.legend()
    save_figure(figure, path)
