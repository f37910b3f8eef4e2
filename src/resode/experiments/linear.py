"""Forward Euler on the scalar test equation y' = λy, λ < 0.

y_{l+1} = (1 + hλ) y_l, so y_l = (1 + hλ)^l y_0 decays exactly when hλ lies in the stability
region |1 + z| ≤ 1, i.e. 0 < h ≤ 2/|λ|, although the exact solution e^{λt} decays for every h.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..errors import ResodeError, check_positive
from ..integrators import get_integrator
from ..integrators.vector_field import integrate
from ..storage import write_json


def run(
    out: Path,
    quick: bool = False,
    seed: int = 0,
    lam: float = -1.0,
    h_values: tuple[float, ...] = (0.5, 2.5),
    T: float = 20.0,
) -> dict:
    """Integrate y' = λy, y(0) = 1 with forward Euler for each step size in ``h_values``.

    Each run takes ceil(T/h) steps of exactly h (so it ends at t ≥ T). ``seed`` is unused (the
    experiment is deterministic); ``quick`` changes nothing because the full size takes
    milliseconds.
    """
    out = Path(out)
    lam = float(lam)
    if not (math.isfinite(lam) and lam < 0):
        raise ResodeError(f"lam must be a finite negative number, got {lam!r}")
    h_values = tuple(check_positive("h", h) for h in h_values)
    if not h_values:
        raise ResodeError("h_values must name at least one step size")
    T = check_positive("T", T)
    euler = get_integrator("euler")
    y0 = torch.ones(1, dtype=torch.float64)

    runs = []
    trajectories = []
    for h in h_values:
        steps = math.ceil(T / h - 1e-9)
        path = integrate(
            lambda t, y: lam * y, y0, steps * h, steps, "euler", return_trajectory=True
        )
        amplification = abs(complex(euler.stability_function(complex(h * lam))))
        final_abs = float(path[-1].abs())
        runs.append(
            {
                "h": h,
                "h_times_lambda": h * lam,
                "steps": steps,
                "amplification": amplification,
                "stable": amplification <= 1.0,
                "final_abs": final_abs,
                "exact_final_abs": math.exp(lam * steps * h),
            }
        )
        trajectories.append((h * np.arange(steps + 1), path[:, 0].numpy()))

    result = {
        "lam": lam,
        "T": T,
        "y0": 1.0,
        "stable_step_limit": 2.0 / abs(lam),
        "runs": runs,
        "seed": seed,
    }
    write_json(out / "linear.json", result)
    _plot(out / "linear.png", lam, runs, trajectories, euler)
    return result


def _plot(path: Path, lam: float, runs: list[dict], trajectories: list, euler) -> None:
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    points = [run["h_times_lambda"] for run in runs]
    re_low = min(-3.0, 1.25 * min(points))
    re = np.linspace(re_low, 1.0, 400)
    im = np.linspace(-2.0, 2.0, 300)
    z = re[None, :] + 1j * im[:, None]
    modulus = np.abs(euler.stability_function(z))
    left.contourf(re, im, modulus, levels=[0.0, 1.0], colors=["tab:green"], alpha=0.3)
    left.contour(re, im, modulus, levels=[1.0], colors=["tab:green"])
    left.plot([], [], color="tab:green", lw=6, alpha=0.3, label="stable: |1 + z| ≤ 1")
    left.axhline(0, color="gray", lw=0.6)
    left.axvline(0, color="gray", lw=0.6)
    colors = plt.get_cmap("tab10")
    for index, run in enumerate(runs):
        verdict = "stable" if run["stable"] else "unstable"
        left.plot(
            run["h_times_lambda"],
            0.0,
            "o",
            color=colors(index),
            markersize=9,
            label=f"z = hλ = {run['h_times_lambda']:.3g} ({verdict}, |R| = "
            f"{run['amplification']:.3g})",
        )
    left.set_xlabel("Re z")
    left.set_ylabel("Im z")
    left.set_aspect("equal")
    left.set_title("Forward Euler stability region R(z) = 1 + z, with z = hλ")
    left.legend(loc="upper left", fontsize=8)

    t_end = max(times[-1] for times, _ in trajectories)
    fine = np.linspace(0.0, t_end, 400)
    right.plot(fine, np.exp(lam * fine), "k-", lw=2, label="exact |y(t)| = exp(λt)")
    for index, (run, (times, values)) in enumerate(zip(runs, trajectories)):
        right.plot(
            times,
            np.abs(values),
            "o-",
            color=colors(index),
            markersize=3,
            label=f"Euler, h = {run['h']:.3g} (|1 + hλ| = {run['amplification']:.3g})",
        )
    right.set_xlabel("t")
    right.set_ylabel("|y_l| (log scale)")
    right.set_yscale("log")
    right.set_title(f"y' = λy, λ = {lam:g}, y(0) = 1: Euler |y_l| = |1 + hλ|^l vs exact")
    right.legend(fontsize=8)
    save_figure(figure, path)
