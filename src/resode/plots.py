"""Figures (matplotlib, Agg backend, written atomically as PNG)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import matplotlib

if "matplotlib.pyplot" not in sys.modules and "MPLBACKEND" not in os.environ:
    # Figures are files: no window. A session that has chosen a backend (a notebook's inline
    # backend, MPLBACKEND, pyplot already in use) keeps it.
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from .data import DATASETS, class_names  # noqa: E402
from .model.inference import evaluation, in_chunks  # noqa: E402
from .storage import atomic_write  # noqa: E402


def save_figure(figure, path: str | Path) -> None:
    """Render ``figure`` to PNG and write it atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    atomic_write(path, lambda f: f.write(buffer.getvalue()), binary=True)


def class_labels(dataset) -> list[str]:
    """The names of the classes of a dataset in label order; the label numbers for a dataset
    without names."""
    names = dataset.class_names
    if not names and dataset.name in DATASETS:
        names = class_names(dataset.name)
    if len(names) != dataset.num_classes:
        return [str(k) for k in range(dataset.num_classes)]
    return list(names)


@torch.no_grad()
def _predicted_regions(model, dataset, resolution: int):
    """The grid axes over the data's bounding box (5 % margin) and the predicted class on it."""
    x = torch.cat([dataset.x_train, dataset.x_test]).float().cpu().numpy()
    low, high = x.min(axis=0), x.max(axis=0)
    margin = 0.05 * (high - low)
    gx, gy = (np.linspace(lo - m, hi + m, resolution) for lo, hi, m in zip(low, high, margin))
    mesh = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    parameter = next(model.parameters())
    grid = torch.as_tensor(mesh, dtype=parameter.dtype, device=parameter.device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(chunk).argmax(dim=1) for chunk in grid.split(8192)])
    model.train(was_training)
    return gx, gy, predicted.cpu().numpy().reshape(resolution, resolution)


