"""The ``adjoint`` memory mode: the continuous adjoint gradient against the exact one."""

import json

import numpy as np
import pytest
import torch

from resode import ODEBlock, ResodeError
from resode.integrators import INTEGRATORS
from resode.memory import adjoint_sweep, saved_activation_bytes

RUNGE_KUTTA = ("euler", "heun", "rk3", "rk4")
ORDERS = {"euler": 1, "heun": 2, "rk3": 3, "rk4": 4}
# Heun's adjoint and exact gradients share their O(h²) error term: they differ at O(h³).
DIFFERENCE_ORDER = {**ORDERS, "heun": 3}


def _gradient(block, y0, memory) -> torch.Tensor:
    """∂L/∂Y0 and ∂L/∂θ flattened into one vector, L = Σ sin(Y_N)."""
    block.memory = memory
    block.zero_grad()
    y0 = y0.clone().requires_grad_(True)
    block(y0).sin().sum().backward()
    return torch.cat([y0.grad.flatten()] + [p.grad.flatten() for p in block.parameters()])


def _block(dynamics, integrator, steps, interp="constant", seed=0):
    torch.manual_seed(seed)
    block = ODEBlock(4, T=1.0, steps=steps, dynamics=dynamics, integrator=integrator, grid=4,
                     interp=interp, init_std=0.8).double()  # fmt: skip
    with torch.no_grad():
        block.dynamics.bias.values.normal_(std=0.5)
    return block, torch.randn(5, 4, dtype=torch.float64)


def _slope(counts, errors) -> float:
    return -float(np.polyfit(np.log(counts), np.log(errors), 1)[0])


@pytest.mark.parametrize("integrator", RUNGE_KUTTA)
@pytest.mark.parametrize("dynamics, interp", [("antisymmetric", "constant"), ("standard", "linear"),
                                              ("hamiltonian", "constant")])  # fmt: skip
def test_adjoint_converges_to_exact_gradient_at_the_order(dynamics, interp, integrator):
    block, y0 = _block(dynamics, integrator, 8, interp)
    counts, errors = (8, 16, 32, 64), []
    for steps in counts:
        block.steps = steps
        exact = _gradient(block, y0, "store")
        errors.append(float((_gradient(block, y0, "adjoint") - exact).norm() / exact.norm()))
    assert abs(_slope(counts, errors) - DIFFERENCE_ORDER[integrator]) <= 0.3, errors


@pytest.mark.parametrize("integrator", RUNGE_KUTTA)
def test_adjoint_and_exact_converge_to_the_continuous_gradient_at_the_order(integrator):
    reference, y0 = _block("standard", "rk4", 512)
    continuous = _gradient(reference, y0, "store")
    block, _ = _block("standard", integrator, 8)
    counts, adjoint_errors, exact_errors = (8, 16, 32, 64), [], []
    for steps in counts:
        block.steps = steps
        for memory, errors in (("adjoint", adjoint_errors), ("store", exact_errors)):
            error = _gradient(block, y0, memory) - continuous
            errors.append(float(error.norm() / continuous.norm()))
    assert abs(_slope(counts, adjoint_errors) - ORDERS[integrator]) <= 0.3, adjoint_errors
    assert abs(_slope(counts, exact_errors) - ORDERS[integrator]) <= 0.3, exact_errors


def test_adjoint_at_fine_steps_agrees_to_1e_6_on_an_antisymmetric_network():
    block, y0 = _block("antisymmetric", "rk4", 64)
    exact = _gradient(block, y0, "store")
    error = (_gradient(block, y0, "adjoint") - exact).norm() / exact.norm()
    assert float(error) <= 1e-6


@pytest.mark.parametrize("dynamics", ["parabolic", "second-order", "diffusion-reaction"])
def test_adjoint_runs_for_every_dynamics_and_reconstructs_y0(dynamics):
    block, y0 = _block(dynamics, "rk4", 32)
    exact = _gradient(block, y0, "store")
    assert float((_gradient(block, y0, "adjoint") - exact).norm() / exact.norm()) <= 1e-4
    field = block.dynamics
    plan, grids = field.parameter_plan(block.steps, block.stage_offsets)
    with torch.no_grad():
        start = field.lift(y0)
        final = block.integrator.solve(field, start, block.h, plan.stage_parameters(grids))
    rebuilt, adjoint, grads = adjoint_sweep(block.integrator, field, final, torch.ones_like(final),
                                            block.h, plan, grids)  # fmt: skip
    assert float((rebuilt - start).abs().max()) <= 1e-5  # O(h⁴)
    assert adjoint.shape == start.shape and [g.shape for g in grads] == [g.shape for g in grids]


def test_adjoint_conv_block_matches_store_at_fine_steps():
    torch.manual_seed(3)
    block = ODEBlock(2, T=1.0, steps=32, kernel="conv2d", integrator="rk4", grid=2).double()
    y0 = torch.randn(2, 2, 4, 5, dtype=torch.float64)
    exact = _gradient(block, y0, "store")
    assert float((_gradient(block, y0, "adjoint") - exact).norm() / exact.norm()) <= 1e-5


def test_adjoint_memory_does_not_grow_with_depth():
    y0 = torch.randn(32, 8, requires_grad=True)  # a fixed weight grid: only activations vary
    saved = {
        n: saved_activation_bytes(ODEBlock(8, steps=n, grid=4, memory="adjoint"), y0)
        for n in (8, 128)
    }
    stored = saved_activation_bytes(ODEBlock(8, steps=128, grid=4), y0)
    assert saved[128] == saved[8] and saved[128] * 20 <= stored


@pytest.mark.parametrize("integrator", [n for n in INTEGRATORS if n not in RUNGE_KUTTA])
def test_adjoint_refuses_other_integrators_in_one_line(integrator):
    dynamics = {"verlet": "hamiltonian", "imex": "diffusion-reaction"}.get(integrator, "standard")
    with pytest.raises(ResodeError, match="memory='adjoint' needs an explicit Runge–Kutta") as info:
        ODEBlock(3, dynamics=dynamics, integrator=integrator, memory="adjoint")
    assert "\n" not in str(info.value) and "euler, heun, rk3, rk4" in str(info.value)


def test_cli_refuses_adjoint_with_leapfrog_in_one_line(tmp_path, capsys):
    from resode.cli import main

    args = ["train", "--integrator", "leapfrog", "--memory", "adjoint", "--out", str(tmp_path)]
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert "memory='adjoint' needs an explicit Runge–Kutta integrator" in error
    assert "\n" not in error


def test_control_experiment_quick(tmp_path):
    from resode.experiments import run_experiment

    result = run_experiment("control", tmp_path, quick=True)
    stored = json.loads((tmp_path / "control.json").read_text())
    assert stored["convergence"]["integrators"]["rk3"]["slope"] == pytest.approx(3.0, abs=0.3)
    for name in ("control-gradients.png", "control-training.png", "control-memory.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    per = result["dynamics"]["dynamics"]  # forward-contracting dynamics rebuild Y0 worst
    assert (
        per["damped"]["reconstruction_error"][-1]
        > 10 * per["antisymmetric"]["reconstruction_error"][-1]
    )
    modes = result["memory"]["modes"]
    adjoint, stored_mode = modes["adjoint (rk4)"], modes["store (rk4)"]
    assert adjoint["saved_megabytes"][0] == adjoint["saved_megabytes"][-1]
    assert adjoint["saved_megabytes"][-1] * 20 < stored_mode["saved_megabytes"][-1]
    assert set(result["training"]["runs"]) == {
        "store N=4", "adjoint N=4", "store N=16", "adjoint N=16"
    }  # fmt: skip
