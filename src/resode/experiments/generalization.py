"""``generalization`` — stable forward propagation generalizes: same depth, two networks.

A ``standard`` network integrated by forward Euler (the plain ResNet) and an
``antisymmetric`` network integrated by RK4 are trained on the same data with the same
width, T, depth N and epochs. Reported for each: train and test accuracy and loss, the
train/test gap, and the forward sensitivity of Y_N to Y_0 on test inputs (finite-perturbation
growth and ‖∂Y_N/∂Y_0‖₂ by power iteration) — a perturbation of the input that the network
amplifies is what makes test points land on the wrong side.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ..analysis import sensitivity, trajectory_spectra
from ..plots import save_figure
from ..runs import load_run
from ..storage import write_json
from ..training.config import TrainConfig
from ..training.loop import train

NETWORKS = (("standard", "euler"), ("antisymmetric", "rk4"))


def run(
    out: Path,
    quick: bool = False,
    seed: int = 0,
    data: str = "peaks",
    steps: tuple[int, ...] = (8,),
) -> dict:
    (depth,) = steps[:1]
    result = {"data": data, "steps": depth, "networks": {}}
    histories = {}
    for dynamics, integrator in NETWORKS:
        config = TrainConfig(
            data=data,
            dynamics=dynamics,
            integrator=integrator,
            width=16,
            T=4.0,
            steps=depth,
            epochs=3 if quick else 40,
            seed=seed,
            device="cpu",
        )
        run_dir = out / f"generalization-{dynamics}-{integrator}"
        metrics = train(config, run_dir, progress=False)
        model, dataset = load_run(run_dir)
        with torch.no_grad():
            y0 = model.open(dataset.x_test[:512])
        forward = sensitivity(model.block, y0).summary()
        spectra = trajectory_spectra(model.block, y0)
        name = f"{dynamics}+{integrator}"
        result["networks"][name] = {
            "train_accuracy": metrics["train_accuracy"],
            "test_accuracy": metrics["test_accuracy"],
            "train_loss": metrics["train_loss"],
            "test_loss": metrics["test_loss"],
            "accuracy_gap": metrics["train_accuracy"] - metrics["test_accuracy"],
            "loss_gap": metrics["test_loss"] - metrics["train_loss"],
            "sensitivity": forward,
            "max_real_eigenvalue": float(spectra.max_real.max()),
        }
        histories[name] = metrics["history"]
    _plot(result, histories, out / "generalization.png")
    write_json(out / "generalization.json", result)
    return result


def _plot(result: dict, histories: dict, file: Path) -> None:
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, history in histories.items():
        epochs = [r["epoch"] for r in history]
        line = axes[0].plot(epochs, [r["train_loss"] for r in history], label=f"{name} train")
        axes[0].plot(
            epochs,
            [r["val_loss"] for r in history],
            "--",
            color=line[0].get_color(),
            label=f"{name} validation",
        )
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss")
    axes[0].set_yscale("log")
    axes[0].set_title("training and validation loss")
    axes[0].legend(fontsize=8)
    names = list(result["networks"])
    colours = ["#1f77b4", "#ff7f0e"]
    bars = (
        ("max ‖∂Y_N/∂Y_0‖₂ on test inputs", lambda n: n["sensitivity"]["singular_value_max"]),
        ("test loss − train loss", lambda n: n["loss_gap"]),
    )
    for ax, (label, value) in zip(axes[1:], bars):
        ax.bar(names, [value(result["networks"][n]) for n in names], color=colours)
        ax.set_ylabel(label)
        ax.set_title(f"{label}\n{result['data']}, N = {result['steps']}", fontsize=10)
    save_figure(figure, file)
