"""Forward propagation through a stable ODE that forward Euler makes unstable.

y' = tanh(Ky), K = [[a, −0.2], [0.2, a]], a = −0.001: the eigenvalues a ± 0.2i have negative
real part, so the exact solution spirals slowly inwards, but the Euler step amplifies the
linearized dynamics by |1 + h(a ± 0.2i)| = √((1 + ha)² + (0.2h)²) > 1 at h = 0.1 and the
Euler iterates spiral outwards. The reference is RK4 with ``refinement``-times smaller steps.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..errors import ResodeError, check_int, check_positive
from ..integrators.vector_field import integrate
from ..storage import write_json

ROTATION = 0.2
STARTS = ((1.0, 1.0), (-1.0, -1.0))


def spiral_kernel(a: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """K = [[a, −0.2], [0.2, a]]."""
    return torch.tensor([[a, -ROTATION], [ROTATION, a]], dtype=dtype)


def run(
    out: Path,
    quick: bool = False,
    seed: int = 0,
    a: float = -0.001,
    h: float = 0.1,
    steps: int = 1000,
    refinement: int = 10,
) -> dict:
    """Euler with step h vs RK4 with step h/refinement on y' = tanh(Ky) from ±(1, 1).

    ``seed`` is unused (the experiment is deterministic). ``quick`` uses refinement 1.
    """
    out = Path(out)
    a = float(a)
    if not math.isfinite(a):
        raise ResodeError(f"a must be a finite number, got {a!r}")
    h = check_positive("h", h)
    if isinstance(steps, (tuple, list)) and len(steps) == 1:
        steps = steps[0]  # ``resode experiment NAME --steps 500`` passes a one-element list
    steps = check_int("steps", steps)
    refinement = check_int("refinement", refinement)
    if quick:
        refinement = 1
    kernel_t = spiral_kernel(a).T.contiguous()

    def field(t: float, y: torch.Tensor) -> torch.Tensor:
        return torch.tanh(y @ kernel_t)

    y0 = torch.tensor(STARTS, dtype=torch.float64)  # batch-first: one starting point per row
    T = steps * h
    euler = integrate(field, y0, T, steps, "euler", return_trajectory=True)
    reference = integrate(field, y0, T, steps * refinement, "rk4", return_trajectory=True)
    reference = reference[::refinement]  # the reference at the Euler times t_l = l h
    euler_radius = euler.norm(dim=2).numpy()  # (steps + 1, starts)
    reference_radius = reference.norm(dim=2).numpy()
    amplification = abs(complex(1 + h * a, h * ROTATION))

    per_start = _radii_per_start(euler_radius, reference_radius)
    first = per_start["start=(1,1)"]
    result = {
        "a": a,
        "h": h,
        "steps": steps,
        "T": T,
        "reference": f"rk4, h = {h / refinement:g}, {steps * refinement} steps",
        "euler_amplification_linearized": amplification,
        "linear_decay_factor_exact": math.exp(a * T),
        "initial_radius": first["initial_radius"],
        "euler_final_radius": first["euler_final_radius"],
        "reference_final_radius": first["reference_final_radius"],
        "starts": per_start,
        "seed": seed,
    }
    write_json(out / "spiral.json", result)
    times = h * np.arange(steps + 1)
    _plot(out / "spiral.png", euler.numpy(), reference.numpy(), times, result)
    return result


def _radii_per_start(euler_radius: np.ndarray, reference_radius: np.ndarray) -> dict:
    """Initial, final and largest radius of each start's Euler path, final of the reference."""
    per_start = {}
    for index, start in enumerate(STARTS):
        per_start[f"start=({start[0]:g},{start[1]:g})"] = {
            "initial_radius": float(euler_radius[0, index]),
            "euler_final_radius": float(euler_radius[-1, index]),
            "reference_final_radius": float(reference_radius[-1, index]),
            "euler_max_radius": float(euler_radius[:, index].max()),
        }
    return per_start


def _plot(
    path: Path, euler: np.ndarray, reference: np.ndarray, times: np.ndarray, result: dict
) -> None:
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5.6), layout="constrained")
    colors = plt.get_cmap("tab10").colors
    for index, start in enumerate(STARTS):
        name = f"({start[0]:g}, {start[1]:g})"
        left.plot(*euler[:, index].T, color=colors[2 * index], lw=0.9, label=f"Euler from {name}")
        left.plot(
            *reference[:, index].T,
            color=colors[2 * index + 1],
            lw=0.9,
            ls="--",
            label=f"reference from {name}",
        )
        left.plot(*start, "ko", markersize=5)
        right.plot(times, np.linalg.norm(euler[:, index], axis=1), color=colors[2 * index])
        right.plot(
            times, np.linalg.norm(reference[:, index], axis=1), color=colors[2 * index + 1], ls="--"
        )
    left.set_aspect("equal")
    left.set_xlabel("y₁")
    left.set_ylabel("y₂")
    left.set_title(
        f"y' = tanh(Ky), a = {result['a']:g}: Euler h = {result['h']:g} vs {result['reference']}",
        fontsize=10,
    )
    left.legend(fontsize=8, loc="upper right")
    right.axhline(result["initial_radius"], color="gray", lw=0.8, ls=":", label="initial radius")
    right.plot([], [], color="k", label="forward Euler")
    right.plot([], [], color="k", ls="--", label="reference (RK4)")
    right.set_xlabel("t")
    right.set_ylabel("radius ‖Y(t)‖")
    right.set_title(
        f"radius: Euler {result['initial_radius']:.3f} → {result['euler_final_radius']:.3f}, "
        f"reference → {result['reference_final_radius']:.3f} (both starts coincide)",
        fontsize=10,
    )
    right.legend(fontsize=8)
    save_figure(figure, path)