def plot_decision_boundary(model, dataset, path: str | Path, resolution: int = 300) -> None:
    """Predicted class over the bounding box of the data, with the test points on top."""
    gx, gy, regions = _predicted_regions(model, dataset, resolution)
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
    handles = [
        matplotlib.lines.Line2D(
            [], [], ls="", marker="o", ms=5, mfc=cmap(k), mec="k", mew=0.2, label=name
        )
        for k, name in enumerate(class_labels(dataset))
    ]
    axes.legend(
        handles=handles,
        title="class",
        fontsize=8,
        title_fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
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
    figure, axes = plt.subplots(figsize=(6, 5.2))
    radius = getattr(integrator, "stability_radius", None)
    if radius is not None:  # the region is the imaginary segment |z| < radius
        axes.plot([0, 0], [-radius, radius], color="#3a6ea5", lw=4, alpha=0.5)
    else:
        inside = np.asarray(integrator.amplification(zz)) <= 1
        levels, colour = [0.5, 1.5], ["#cfe3f7"]
        axes.contourf(grid, grid, inside.astype(float), levels=levels, colors=colour)
        axes.contour(grid, grid, inside.astype(float), levels=[0.5], colors=["#3a6ea5"])
    axes.axhline(0, color="0.6", lw=0.5)
    axes.axvline(0, color="0.6", lw=0.5)
    points = axes.scatter(
        z.real.ravel(), z.imag.ravel(), c=steps.ravel(), cmap="viridis", s=4, alpha=0.6
    )
    figure.colorbar(points, ax=axes, label="step l")
    axes.set_xlabel("Re(hλ)")
    axes.set_ylabel("Im(hλ)")
    axes.set_title(
        f"hλ of J along trajectories, h = {h:.3g}, over the {integrator.name} stability region",
        fontsize=9,
    )
    axes.set_xlim(-reach, reach)
    axes.set_ylim(-reach, reach)
    axes.set_aspect("equal")
    save_figure(figure, path)


def plot_run(model, dataset, path: Path) -> None:
    """The figure that fits a finished run, written to ``path``: decision regions (2-D
    inputs, classification), regression fit or segmentations; nothing for other runs."""
    if dataset.task == "classification" and dataset.kind == "vector" and dataset.in_features == 2:
        plot_decision_boundary(model, dataset, path)
    elif dataset.task == "regression":
        plot_regression(model, dataset, path)
    elif dataset.task == "segmentation":
        plot_segmentation(model, dataset, path)


def plot_confusion(report: dict, path: str | Path) -> None:
    """The confusion matrix of a class report (:func:`~resode.training.evaluation.class_report`):
    rows the true class, columns the predicted one, shaded by the share of the true class,
    counts written in the cells (up to 20 classes) and the recall beside each row."""
    counts = np.asarray(report["confusion"], dtype=float)
    names, classes = report["names"], len(report["names"])
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = min(12.0, 2.5 + 0.45 * classes)
    figure, axes = plt.subplots(figsize=(side + 1.2, side))
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    if classes <= 20:
        for (i, j), count in np.ndenumerate(counts):
            color = "white" if shares[i, j] > 0.5 else "black"
            axes.text(j, i, f"{count:.0f}", ha="center", va="center", color=color,
                      fontsize=9 if classes <= 10 else 7)  # fmt: skip
    ticks = np.arange(classes) if classes <= 40 else []
    names = [name if len(name) <= 24 else name[:23] + "…" for name in names]
    turn = classes > 4 or sum(len(name) for name in names) > 6 * classes
    axes.set_xticks(ticks, [names[i] for i in ticks], rotation=40 if turn else 0,
                    ha="right" if turn else "center")  # fmt: skip
    recall = [f"{names[i]}  ({report['recall'][i]:.0%})" for i in ticks]
    axes.set_yticks(ticks, recall)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class (recall)")
    split = report.get("split", "test")
    axes.set_title(f"confusion matrix, {split} split ({counts.sum():.0f} examples)", fontsize=10)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    save_figure(figure, path)


def _predict(model, x: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    with evaluation(model):
        return in_chunks(model, x, chunk).float().cpu()


def plot_regression(model, dataset, path: str | Path) -> None:
    """Predicted against true test targets, with the diagonal."""
    truth = dataset.y_test.float().cpu().numpy().ravel()
    predicted = _predict(model, dataset.x_test).numpy().ravel()
    residual = ((predicted - truth) ** 2).sum()
    r2 = 1 - residual / max(((truth - truth.mean()) ** 2).sum(), 1e-300)
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.scatter(truth, predicted, s=6, alpha=0.6)
    low, high = float(min(truth.min(), predicted.min())), float(max(truth.max(), predicted.max()))
    axes.plot([low, high], [low, high], "k--", lw=1, label="prediction = truth")
    axes.set_xlabel("true target")
    axes.set_ylabel("prediction")
    axes.set_title(f"{dataset.name}: test predictions, R² = {r2:.4f}", fontsize=10)
    axes.legend(loc="upper left", fontsize=8)
    axes.set_aspect("equal")
    save_figure(figure, path)


def plot_segmentation(model, dataset, path: str | Path, samples: int = 4) -> None:
    """Rows of test samples: input image, true labels, predicted labels."""
    x = dataset.x_test[:samples]
    truth = dataset.y_test[:samples].cpu().numpy()
    predicted = _predict(model, x).argmax(dim=1).numpy()
    images = x.float().cpu().numpy()
    classes = dataset.num_classes
    figure, axes = plt.subplots(
        len(x), 3, figsize=(8, 2.5 * len(x)), squeeze=False, constrained_layout=True
    )
    cmap = matplotlib.colors.ListedColormap(plt.get_cmap("tab10").colors[:classes])
    for row in range(len(x)):
        image = images[row]
        shown = image[0] if image.shape[0] == 1 else np.clip(image[:3].transpose(1, 2, 0), 0, 1)
        axes[row, 0].imshow(shown, cmap="gray" if image.shape[0] == 1 else None)
        for column, labels in ((1, truth[row]), (2, predicted[row])):
            picture = axes[row, column].imshow(
                labels, cmap=cmap, vmin=-0.5, vmax=classes - 0.5, interpolation="nearest"
            )
        for column, title in enumerate(("input", "truth", "prediction")):
            axes[row, column].set_title(title if row == 0 else "", fontsize=9)
            axes[row, column].axis("off")
    bar = figure.colorbar(picture, ax=axes.ravel().tolist(), label="class", shrink=0.5)
    bar.set_ticks(range(classes), labels=class_labels(dataset))
    figure.suptitle(f"{dataset.name}: test segmentations", fontsize=10)
    save_figure(figure, path)


def plot_depth(results: list[dict], metric: str, config, path: str | Path) -> None:
    """A trained network evaluated with other numbers of steps N' (same T, same θ(t))."""
    depths = [r["steps"][0] if isinstance(r["steps"], list) else r["steps"] for r in results]
    values = [r[metric] for r in results]
    trained = config.steps[0] if isinstance(config.steps, list) else config.steps
    figure, axes = plt.subplots(figsize=(5.5, 4))
    axes.plot(depths, values, "o-")
    axes.axvline(trained, color="0.5", ls="--", label=f"trained with N = {trained}")
    axes.set_xscale("log", base=2)
    axes.set_xlabel("number of steps N' (h = T/N')")
    axes.set_ylabel(metric.replace("_", " "))
    axes.set_title(
        f"{config.data}: {config.dynamics} + {config.integrator}, T = {config.T:g}, "
        "evaluated at other depths",
        fontsize=9,
    )
    axes.legend(fontsize=8)
    save_figure(figure, path)


def plot_depth_gradients(report: dict, config, path: str | Path) -> None:
    """‖∂E/∂Y_l‖ and ‖∂E/∂θ_l‖ against the layer l, at initialization and trained."""
    figure, (states, weights) = plt.subplots(1, 2, figsize=(10, 4))
    for name, style in (("initial", "--"), ("trained", "-")):
        for index, unit in enumerate(report[name]):
            label = f"{name}" + (f", unit {index}" if len(report[name]) > 1 else "")
            states.plot(unit["state_norms"], style, marker=".", label=label)
            weights.plot(unit["weight_norms"], style, marker=".", label=label)
    for axes, what in ((states, "‖∂E/∂Y_l‖ (state l)"), (weights, "‖∂E/∂θ_l‖ (weight set l)")):
        axes.set_yscale("log")
        axes.set_xlabel("layer l")
        axes.set_ylabel(what)
        axes.legend(fontsize=8)
    network = "plain" if config.network == "plain" else f"{config.dynamics} + {config.integrator}"
    if config.network == "resnet":
        network = f"{config.dynamics} residual, h = 1"
    figure.suptitle(
        f"{config.data}: {network}, N = {config.steps}; gradients through depth on "
        f"{report['examples']} {report['split']} examples",
        fontsize=9,
    )
    save_figure(figure, path)


def learning_curves_png(rows: list[dict]) -> bytes:
    """PNG of the loss and error columns (left, log scale) and the other metric columns
    (right) of a history."""
    epochs = [float(row["epoch"]) for row in rows]
    skip = {"epoch", "level", "steps", "lr", "seconds"}
    columns = [c for c in rows[0] if c not in skip] if rows else []
    figure, (losses, scores) = plt.subplots(1, 2, figsize=(10, 3.6))
    for column in columns:
        values = [float(row[column]) if row.get(column) else np.nan for row in rows]
        axis = losses if column.endswith(("loss", "rmse", "mae")) else scores
        axis.plot(epochs, values, marker="o" if len(rows) < 30 else None, label=column)
    for axis, title in ((losses, "loss and errors"), (scores, "metrics")):
        axis.set_xlabel("epoch")
        axis.set_title(title)
        if axis.lines:
            axis.legend(fontsize=8)
    losses.set_yscale("log")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


# Loss landscapes (resode landscape, experiment landscape-skip)


def draw_plane(axes, result: dict, title: str) -> object:
    """Filled contours of log₁₀ E over the (a, b) plane on ``axes``; returns the contour set."""
    values = np.log10(np.maximum(np.asarray(result["values"]), 1e-12))
    levels = np.linspace(values.min(), values.max(), 25)
    filled = axes.contourf(result["alpha"], result["beta"], values, levels=levels, cmap="viridis")
    axes.contour(
        result["alpha"],
        result["beta"],
        values,
        levels=levels[::3],
        colors="w",
        linewidths=0.4,
        negative_linestyles="solid",
    )
    axes.plot([0], [0], "r+", markersize=10, label="trained θ")
    axes.set_xlabel("a (direction d₁)")
    axes.set_ylabel("b (direction d₂)")
    roughness = result["roughness"]
    axes.set_title(
        f"{title}\nstrict minima {roughness['strict_minima']} "
        f"({roughness['strict_minima_share']:.1%}), "
        f"|λmin/λmax| = {roughness['hessian']['ratio']:.3g}",
        fontsize=9,
    )
    axes.set_aspect("equal")
    return filled


def loss_colorbar(figure, filled, axes, label: str) -> None:
    """A colour bar for :func:`draw_plane`, ticks at the loss itself (log scale)."""
    bar = figure.colorbar(filled, ax=axes, label=f"{label} (log scale)", shrink=0.85)
    bar.locator = MaxNLocator(6)
    bar.formatter = FuncFormatter(lambda value, _: f"{10**value:.3g}")
    bar.update_ticks()


def plot_plane(result: dict, title: str, path) -> None:
    """The plane's contour plot, one colour bar for log₁₀ of the loss."""
    figure, axes = plt.subplots(figsize=(5.8, 5))
    loss_colorbar(figure, draw_plane(axes, result, title), axes, f"{result['split']} loss")
    axes.legend(loc="upper right", fontsize=8)
    save_figure(figure, path)


def plot_segment(result: dict, title: str, path) -> None:
    """The loss along (1 − α) θ_A + α θ_B, the two runs marked at α = 0 and 1."""
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(result["alpha"], result["values"], "-", color="#1f77b4")
    axes.plot([0, 1], result["ends"], "o", color="#d62728", label="the two runs")
    axes.set_yscale("log")
    axes.set_xlabel("α  (θ = (1 − α) θ_A + α θ_B)")
    axes.set_ylabel(f"{result['split']} loss")
    axes.set_title(
        f"{title}\nfrom {Path(result['run']).name} (α = 0) to {Path(result['between']).name} "
        "(α = 1), "
        f"barrier {result['roughness']['barrier']:.3g}",
        fontsize=9,
    )
    axes.legend(fontsize=8)
    save_figure(figure, path)


def plot_robustness(report: dict, title: str, path: str | Path) -> None:
    """Accuracy against the radius ε per attack (top) and certified accuracy (bottom)."""
    figure, (attacked, certified) = plt.subplots(2, 1, figsize=(6, 6.5), sharex=True)
    styles = {"pgd": "o-", "fgsm": "s--", "noise": "^:"}
    for curve in report["attacks"]:
        label = f"{curve['kind']} ({curve['attack']})"
        attacked.plot(curve["eps"], curve["accuracy"], styles[curve["kind"]], label=label)
    norm = "L2" if report["norm"] == "l2" else "L∞"
    attacked.set_ylabel("accuracy")
    attacked.set_ylim(-0.02, 1.02)
    attacked.legend(fontsize=8)
    subtitle = f"{report['split']} split, {report['examples']} examples"
    attacked.set_title(f"{title}\n{subtitle}", fontsize=9)
    bounds = report["lipschitz"]
    if report["certified_accuracy"] is not None:
        certified.plot(report["eps"], report["certified_accuracy"], "o-", color="C3")
        text = (
            f"certified: margin / (√2 L), L ≤ {bounds['upper_bound']:.3g}; "
            f"largest ratio found {bounds['lower_bound']:.3g}"
        )
    else:
        text = f"no certificate: {bounds['reason']}"
    place = dict(transform=certified.transAxes, fontsize=8, va="top", ha="right")
    certified.text(0.98, 0.95, text, **place)
    certified.set_ylim(-0.02, 1.02)
    certified.set_ylabel("certified accuracy")
    certified.set_xlabel(f"radius ε ({norm} norm of the perturbation, input units)")
    save_figure(figure, path)
