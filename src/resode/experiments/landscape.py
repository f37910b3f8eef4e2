"""Why you should care about stability: the objective landscape of a forward-Euler network.

Y_{j+1} = Y_j + h tanh(K(θ) Y_j), h = T/N, K(θ) = −(θ₁+θ₂)I + θ₁S + θ₂Sᵀ (S the cyclic shift),
E(θ) = ½‖Y_N(θ) − C‖²_F with targets C = Y_200 at θ = (1, 1). K's eigenvalues are 0 and
−1.5(θ₁+θ₂) ± i(√3/2)(θ₁−θ₂), so at T = 10 the linearized Euler step is stable for N = 100
on the whole grid but for N = 5 only near the corner θ₁ + θ₂ ≤ 2/3 (1 % of the grid); on the
rest the landscape is shaped by the instability and train and test objectives disagree.

Measured (seed 0, scale 0.1, grid 101): at N = 5 the train minimum sits at the corner
(0.22, 0.2), the landscape has ~160 strict local minima and max |train − test| ≈ 45 (the
lecture reports 36.7 with its own inputs); at N = 100 the minimum is at (0.94, 0.94), unique,
and max |train − test| ≈ 1.3e-4 (lecture: 5.5e-5). Our random inputs differ from the
lecture's, so only orders of magnitude and locations are comparable; nothing was tuned.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import ResodeError, check_int, check_positive
from ..storage import write_json

T_FINAL = 10.0
TARGET_STEPS = 200
TARGET_THETA = (1.0, 1.0)
THETA_RANGE = (0.2, 2.0)
WIDTH = 3
EXAMPLES = 20


def landscape_kernels(thetas: torch.Tensor) -> torch.Tensor:
    """K(θ) = −(θ₁+θ₂)I + [[0,θ₁,θ₂],[θ₂,0,θ₁],[θ₁,θ₂,0]] per row of thetas (P, 2): (P, 3, 3)."""
    eye = torch.eye(WIDTH, dtype=thetas.dtype, device=thetas.device)
    shift = torch.roll(eye, 1, dims=1)  # ones at (0,1), (1,2), (2,0)
    t1, t2 = thetas[:, 0, None, None], thetas[:, 1, None, None]
    return t1 * (shift - eye) + t2 * (shift.T - eye)


def landscape_forward(thetas: torch.Tensor, y0: torch.Tensor, T: float, steps: int) -> torch.Tensor:
    """Forward Euler Y ← Y + h tanh(K(θ)Y) for all θ at once; y0 (m, 3) batch-first → (P, m, 3).

    Written out with in-place updates (one bmm, tanh and axpy per step into two buffers), so
    the result is not differentiable. This is resode's one step loop outside
    :meth:`~resode.integrators.base.Integrator.iterate`: each step's tensors are large
    (P = 101² kernels × 40 examples) and the work per element tiny, so fresh tensors per
    step dominate. Measured with ``benchmarks/landscape_loop.py`` (N = 5 and 100, grid 101,
    2 shared CPU cores, 20 alternated rounds, three runs), forward Euler through
    ``Integrator.iterate`` on the same field took 1.56–1.61× this loop's time, and
    1.27–1.33× with the field writing into one reused buffer; the states are bit-identical.
    """
    kernels_t = landscape_kernels(thetas).transpose(1, 2).contiguous()  # K y = y Kᵀ per row
    h = T / steps
    y = y0.expand(thetas.shape[0], *y0.shape).clone()
    slope = torch.empty_like(y)
    with torch.no_grad():
        for _ in range(steps):
            torch.bmm(y, kernels_t, out=slope)
            y.add_(slope.tanh_(), alpha=h)
    return y


def landscape_objective(
    thetas: torch.Tensor, y0: torch.Tensor, targets: torch.Tensor, T: float, steps: int
) -> torch.Tensor:
    """E(θ) = ½‖Y_N(θ) − C‖²_F for every row of ``thetas`` (P, 2); y0, targets (m, 3) → (P,)."""
    if thetas.dim() != 2 or thetas.shape[1] != 2:
        raise ResodeError(f"thetas must have shape (P, 2), got {tuple(thetas.shape)}")
    if y0.shape != targets.shape or y0.dim() != 2 or y0.shape[1] != WIDTH:
        raise ResodeError(
            f"y0 and targets must both have shape (m, {WIDTH}), "
            f"got {tuple(y0.shape)} and {tuple(targets.shape)}"
        )
    final = landscape_forward(thetas, y0, T, check_int("steps", steps))
    return 0.5 * (final - targets).pow(2).sum(dim=(1, 2))


def _train_and_test_objectives(
    thetas: torch.Tensor, inputs: dict, targets: dict, steps: int
) -> dict[str, torch.Tensor]:
    """landscape_objective for train and test from one forward pass (examples side by side).

    Half the number of (tiny, per-step) kernel launches: this matters on a busy 2-core machine.
    """
    y0 = torch.cat([inputs["train"], inputs["test"]])
    misfit = landscape_forward(thetas, y0, T_FINAL, steps) - torch.cat(
        [targets["train"], targets["test"]]
    )
    per_example = 0.5 * misfit.pow(2).sum(dim=2)  # (P, train + test examples)
    train, test = per_example.split([len(inputs["train"]), len(inputs["test"])], dim=1)
    return {"train": train.sum(dim=1), "test": test.sum(dim=1)}


def strict_local_minima(values: np.ndarray) -> int:
    """Number of interior grid points strictly below all 8 neighbours."""
    centre = values[1:-1, 1:-1]
    rows, cols = values.shape
    is_minimum = np.ones_like(centre, dtype=bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                neighbour = values[1 + di : rows - 1 + di, 1 + dj : cols - 1 + dj]
                is_minimum &= centre < neighbour
    return int(is_minimum.sum())


def _euler_stable_fraction(thetas: torch.Tensor, h: float) -> float:
    """Fraction of θ where every eigenvalue λ of K(θ) has |1 + hλ| ≤ 1 (the tanh ≈ id regime)."""
    eigenvalues = torch.linalg.eigvals(landscape_kernels(thetas))
    amplification = (1 + h * eigenvalues).abs().amax(dim=1)
    return float((amplification <= 1 + 1e-12).double().mean())


def run(
    out: Path,
    quick: bool = False,
    seed: int = 0,
    steps: tuple[int, ...] = (5, 100),
    grid: int = 101,
    scale: float = 0.1,
) -> dict:
    """Objective landscapes E(θ) on train and test inputs for each number of steps N."""
    out = Path(out)
    steps = tuple(check_int("steps", n) for n in steps)
    grid = check_int("grid", grid, minimum=3)
    scale = check_positive("scale", scale)
    if quick:
        grid = min(grid, 21)
    generator = torch.Generator().manual_seed(seed)
    dtype = torch.float64
    inputs = {
        name: scale * torch.randn(EXAMPLES, WIDTH, generator=generator, dtype=dtype)
        for name in ("train", "test")
    }
    reference = torch.tensor([TARGET_THETA], dtype=dtype)
    targets = {
        name: landscape_forward(reference, y0, T_FINAL, TARGET_STEPS)[0]
        for name, y0 in inputs.items()
    }
    axis = torch.linspace(*THETA_RANGE, grid, dtype=dtype)
    theta2, theta1 = torch.meshgrid(axis, axis, indexing="ij")  # rows: θ₂, columns: θ₁
    thetas = torch.stack([theta1.reshape(-1), theta2.reshape(-1)], dim=1)

    result: dict = {
        "T": T_FINAL,
        "grid": grid,
        "scale": scale,
        "seed": seed,
        "examples": EXAMPLES,
        "theta_range": list(THETA_RANGE),
        "lecture": {"max_abs_train_test_diff": {"N=5": 36.7, "N=100": 5.5e-5}},
    }
    surfaces: dict[int, dict[str, np.ndarray]] = {}
    for n in steps:
        result[f"N={n}"], surfaces[n] = _at_depth(n, thetas, inputs, targets, reference, grid)

    write_json(out / "landscape.json", result)
    _plot(out / "landscape.png", axis.numpy(), surfaces, result)
    return result


def _at_depth(n: int, thetas, inputs: dict, targets: dict, reference, grid: int):
    """The numbers of the landscape at N = n steps, and its surfaces (train, test, diff)."""
    objective = _train_and_test_objectives(thetas, inputs, targets, n)
    difference = (objective["train"] - objective["test"]).abs()
    entry = {}
    for name, values in objective.items():
        best = int(torch.argmin(values))
        entry[f"argmin_{name}"] = [float(thetas[best, 0]), float(thetas[best, 1])]
        entry[f"min_{name}"] = float(values[best])
    entry["objective_at_1_1"] = {
        name: float(landscape_objective(reference, inputs[name], targets[name], T_FINAL, n)[0])
        for name in ("train", "test")
    }
    entry["max_abs_train_test_diff"] = float(difference.max())
    surface = {name: values.reshape(grid, grid).numpy() for name, values in objective.items()}
    surface["diff"] = difference.reshape(grid, grid).numpy()
    entry["local_minima"] = strict_local_minima(surface["train"])
    entry["euler_stable_fraction"] = _euler_stable_fraction(thetas, T_FINAL / n)
    return entry, surface


def _plot(path: Path, axis: np.ndarray, surfaces: dict, result: dict) -> None:
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    rows = len(surfaces)
    figure, axes = plt.subplots(
        rows, 3, figsize=(15, 4.4 * rows), squeeze=False, layout="constrained"
    )
    for row, (n, surface) in enumerate(surfaces.items()):
        entry = result[f"N={n}"]
        logs = {key: np.log10(np.maximum(surface[key], 1e-300)) for key in ("train", "test")}
        low = min(v.min() for v in logs.values())
        high = max(v.max() for v in logs.values())
        shared = np.linspace(low, high, 25) if high > low else 25
        panels = (
            (logs["train"], f"train objective, N={n}", shared, "log₁₀ E_train(θ)"),
            (logs["test"], f"test objective, N={n}", shared, "log₁₀ E_test(θ)"),
            (
                surface["diff"],
                f"|train − test|, N={n}, max {entry['max_abs_train_test_diff']:.3g}",
                25,
                "|E_train(θ) − E_test(θ)|",
            ),
        )
        for col, (values, title, levels, label) in enumerate(panels):
            ax = axes[row, col]
            cmap = "magma" if col == 2 else "viridis"
            filled = ax.contourf(axis, axis, values, levels=levels, cmap=cmap)
            colorbar = figure.colorbar(filled, ax=ax, format="%.3g" if col == 2 else "%.1f")
            colorbar.set_label(label)
            ax.plot(*TARGET_THETA, "r*", markersize=12, label="θ = (1, 1), the targets' θ")
            if col < 2:
                key = ("train", "test")[col]
                ax.plot(*entry[f"argmin_{key}"], "wx", markersize=10, mew=2, label="grid argmin")
            ax.set_xlabel("θ₁")
            ax.set_ylabel("θ₂")
            ax.set_title(title, fontsize=10)
            ax.set_aspect("equal")
            if col == 0:
                ax.legend(loc="upper right", fontsize=7)
    figure.suptitle(
        "Forward Euler Y ← Y + (T/N) tanh(K(θ)Y), T = 10: objective landscape, train vs test"
    )
    save_figure(figure, path)
