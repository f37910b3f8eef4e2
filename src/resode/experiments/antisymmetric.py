"""Antisymmetric dynamics y' = Ky, K = W − Wᵀ: Re λ(K) = 0, so ‖y(t)‖ = ‖y(0)‖ exactly.

One step of an explicit Runge–Kutta method is Y_{l+1} = R(hK) Y_l, and K is normal, so
‖Y_l‖/‖Y_0‖ ≤ max_λ |R(hλ)|^l. On the imaginary axis |R(iy)| > 1 for every y ≠ 0 for forward
Euler (√(1 + y²)) and Heun (√(1 + y⁴/4)); RK3 keeps |R| ≤ 1 for |y| ≤ √3 and RK4 for |y| ≤ 2√2.
The default h·ρ(K) = 2 therefore separates RK4 (bounded) from the other three (growing).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..errors import check_int, check_positive
from ..integrators import get_integrator
from ..storage import write_json

METHODS = ("euler", "heun", "rk3", "rk4")
IMAGINARY_LIMITS = {"euler": 0.0, "heun": 0.0, "rk3": math.sqrt(3.0), "rk4": 2.0 * math.sqrt(2.0)}
LARGEST_FLOAT_LOG10 = 300.0


def norm_history(
    method: str, kernel: torch.Tensor, y0: torch.Tensor, h: float, steps: int
) -> np.ndarray:
    """log₁₀(‖Y_l‖/‖Y_0‖) for l = 0..steps under y' = Ky (row form y ← y Kᵀ).

    The carry is rescaled to unit norm (in place) after every step and the scales are
    accumulated in log space: the ODE is linear, so this is exact and cannot overflow however
    fast Y grows.
    """
    integrator = get_integrator(method)
    kernel_t = kernel.T.contiguous()

    def field(y: torch.Tensor, _: object) -> torch.Tensor:
        return y @ kernel_t

    plan = [(None,) * len(integrator.stage_offsets)] * steps
    logs = np.zeros(steps + 1)
    with torch.no_grad():
        start = integrator.initial(field, y0 / y0.norm(), h, plan[0])
        for l, carry in enumerate(integrator.iterate(field, start, h, plan)):
            scale = integrator.current(carry).norm()
            logs[l + 1] = logs[l] + math.log10(float(scale))
            for part in carry:  # the loop goes on from the rescaled carry
                part.div_(scale)
    return logs


def run(
    out: Path,
    quick: bool = False,
    seed: int = 0,
    width: int = 8,
    steps: int = 1000,
    h_rho: float = 2.0,
) -> dict:
    """Integrate y' = (W − Wᵀ)y with euler, heun, rk3, rk4 at h = h_rho / ρ(K)."""
    out = Path(out)
    width = check_int("width", width, minimum=2)
    if isinstance(steps, (tuple, list)) and len(steps) == 1:
        steps = steps[0]  # ``resode experiment NAME --steps 500`` passes a one-element list
    steps = check_int("steps", steps)
    h_rho = check_positive("h_rho", h_rho)
    if quick:
        steps = min(steps, 200)
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randn(width, width, generator=generator, dtype=torch.float64)
    kernel = weights - weights.T
    y0 = torch.randn(1, width, generator=generator, dtype=torch.float64)
    eigenvalues = np.linalg.eigvals(kernel.numpy())
    spectral_radius = float(np.abs(eigenvalues).max())
    h = h_rho / spectral_radius

    result: dict = {
        "width": width,
        "steps": steps,
        "seed": seed,
        "h": h,
        "h_times_spectral_radius": h_rho,
        "spectral_radius": spectral_radius,
        "max_abs_real_eigenvalue": float(np.abs(eigenvalues.real).max()),
        "integrators": {},
    }
    histories = {}
    for method in METHODS:
        logs = norm_history(method, kernel, y0, h, steps)
        histories[method] = logs
        amplification = np.abs(get_integrator(method).stability_function(h * eigenvalues))
        max_abs_r = float(amplification.max())
        log10_growth = float(logs[-1])
        result["integrators"][method] = {
            "growth": 10.0**log10_growth if log10_growth < LARGEST_FLOAT_LOG10 else None,
            "log10_growth": log10_growth,
            "max_abs_R": max_abs_r,
            "log10_growth_bound": steps * math.log10(max_abs_r),
            "imaginary_axis_limit": IMAGINARY_LIMITS[method],
        }
    write_json(out / "antisymmetric.json", result)
    _plot(out / "antisymmetric.png", histories, result, h * np.abs(eigenvalues.imag))
    return result


def _plot(path: Path, histories: dict, result: dict, frequencies: np.ndarray) -> None:
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(19, 5.2), layout="constrained")
    colors = dict(zip(METHODS, plt.get_cmap("tab10").colors))
    styles = {"euler": ("-", 3.0), "heun": ("--", 1.5), "rk3": ("-", 1.5), "rk4": ("-", 1.5)}
    for method, logs in histories.items():
        entry = result["integrators"][method]
        left.plot(
            np.arange(len(logs)),
            logs,
            color=colors[method],
            ls=styles[method][0],
            lw=styles[method][1],
            label=f"{method}: max|R(hλ)| = {entry['max_abs_R']:.3f}",
        )
    left.axhline(0.0, color="k", lw=0.8, ls="--", label="exact: ‖Y(t)‖ = ‖Y(0)‖")
    left.set_xlabel("step l")
    left.set_ylabel("log₁₀(‖Y_l‖ / ‖Y_0‖)")
    left.set_title(
        f"y' = Ky, K = W − Wᵀ ({result['width']}×{result['width']}), "
        f"h·ρ(K) = {result['h_times_spectral_radius']:.3g}: norm growth"
    )
    left.legend(fontsize=8)

    bounded = [method for method, logs in histories.items() if logs.max() < 1.0]
    for method in bounded:
        logs = histories[method]
        middle.plot(np.arange(len(logs)), 10.0**logs, color=colors[method], label=method)
    middle.axhline(1.0, color="k", lw=0.8, ls="--", label="exact")
    middle.set_ylim(0.0, 1.1 * max([1.0, *(10.0 ** histories[m].max() for m in bounded)]))
    middle.set_xlabel("step l")
    middle.set_ylabel("‖Y_l‖ / ‖Y_0‖")
    middle.set_title("close-up of the methods that stay below 10× growth")
    middle.legend(fontsize=8)

    y = np.linspace(0.0, max(3.2, 1.1 * float(frequencies.max())), 400)
    for method in METHODS:
        modulus = np.abs(get_integrator(method).stability_function(1j * y))
        right.plot(y, modulus, color=colors[method], label=method)
    for index, value in enumerate(np.unique(np.round(frequencies[frequencies > 1e-12], 12))):
        right.axvline(value, color="gray", lw=0.7, ls=":", label="h|λ| of K" if not index else None)
    right.axhline(1.0, color="k", lw=0.8, ls="--")
    right.set_ylim(0.0, 3.0)
    right.set_xlabel("y  (z = iy on the imaginary axis)")
    right.set_ylabel("|R(iy)|")
    right.set_title("Stability functions on the imaginary axis; |R| ≤ 1 is stable")
    right.legend(fontsize=8)
    save_figure(figure, path)
