"""``control`` — training as optimal control: the adjoint gradient against the exact one.

resode's ``store``, ``checkpoint`` and ``reversible`` modes give the exact gradient of the
discrete network (discretize-then-optimize); ``adjoint`` integrates the continuous adjoint
equations backward with the same method and steps (optimize-then-discretize), rebuilding the
states by integrating the forward ODE in reverse from Y_N. Measured here:

- the relative gradient error ‖g_adjoint − g_exact‖ / ‖g_exact‖ as N grows, per integrator
  (expected O(h^p); the fitted slope is reported) on an antisymmetric network, float64;
- per dynamics at growing T (h fixed): that error and the reconstruction error
  ‖Ỹ_0 − Y_0‖ / ‖Y_0‖ — dynamics that contract forward (parabolic, damped) expand backward;
- training on peaks with exact and adjoint gradients at a coarse N (large error) and a fine N;
- activation memory (bytes autograd keeps) and time of a forward and backward pass of
  ``store``, ``checkpoint``, ``reversible`` (Verlet) and ``adjoint`` (RK4).

Writes control.json, control-gradients.png, control-training.png and control-memory.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..memory import adjoint_sweep, saved_activation_bytes
from ..model.block import ODEBlock
from ..storage import write_json
from ..training.config import TrainConfig
from ..training.loop import train

COMPARED_INTEGRATORS = ("euler", "heun", "rk3", "rk4")
COMPARED_DYNAMICS = (("standard", {}), ("antisymmetric", {}), ("damped", {"gamma": 1.0}),
                     ("parabolic", {}), ("hamiltonian", {}), ("second-order", {}),
                     ("diffusion-reaction", {}))  # fmt: skip
COMPARED_MEMORY = (("store", "rk4"), ("checkpoint", "rk4"), ("adjoint", "rk4"),
                   ("store", "verlet"), ("checkpoint", "verlet"),
                   ("reversible", "verlet"))  # fmt: skip


def run(out: Path, quick: bool = False, seed: int = 0) -> dict:
    """Gradient errors, reconstruction errors, training curves, memory and time."""
    out = Path(out)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small float64 problems: more threads only add hand-offs
    try:
        result = {
            "seed": seed,
            "convergence": _convergence(seed, (8, 16, 32) if quick else (8, 16, 32, 64, 128)),
            "dynamics": _per_dynamics(seed, (1.0, 4.0) if quick else (1.0, 4.0, 16.0, 32.0)),
        }
    finally:
        torch.set_num_threads(threads)
    result["training"] = _training(out, seed, quick)
    result["memory"] = _memory(seed, (16, 32) if quick else (32, 128))
    write_json(out / "control.json", result)
    _plot_gradients(out / "control-gradients.png", result)
    _plot_training(out / "control-training.png", result["training"])
    _plot_memory(out / "control-memory.png", result["memory"])
    return result


def _gradient(block: ODEBlock, y0: torch.Tensor, memory: str) -> torch.Tensor:
    """(∂L/∂Y0, ∂L/∂θ) as one vector, L = Σ sin(Y_N)."""
    block.memory = memory
    block.zero_grad()
    y0 = y0.clone().requires_grad_(True)
    block(y0).sin().sum().backward()
    return torch.cat([y0.grad.flatten()] + [p.grad.flatten() for p in block.parameters()])


def _relative_error(block: ODEBlock, y0: torch.Tensor) -> float:
    exact = _gradient(block, y0, "store")
    return float((_gradient(block, y0, "adjoint") - exact).norm() / exact.norm())


def _test_block(dynamics: str, integrator: str, T: float, steps: int, seed: int, **options):
    """Width 8, weights on 4 intervals (fixed θ(t) as N grows), random bias; float64."""
    torch.manual_seed(seed)
    block = ODEBlock(8, T=T, steps=steps, dynamics=dynamics, integrator=integrator, grid=4,
                     **options).double()  # fmt: skip
    with torch.no_grad():
        block.dynamics.bias.values.normal_(std=0.5)
    return block, torch.randn(16, 8, dtype=torch.float64)


def _convergence(seed: int, counts: tuple[int, ...]) -> dict:
    """Relative gradient error of adjoint against exact per integrator as N grows; slopes."""
    result = {"dynamics": "antisymmetric", "T": 1.0, "steps": list(counts), "integrators": {}}
    for integrator in COMPARED_INTEGRATORS:
        block, y0 = _test_block("antisymmetric", integrator, 1.0, counts[0], seed, init_std=1.0)
        errors = []
        for steps in counts:
            block.steps = steps
            errors.append(_relative_error(block, y0))
        slope = -float(np.polyfit(np.log(counts), np.log(errors), 1)[0])
        result["integrators"][integrator] = {
            "order": block.integrator.order,
            "relative_error": errors,
            "slope": slope,
        }
    return result


def _per_dynamics(seed: int, times: tuple[float, ...]) -> dict:
    """Per dynamics (RK4, h = 1/8) and final time T: gradient and reconstruction errors."""
    result = {"integrator": "rk4", "h": 0.125, "T": list(times), "dynamics": {}}
    for name, options in COMPARED_DYNAMICS:
        dynamics = "antisymmetric" if name == "damped" else name
        rows = {"gradient_error": [], "reconstruction_error": []}
        for T in times:
            block, y0 = _test_block(dynamics, "rk4", T, int(8 * T), seed, **options)
            with np.errstate(all="ignore"):
                rows["gradient_error"].append(_finite(_relative_error(block, y0)))
            rows["reconstruction_error"].append(_reconstruction_error(block, y0))
        result["dynamics"][name] = rows
    return result


def _reconstruction_error(block: ODEBlock, y0: torch.Tensor) -> float | None:
    """‖Ỹ_0 − Y_0‖ / ‖Y_0‖ with Ỹ_0 rebuilt backward from Y_N by the adjoint sweep."""
    field = block.dynamics
    plan, grids = field.parameter_plan(block.steps, block.stage_offsets)
    with torch.no_grad():
        start = field.lift(y0)
        final = block.integrator.solve(field, start, block.h, plan.stage_parameters(grids))
    rebuilt, _, _ = adjoint_sweep(
        block.integrator, field, final, torch.zeros_like(final), block.h, plan, grids
    )
    return _finite(float((rebuilt - start).norm() / start.norm()))


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _training(out: Path, seed: int, quick: bool) -> dict:
    """Peaks, standard dynamics with forward Euler, exact (store) vs adjoint gradients."""
    coarse, fine = (4, 16) if quick else (4, 64)
    result = {"dynamics": "standard", "integrator": "euler", "T": 4.0, "runs": {}}
    for steps in (coarse, fine):
        for memory in ("store", "adjoint"):
            config = TrainConfig(data="peaks", dynamics="standard", integrator="euler", T=4.0,
                                 steps=steps, epochs=2 if quick else 20, memory=memory,
                                 seed=seed, device="cpu")  # fmt: skip
            metrics = train(config, out / f"control-{memory}-N{steps}", progress=False)
            history = metrics["history"]
            result["runs"][f"{memory} N={steps}"] = {
                "steps": steps,
                "memory": memory,
                "test_accuracy": metrics["test_accuracy"],
                "val_accuracy": [r["val_accuracy"] for r in history],
                "seconds": np.cumsum([r["seconds"] for r in history]).tolist(),
            }
    return result


def _memory(seed: int, counts: tuple[int, ...], repeats: int = 3) -> dict:
    """Saved bytes and the median seconds of forward + backward: Hamiltonian, width 64,
    batch 256, float32, weights on 4 intervals (so only activations grow with N)."""
    result = {"dynamics": "hamiltonian", "width": 64, "batch": 256, "steps": list(counts),
              "modes": {}}  # fmt: skip
    y0 = torch.randn(256, 64, generator=torch.Generator().manual_seed(seed), requires_grad=True)
    for memory, integrator in COMPARED_MEMORY:
        row = {"integrator": integrator, "saved_megabytes": [], "seconds": []}
        for steps in counts:
            torch.manual_seed(seed)
            block = ODEBlock(64, steps=steps, dynamics="hamiltonian", integrator=integrator,
                             grid=4, memory=memory)  # fmt: skip
            row["saved_megabytes"].append(saved_activation_bytes(block, y0) / 2**20)
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                block(y0).sum().backward()
                times.append(time.perf_counter() - started)
            row["seconds"].append(float(np.median(times)))
        result["modes"][f"{memory} ({integrator})"] = row
    return result


def _plot_gradients(path: Path, result: dict) -> None:
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    figure, axes = plt.subplots(1, 3, figsize=(18, 5), layout="constrained")
    convergence = result["convergence"]
    counts = np.array(convergence["steps"], dtype=float)
    for name, row in convergence["integrators"].items():
        label = f"{name} (p = {row['order']}, slope {row['slope']:.2f})"
        line = axes[0].loglog(counts, row["relative_error"], "o-", label=label)
        first = row["relative_error"][0]
        axes[0].loglog(counts, first * (counts[0] / counts) ** row["order"], ":",
                       color=line[0].get_color())  # fmt: skip
    axes[0].set(xlabel="steps N", ylabel="‖g_adjoint − g_exact‖ / ‖g_exact‖",
                title="antisymmetric, T = 1 (dotted: slope −p)")  # fmt: skip
    axes[0].set_xticks(counts, [str(int(c)) for c in counts])
    axes[0].legend(fontsize=8)
    panels = (("gradient_error", "gradient: ‖g_adjoint − g_exact‖ / ‖g_exact‖"),
              ("reconstruction_error", "reconstruction: ‖Ỹ_0 − Y_0‖ / ‖Y_0‖"))  # fmt: skip
    per = result["dynamics"]
    for ax, (key, label) in zip(axes[1:], panels):
        for name, rows in per["dynamics"].items():
            values = [np.nan if v is None else max(v, 1e-17) for v in rows[key]]
            ax.semilogy(per["T"], values, "o-", label=name)
        ax.set(xlabel="final time T", ylabel=label, title=f"RK4, h = {per['h']:g} (N = T/h)")
        ax.legend(fontsize=8)
    save_figure(figure, path)


def _plot_training(path: Path, training: dict) -> None:
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    figure, axes = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
    for name, row in training["runs"].items():
        style = "-" if row["memory"] == "store" else "--"
        label = f"{name} (test {row['test_accuracy']:.3f})"
        epochs = np.arange(1, len(row["val_accuracy"]) + 1)
        line = axes[0].plot(epochs, row["val_accuracy"], style, label=label)
        axes[1].plot(row["seconds"], row["val_accuracy"], style, color=line[0].get_color())
    title = f"peaks, {training['dynamics']} + {training['integrator']}, T = {training['T']:g}"
    axes[0].set(xlabel="epoch", ylabel="validation accuracy", title=f"{title}: store = exact")
    axes[1].set(xlabel="seconds", ylabel="validation accuracy", title="against time")
    axes[0].legend(fontsize=8)
    save_figure(figure, path)


def _plot_memory(path: Path, memory: dict) -> None:
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    figure, axes = plt.subplots(1, 2, figsize=(14, 4.5), layout="constrained")
    names = list(memory["modes"])
    offsets = np.arange(len(names))
    width = 0.8 / len(memory["steps"])
    for j, steps in enumerate(memory["steps"]):
        for ax, key in zip(axes, ("saved_megabytes", "seconds")):
            values = [memory["modes"][n][key][j] for n in names]
            ax.bar(offsets + j * width, values, width, label=f"N = {steps}")
    for ax, label in zip(axes, ("activation memory (MiB kept for backward)", "fwd + bwd seconds")):
        ax.set_xticks(offsets + width * (len(memory["steps"]) - 1) / 2, names, rotation=20)
        ax.set(ylabel=label, title=f"hamiltonian, width {memory['width']}, batch {memory['batch']}")
        ax.legend()
    axes[0].set_yscale("log")
    save_figure(figure, path)
