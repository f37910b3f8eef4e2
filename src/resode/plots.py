"""Figures (matplotlib, Agg backend, written atomically as PNG)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from .checkpoint import atomic_write  # noqa: E402


def save_figure(figure, path: str | Path) -> None:
    """Render ``figure`` to PNG and write it atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    atomic_write(path, lambda f: f.write(buffer.getvalue()), binary=True)


@torch.no_grad()
def plot_decision_boundary(model, dataset, path: str | Path, resolution: int = 300) -> None:
    """Predicted class over the bounding box of the data, with the test points on top."""
    x = torch.cat([dataset.x_train, dataset.x_test]).float().cpu().numpy()
    low, high = x.min(axis=0), x.max(axis=0)
    margin = 0.05 * (high - low)
    gx, gy = (np.linspace(lo - m, hi + m, resolution) for lo, hi, m in zip(low, high, margin))
    mesh = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    parameter = next(model.parameters())
    grid = torch.as_tensor(mesh, dtype=parameter.dtype, device=parameter.device)
    was_training = model.training
    model.eval()
    predicted = torch.cat([model(chunk).argmax(dim=1) for chunk in grid.split(8192)])
    model.train(was_training)
    regions = predicted.cpu().numpy().reshape(resolution, resolution)
    classes = dataset.num_classes
    cmap = plt.get_cmap("tab10", 10)
    figure, axes = plt.subplots(figsize=(5.5, 5))
    axes.contourf(
        gx,
        gy,
        regions,
        levels=np.arange(classes + 1) - 0.5,
        cmap=cmap,
        vmin=-0.5,
        vmax=9.5,
        alpha=0.35,
    )
    test_x = dataset.x_test.float().cpu().numpy()
    test_y = dataset.y_test.cpu().numpy()
    axes.scatter(
        test_x[:, 0],
        test_x[:, 1],
        c=test_y,
        cmap=cmap,
        vmin=-0.5,
        vmax=9.5,
        s=6,
        edgecolors="k",
        linewidths=0.2,
    )
    accuracy = float((model(dataset.x_test).argmax(dim=1) == dataset.y_test).float().mean())
    block = model.block
    axes.set_title(
        f"{dataset.name}: {block.dynamics_name} + {block.integrator.name}, N={block.steps}, "
        f"test acc {accuracy:.3f}",
        fontsize=9,
    )
    axes.set_aspect("equal")
    save_figure(figure, path)


def plot_spectrum(eigenvalues: torch.Tensor, h: float, integrator, path: str | Path) -> None:
    """hλ of every step (colour = step) over the integrator's stability region |R(z)| ≤ 1.

    ``eigenvalues``: complex tensor of shape (steps, …).
    """
    z = (h * eigenvalues).reshape(eigenvalues.shape[0], -1).numpy()
    steps = np.broadcast_to(np.arange(z.shape[0])[:, None], z.shape)
    reach = max(3.2, 1.15 * float(np.abs(z).max(initial=0.0)))
    grid = np.linspace(-reach, reach, 401)
    zz = grid[None, :] + 1j * grid[:, None]
    inside = np.abs(integrator.stability_function(zz)) <= 1
    figure, axes = plt.subplots(figsize=(6, 5.2))
    axes.contourf(grid, grid, inside.astype(float), levels=[0.5, 1.5], colors=["#cfe3f7"])
    axes.contour(grid, grid, inside.astype(float), levels=[0.5], colors=["#3a6ea5"], linewidths=1)
    axes.axhline(0, color="0.6", lw=0.5)
    axes.axvline(0, color="0.6", lw=0.5)
    points = axes.scatter(
        z.real.ravel(), z.imag.ravel(), c=steps.ravel(), cmap="viridis", s=4, alpha=0.6
    )
    figure.colorbar(points, ax=axes, label="step l")
    axes.set_xlabel("Re(hλ)")
    axes.set_ylabel("Im(hλ)")
    axes.set_title(
        f"hλ of J along trajectories, h = {h:.3g}, over the {integrator.name} region |R(z)| ≤ 1",
        fontsize=9,
    )
    axes.set_aspect("equal")
    save_figure(figure, path)
