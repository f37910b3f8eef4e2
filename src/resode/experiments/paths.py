"""``paths`` — a path-planning problem: how a width-2 network moves the data through depth.

A network with width 2 is trained; its ODE block transports each point Y_0 = σ(K_0 x + b_0)
along a path in the plane to Y_N, where the linear head W Y_N + c must separate the classes.
The figure shows Y_0, the paths and Y_N with the head's decision line; the JSON measures
linear separability (test accuracy of a logistic regression) of Y_0 against Y_N.
A continuous flow is a homeomorphism of the plane, so nested classes (``ellipses``) can only
be separated up to the opening layer's folding: expect high, not perfect, accuracy.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from ..plots import save_figure
from ..runs import load_run
from ..storage import write_json
from ..training.config import TrainConfig
from ..training.loop import train


def linear_separability(train_x, train_y, test_x, test_y) -> float:
    """Test accuracy of a logistic regression fitted on the training features."""
    model = LogisticRegression(max_iter=2000).fit(train_x, train_y)
    return float(model.score(test_x, test_y))


def run(
    out: Path,
    quick: bool = False,
    seed: int = 0,
    data: str = "ellipses",
) -> dict:
    config = TrainConfig(
        data=data,
        width=2,
        T=5.0,
        steps=10,
        dynamics="antisymmetric",
        integrator="rk4",
        epochs=5 if quick else 60,
        lr=0.02,
        seed=seed,
        device="cpu",
    )
    run_dir = out / "paths-run"
    metrics = train(config, run_dir, progress=False)
    model, dataset = load_run(run_dir)
    with torch.no_grad():
        paths = {
            split: model.block.trajectory(model.open(dataset.split(split)[0])).numpy()
            for split in ("train", "test")
        }
    labels = {split: dataset.split(split)[1].numpy() for split in ("train", "test")}
    separability = {
        f"{name}": linear_separability(
            paths["train"][index], labels["train"], paths["test"][index], labels["test"]
        )
        for name, index in (("Y_0", 0), ("Y_N", -1))
    }
    result = {
        "data": data,
        "config": config.to_dict(),
        "network_test_accuracy": metrics["test_accuracy"],
        "linear_separability": separability,
    }
    _plot(paths["test"], labels["test"], model, out / "paths.png", data)
    write_json(out / "paths.json", result)
    return result


def _plot(path: np.ndarray, labels: np.ndarray, model, file: Path, data: str) -> None:
    colours = np.array(["#1f77b4", "#d62728"])[labels % 2]
    figure, axes = plt.subplots(1, 3, figsize=(16, 5))
    shown = slice(0, min(len(labels), 250))
    axes[0].scatter(path[0, :, 0], path[0, :, 1], c=colours, s=6)
    axes[0].set_title("start: Y_0 = σ(K_0 x + b_0)")
    for example in range(*shown.indices(len(labels))):
        axes[1].plot(
            path[:, example, 0], path[:, example, 1], color=colours[example], lw=0.4, alpha=0.5
        )
    axes[1].scatter(path[-1, shown, 0], path[-1, shown, 1], c=colours[shown], s=6)
    axes[1].set_title(f"paths Y_0 → Y_N, N = {model.steps} ({shown.stop} test points)")
    axes[2].scatter(path[-1, :, 0], path[-1, :, 1], c=colours, s=6)
    weight = model.head.weight.detach().numpy()
    bias = model.head.bias.detach().numpy()
    normal, offset = weight[1] - weight[0], bias[1] - bias[0]  # decision: normal·y + offset = 0
    low, high = path[-1].min(axis=0), path[-1].max(axis=0)
    xs = np.linspace(low[0], high[0], 50)
    if abs(normal[1]) > 1e-12:
        axes[2].plot(xs, -(normal[0] * xs + offset) / normal[1], "k--", label="W Y_N + c = 0")
        axes[2].set_ylim(low[1] - 0.1, high[1] + 0.1)
        axes[2].legend(loc="best", fontsize=8)
    axes[2].set_title("end: Y_N and the classifier's line")
    for ax in axes:
        ax.set_xlabel("feature 1")
        ax.set_ylabel("feature 2")
    figure.suptitle(
        f"{data}: a width-2 antisymmetric RK4 network moves the points to separate them"
    )
    save_figure(figure, file)
