"""A stiff diffusion–reaction block: the IMEX step stays bounded where explicit methods blow up.

Y' = −L Y + tanh(K Y + b) on a ring of ``length`` points with ``channels`` channels: a conv1d
diffusion-reaction dynamics (L = MᵀM + εI, M a periodic depthwise convolution) with weights
constant in time, M scaled so that h·λ_max(L) = ``h_lambda`` (default 100), and a mildly
damped reaction (K = −I + N(0, 0.1²) noise, b ~ N(0, 0.5²)): the stiffness is all in L.
Every explicit method has a bounded stability region: on the stiffest mode forward Euler
multiplies by |1 − hλ| = 99 per step and RK4 by |R(−100)| ≈ 4.0·10⁶, while the IMEX step
(I + hL)⁻¹(Y + h g(Y)) multiplies it by |1 + hν|/(1 + hμ) ≤ 1 (reaction rate ν, |1 + hν| ≤ 1).

Writes stiff.json: growth ‖Y_N‖/‖Y_0‖ per method at ``h_lambda`` and over a sweep of
h·λ_max, the largest stable steps of the stability toolkit, and the error at t = T of each
method against a fine RK4 reference (h_ref·λ_max ≤ 1/2) as the steps double: IMEX converges
at first order from the first step size; the explicit methods only once h·λ_max falls
inside their regions (Euler 2, RK4 ≈ 2.79). stiff.png: the three panels.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..analysis import max_stable_step, trajectory_spectra
from ..errors import check_int, check_positive
from ..model.block import ODEBlock
from ..storage import write_json

METHODS = ("imex", "euler", "rk4")
SWEEP = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
REACTION_NOISE = 0.1


def _blocks(channels: int, T: float, steps: int, seed: int) -> dict[str, ODEBlock]:
    """One block per method with identical weights (float64, one weight set over [0, T])."""
    torch.manual_seed(seed)
    options = dict(dynamics="diffusion-reaction", kernel="conv1d", grid=1)
    blocks = {
        m: ODEBlock(channels, T=T, steps=steps, integrator=m, **options).double() for m in METHODS
    }
    dynamics = blocks["imex"].dynamics
    with torch.no_grad():  # K = −I + noise: a mildly damped reaction, explicit limit h ≈ 2
        dynamics.weight.values.normal_(0.0, REACTION_NOISE)
        dynamics.weight.values[:, :, :, 1] -= torch.eye(channels, dtype=torch.float64)
        dynamics.bias.values.normal_(0.0, 0.5)
    for method in METHODS[1:]:
        blocks[method].load_state_dict(blocks["imex"].state_dict())
    return blocks


def _set_stiffness(blocks: dict[str, ODEBlock], h_lambda: float, length: int) -> float:
    """Scale M in every block so that h·λ_max(L) = h_lambda; returns λ_max(L)."""
    radius = h_lambda / blocks["imex"].h
    for block in blocks.values():
        block.dynamics.set_diffusion_radius(radius, (length,))
    return radius


def _final(block: ODEBlock, y0: torch.Tensor, steps: int) -> torch.Tensor:
    block.steps = steps
    with torch.no_grad():
        return block(y0)


def _log10_norms(block: ODEBlock, y0: torch.Tensor) -> np.ndarray:
    """log₁₀(‖Y_l‖/‖Y_0‖) for l = 0 … N (all examples together); inf once it overflows."""
    with torch.no_grad(), np.errstate(divide="ignore", invalid="ignore"):
        norms = np.array([float(y.norm()) for y in block.trajectory(y0)])
        return np.where(np.isfinite(norms), np.log10(norms / norms[0]), np.inf)


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def run(
    out: Path,
    quick: bool = False,
    seed: int = 0,
    channels: int = 2,
    length: int = 64,
    T: float = 2.0,
    steps: int = 20,
    h_lambda: float = 100.0,
) -> dict:
    """Integrate a stiff diffusion-reaction block with imex, euler, rk4 at h·λ_max(L) = h_lambda."""
    out = Path(out)
    channels, length = check_int("channels", channels), check_int("length", length, minimum=3)
    if isinstance(steps, (tuple, list)) and len(steps) == 1:
        steps = steps[0]  # ``resode experiment NAME --steps 20`` passes a one-element list
    steps, T = check_int("steps", steps), check_positive("T", T)
    h_lambda = check_positive("h_lambda", h_lambda)
    refinements = 7
    if quick:
        length, steps, refinements = min(length, 16), min(steps, 10), 4
    # A few hundred numbers per op: more threads only add hand-offs (measured: 70× slower with
    # 2 threads on 2 busy cores), so the experiment runs on one and restores the setting.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = _compute(channels, length, T, steps, h_lambda, refinements, seed)
    finally:
        torch.set_num_threads(threads)
    write_json(out / "stiff.json", result["json"])
    _plot(out / "stiff.png", result["histories"], result["json"])
    return result["json"]


def _compute(channels, length, T, steps, h_lambda, refinements, seed) -> dict:
    blocks = _blocks(channels, T, steps, seed)
    y0 = torch.randn(4, channels, length, generator=torch.Generator().manual_seed(seed + 1))
    y0 = y0.double()
    h = blocks["imex"].h

    sweep = {m: [] for m in METHODS}
    for value in SWEEP:
        _set_stiffness(blocks, value, length)
        for method in METHODS:
            sweep[method].append(_number(_log10_norms(blocks[method], y0)[-1]))
    radius = _set_stiffness(blocks, h_lambda, length)
    histories = {m: _log10_norms(blocks[m], y0) for m in METHODS}

    spectra = trajectory_spectra(blocks["imex"], y0)
    stable = {m: max_stable_step(m, spectra.for_integrator(m).reshape(-1)) for m in METHODS}

    reference_steps = steps * 2 ** math.ceil(math.log2(2 * h_lambda))  # h_ref λ_max ≤ 1/2
    reference = _final(blocks["rk4"], y0, reference_steps)
    counts = [steps * 2**k for k in range(refinements)]
    errors = {m: [] for m in METHODS}
    for n in counts:
        for method in METHODS:
            error = float((_final(blocks[method], y0, n) - reference).norm() / reference.norm())
            errors[method].append(_number(error))
    order = float(np.polyfit(np.log(counts[-3:]), np.log(errors["imex"][-3:]), 1)[0])

    result = {
        "channels": channels,
        "length": length,
        "T": T,
        "steps": steps,
        "h": h,
        "h_lambda": h_lambda,
        "lambda_max_L": radius,
        "seed": seed,
        "methods": {
            m: {
                "log10_growth": _number(histories[m][-1]),
                "growth": _number(10.0 ** histories[m][-1]) if histories[m][-1] < 300 else None,
                "max_log10_norm": _number(histories[m].max()),
                "max_stable_step": _number(stable[m]),
            }
            for m in METHODS
        },
        "max_stable_step_note": "euler, rk4: on λ(J), J = −L + diag(σ')K; imex: on λ(diag(σ')K)",
        "sweep": {"h_lambda": list(SWEEP), "log10_growth": sweep},
        "convergence": {
            "steps": counts,
            "relative_error": errors,
            "reference": f"rk4 with {reference_steps} steps",
            "imex_order": -order,
        },
    }
    return {"json": result, "histories": histories}


def _plot(path: Path, histories: dict, result: dict) -> None:
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(18, 5), layout="constrained")
    colors = dict(zip(METHODS, plt.get_cmap("tab10").colors))
    for method, logs in histories.items():
        finite = np.isfinite(logs)
        left.semilogy(np.arange(len(logs))[finite], 10.0 ** logs[finite], color=colors[method],
                      marker="o", ms=3, label=method)  # fmt: skip
    left.set_xlabel("step l")
    left.set_ylabel("‖Y_l‖ / ‖Y_0‖")
    left.set_title(f"h·λ_max(L) = {result['h_lambda']:g}, h = {result['h']:g}")
    left.legend()
    sweep = result["sweep"]
    for method, logs in sweep["log10_growth"].items():
        values = [10.0**v if v is not None and v < 300 else np.nan for v in logs]
        middle.loglog(sweep["h_lambda"], values, color=colors[method], marker="o", label=method)
    middle.axhline(1.0, color="k", lw=0.8, ls="--")
    middle.set_xlabel("h·λ_max(L)")
    middle.set_ylabel(f"growth ‖Y_N‖ / ‖Y_0‖ after N = {result['steps']} steps")
    middle.set_title("growth against stiffness")
    middle.legend()
    convergence = result["convergence"]
    counts = np.array(convergence["steps"], dtype=float)
    for method, errors in convergence["relative_error"].items():
        values = [e if e is not None and e < 1e3 else np.nan for e in errors]
        right.loglog(counts, values, color=colors[method], marker="o", label=method)
    first = convergence["relative_error"]["imex"][0]
    right.loglog(counts, first * counts[0] / counts, "k:", label="slope −1")
    right.set_xlabel("steps N")
    right.set_ylabel("relative error at t = T")
    right.set_title(f"against {convergence['reference']} (errors > 10³ not shown)")
    right.legend()
    save_figure(figure, path)
