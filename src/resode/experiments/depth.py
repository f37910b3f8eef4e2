"""Why residual: plain against residual networks as the depth N grows.

Three networks of the same width are trained on the same data for the same number of epochs
at every depth N:

- ``plain``: Y_{l+1} = σ(K_l Y_l + b_l), no skip connection;
- ``resnet``: Y_{l+1} = Y_l + σ(K_l Y_l + b_l), h = 1 (He et al.: T = N);
- ``ode``: antisymmetric dynamics σ((K − Kᵀ)Y + b) with RK4 on a fixed [0, T], h = T/N.

For each it records the test accuracy, the training time and the ratio ‖∂E/∂Y_0‖/‖∂E/∂Y_N‖ of
the gradient at the first and the last state at initialization (:mod:`resode.analysis.depth`):
the lecture's claim is that the plain network's ratio leaves 1 by orders of magnitude as N
grows and it stops training, while the residual networks keep their gradients and train.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..runs import gradients_of_run
from ..storage import write_json
from ..training.config import TrainConfig
from ..training.loop import train

NETWORKS = {
    "plain": dict(network="plain", dynamics="standard"),
    "resnet": dict(network="resnet", dynamics="standard"),
    "ode": dict(network="ode", dynamics="antisymmetric", integrator="rk4", T=4.0),
}
DEPTHS = {"quick": (2, 8), "reduced": (4, 16, 64), "full": (4, 16, 64, 256)}


def run(out: Path, quick: bool = False, seed: int = 0, full: bool = False) -> dict:
    """Train every network at every depth on ``peaks``; write depth.json and depth.png."""
    out = Path(out)
    size = "quick" if quick else ("full" if full else "reduced")
    epochs = {"quick": 1, "reduced": 10, "full": 30}[size]
    rows = []
    for steps in DEPTHS[size]:
        for name in NETWORKS:
            rows.append(_one(out / "depth-runs" / f"{name}-N{steps}", name, steps, epochs, seed))
    result = {"data": "peaks", "epochs": epochs, "size": size, "seed": seed, "rows": rows}
    write_json(out / "depth.json", result)
    _plot(out / "depth.png", rows)
    return result


def _one(run_dir: Path, name: str, steps: int, epochs: int, seed: int) -> dict:
    """Train one network; its test accuracy, time and gradient ratios (initial, trained)."""
    config = TrainConfig(
        data="peaks",
        width=8,
        steps=steps,
        epochs=epochs,
        seed=seed,
        device="cpu",
        smoothness=0.0,
        **NETWORKS[name],
    )
    started = time.perf_counter()
    metrics = train(config, run_dir, progress=False)
    seconds = time.perf_counter() - started
    report = gradients_of_run(run_dir, samples=256)
    return {
        "network": name,
        "steps": steps,
        "test_accuracy": metrics["test_accuracy"],
        "seconds": seconds,
        "gradient_ratio_initial": report["initial"][0]["state_ratio_first_last"],
        "gradient_ratio_trained": report["trained"][0]["state_ratio_first_last"],
    }


def _plot(path: Path, rows: list[dict]) -> None:
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    figure, (accuracy, ratio) = plt.subplots(1, 2, figsize=(10, 4))
    for name in NETWORKS:
        mine = [r for r in rows if r["network"] == name]
        depths = [r["steps"] for r in mine]
        accuracy.plot(depths, [r["test_accuracy"] for r in mine], "o-", label=name)
        ratio.plot(depths, [r["gradient_ratio_initial"] for r in mine], "o-", label=name)
    accuracy.set_ylabel("test accuracy")
    ratio.set_ylabel("‖∂E/∂Y_0‖ / ‖∂E/∂Y_N‖ at initialization")
    ratio.set_yscale("log")
    ratio.axhline(1.0, color="0.6", lw=0.8)
    for axes in (accuracy, ratio):
        axes.set_xscale("log", base=2)
        axes.set_xlabel("depth N")
        axes.legend(fontsize=8)
    figure.suptitle("peaks: plain vs residual (h = 1) vs antisymmetric RK4 (fixed T)", fontsize=9)
    save_figure(figure, path)
