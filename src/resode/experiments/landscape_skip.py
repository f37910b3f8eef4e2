"""``landscape-skip`` — skip connections smooth the objective (Li et al. 2018).

A plain network Y_{l+1} = σ(K_l Y_l + b_l) and a residual network Y_{l+1} = Y_l + σ(K_l Y_l +
b_l) (h = 1) are trained on the same data for the same epochs at a shallow and a deep depth N.
Reported for each: test accuracy and loss, and the roughness of the test loss around the
trained weights — the share of strict local minima on a filter-normalized random plane and
|λ_min / λ_max| of the Hessian (see :mod:`resode.analysis.landscape`).
"""

from __future__ import annotations

from pathlib import Path

from ..analysis.landscape import plane
from ..plots import draw_plane, loss_colorbar, plt, save_figure
from ..runs import load_run
from ..storage import write_json
from ..training.config import TrainConfig
from ..training.loop import train

NETWORKS = ("plain", "resnet")


def run(
    out: Path,
    quick: bool = False,
    seed: int = 0,
    steps: tuple[int, ...] = (4, 32),
    grid: int | None = None,
) -> dict:
    grid = grid or (5 if quick else 31)
    epochs = 1 if quick else 20
    result = {"data": "peaks", "epochs": epochs, "grid": grid, "seed": seed, "networks": []}
    planes = []
    for network in NETWORKS:
        for depth in steps:
            row, landscape = _one(out, network, depth, epochs, grid, seed, quick)
            result["networks"].append(row)
            planes.append(landscape)
    _plot(result, planes, out / "landscape-skip.png")
    write_json(out / "landscape-skip.json", result)
    return result


def _one(out: Path, network: str, depth: int, epochs: int, grid: int, seed: int, quick: bool):
    """Train one network, measure its plane; its table row and the plane."""
    config = TrainConfig(
        data="peaks", network=network, dynamics="standard", width=16, steps=depth,
        epochs=epochs, seed=seed, device="cpu",
    )  # fmt: skip
    metrics = train(config, out / f"landscape-skip-{network}-N{depth}", progress=False)
    model, dataset = load_run(out / f"landscape-skip-{network}-N{depth}")
    landscape = plane(model, dataset, "test", grid, 1.0, seed, 5 if quick else 20)
    roughness = landscape["roughness"]
    row = {
        "network": network,
        "steps": depth,
        "test_accuracy": metrics["test_accuracy"],
        "test_loss": metrics["test_loss"],
        "strict_minima_share": roughness["strict_minima_share"],
        "hessian_max": roughness["hessian"]["max"],
        "hessian_min": roughness["hessian"]["min"],
        "hessian_ratio": roughness["hessian"]["ratio"],
        "plane_seconds": landscape["seconds"]["grid"],
    }
    return row, landscape


def _plot(result: dict, planes: list[dict], file: Path) -> None:
    columns = len(planes) // len(NETWORKS)
    figure, axes = plt.subplots(
        len(NETWORKS),
        columns,
        figsize=(5.6 * columns, 4.8 * len(NETWORKS)),
        squeeze=False,
        constrained_layout=True,
    )
    for ax, row, landscape in zip(axes.ravel(), result["networks"], planes):
        title = f"{row['network']}, N = {row['steps']}: test accuracy {row['test_accuracy']:.3f}"
        loss_colorbar(figure, draw_plane(ax, landscape, title), ax, "test loss")
    figure.suptitle(
        f"peaks, σ = tanh, width 16, {result['epochs']} epoch(s): test loss on a random "
        "filter-normalized plane",
        fontsize=11,
    )
    save_figure(figure, file)
