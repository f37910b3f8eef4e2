"""Stability toolkit: spectra along trajectories, regions, safe steps, sensitivity."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from resode import ODEBlock, ResodeError
from resode.analysis import (
    autograd_jacobian,
    classify,
    discrete_stability,
    is_stable,
    jacobian,
    max_stable_step,
    sensitivity,
    stability_report,
    trajectory_spectra,
)
from resode.cli import main
from resode.integrators import INTEGRATORS, get_integrator


@pytest.mark.parametrize(
    "name, lam, expected",
    [
        ("euler", -3.0, 2 / 3),
        ("rk4", 1j, 2 * math.sqrt(2)),
        ("rk4", -1j, 2 * math.sqrt(2)),
        ("rk3", 1j, math.sqrt(3)),
        ("euler", 1j, 0.0),
        ("heun", 1j, 0.0),
        ("heun", -1.0, 2.0),
        ("euler", -1 + 1j, 1.0),
        ("rk4", 0.5, 0.0),
        ("rk4", 0.0, math.inf),
    ],
)
def test_max_stable_step_closed_forms(name, lam, expected):
    assert max_stable_step(name, [lam]) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_max_stable_step_is_the_minimum_over_eigenvalues():
    assert max_stable_step("euler", [-3.0, -1.0, -0.5]) == pytest.approx(2 / 3)
    assert max_stable_step("euler", np.array([-3.0, 2j])) == 0.0


@pytest.mark.parametrize(
    "name", sorted(name for name, method in INTEGRATORS.items() if method.discretizes_ode)
)
def test_max_stable_step_matches_a_dense_scan(name):
    """For random λ (left half plane, and on the imaginary axis), h* is where the
    amplification first exceeds 1 on a fine scan."""
    rng = np.random.default_rng(0)
    lam = -np.abs(rng.normal(size=20)) + 1j * rng.normal(size=20) * 2
    method = get_integrator(name)
    if hasattr(method, "stability_radius"):  # stable only on an imaginary segment
        lam = np.concatenate([lam, 1j * rng.normal(size=10) * 2])
    for one in lam:
        h_star = max_stable_step(name, [one])
        scan = np.linspace(1e-6, 3 * max(h_star, 1e-3), 20001)
        first_bad = scan[np.argmax(method.amplification(scan * one) > 1 + 1e-9)]
        assert h_star == pytest.approx(first_bad, rel=2e-3, abs=5e-5)


def test_is_stable_vectorized():
    z = np.array([-1.0, -2.5, 0.1, 1.5j, 2.9j])
    assert is_stable("euler", z).tolist() == [True, False, False, False, False]
    assert is_stable("rk4", z).tolist() == [True, True, False, True, False]
    assert bool(is_stable(get_integrator("rk4"), torch.tensor(2.8j)))


def test_landscape_kernel_at_one_one_has_eigenvalues_0_minus3_minus3():
    """J = diag(σ') K at Y = 0 with σ = identity is K(1, 1) = −2I + [[0,1,1],[1,0,1],[1,1,0]]."""
    block = ODEBlock(3, steps=1, dynamics="standard", activation="identity").double()
    K = -2 * torch.eye(3, dtype=torch.float64) + (
        torch.ones(3, 3, dtype=torch.float64) - torch.eye(3)
    )
    with torch.no_grad():
        block.dynamics.weight.values.copy_(K[None])
    spectra = trajectory_spectra(block, torch.zeros(1, 3))
    values = np.sort(spectra.eigenvalues.reshape(-1).real.numpy())
    np.testing.assert_allclose(values, [-3, -3, 0], atol=1e-12)
    assert spectra.classes() == ["energy-bounded"]  # the largest real part is 0


def test_antisymmetric_spectra_are_imaginary_and_damped_with_gamma():
    y0 = 0.1 * torch.randn(64, 6)  # unsaturated: σ' > 0 everywhere
    block = ODEBlock(6, T=2.0, steps=5, dynamics="antisymmetric", init_std=1.0)
    spectra = trajectory_spectra(block, y0)
    assert spectra.eigenvalues.shape == (5, 64, 6)
    assert spectra.eigenvalues.dtype == torch.complex128
    assert float(spectra.max_real.abs().max()) < 1e-10
    assert spectra.classes() == ["energy-bounded"] * 5
    assert float(spectra.unstable_share().max()) == 0.0
    damped = ODEBlock(6, T=2.0, steps=5, dynamics="antisymmetric", gamma=0.5, init_std=1.0)
    damped_spectra = trajectory_spectra(damped, y0)
    assert float(damped_spectra.max_real.max()) < 0
    assert damped_spectra.classes() == ["stable"] * 5


def test_standard_dynamics_can_be_unstable():
    block = ODEBlock(4, steps=3, dynamics="standard", activation="identity").double()
    with torch.no_grad():
        block.dynamics.weight.values.copy_(torch.eye(4, dtype=torch.float64).expand(3, 4, 4))
    spectra = trajectory_spectra(block, torch.randn(8, 4))
    assert spectra.classes() == ["unstable"] * 3
    assert float(spectra.unstable_share().min()) == 1.0
    assert classify(-1.0) == "stable" and classify(1e-12) == "energy-bounded"


@pytest.mark.parametrize("dynamics", ["standard", "antisymmetric", "parabolic"])
def test_exact_jacobian_equals_autograd_along_the_trajectory(dynamics):
    block = ODEBlock(5, steps=3, dynamics=dynamics, interp="linear").double()
    y = torch.randn(6, 5, dtype=torch.float64)
    p = block.dynamics.stage_parameters(3, (0.0,))[1][0]
    exact = jacobian(block.dynamics, y, p)
    automatic = autograd_jacobian(lambda v: block.dynamics(v, p), y)
    torch.testing.assert_close(exact, automatic.detach(), rtol=1e-10, atol=1e-12)


def test_euler_on_an_antisymmetric_spectrum_is_outside_its_region():
    block = ODEBlock(6, T=4.0, steps=8, dynamics="antisymmetric", integrator="euler", init_std=1.0)
    y0 = torch.randn(32, 6)
    report = stability_report(block, y0)
    steps = report["per_step"]
    assert not any(steps["inside_region"]) and min(steps["amplification"]) > 1
    assert report["max_stable_step"] == 0.0
    assert report["verdict"].startswith("unstable: no step size makes euler stable")
    assert report["assessment"]["decided_by"] == "eigenvalues"
    needed = report["steps_needed_by_integrator"]["rk4"]
    assert needed is not None and f"rk4 with ≥ {needed} steps" in report["assessment"]["advice"]
    # taking the advice: rk4 with that many steps is inside its region at every step
    # the advice puts this spectrum inside rk4's region, and one step fewer would not
    spectra = trajectory_spectra(block, y0)
    advised = dataclasses.replace(spectra, h=4.0 / needed)
    assert all(discrete_stability(advised, "rk4")["inside_region"])
    fewer = dataclasses.replace(spectra, h=4.0 / (needed - 1))
    assert not all(discrete_stability(fewer, "rk4")["inside_region"])


def test_power_iteration_matches_the_dense_jacobian():
    block = ODEBlock(4, T=3.0, steps=6, dynamics="standard", integrator="rk4", init_std=1.5)
    y0 = torch.randn(5, 4)
    result = sensitivity(block, y0, iterations=100)
    dense = torch.stack(
        [
            torch.autograd.functional.jacobian(lambda v: block.double()(v[None])[0], row)
            for row in y0.double()
        ]
    )
    expected = torch.linalg.matrix_norm(dense, ord=2)
    torch.testing.assert_close(result.singular_value, expected.detach(), rtol=1e-6, atol=1e-9)
    assert bool((result.growth <= result.singular_value * (1 + 1e-3)).all())
    summary = result.summary()
    assert summary["singular_value_max"] == pytest.approx(float(expected.max()), rel=1e-6)


def test_sensitivity_rejects_bad_settings():
    block = ODEBlock(3, steps=2)
    with pytest.raises(ResodeError, match="epsilon"):
        sensitivity(block, torch.randn(2, 3), epsilon=0.0)


def test_stability_command_writes_report_and_figure(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                "circles",
                "--epochs",
                "2",
                "--steps",
                "4",
                "--width",
                "6",
                "--quiet",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(["stability", str(run), "--out", str(tmp_path / "analysis"), "--samples", "64"]) == 0
    )
    printed = capsys.readouterr().out
    assert "verdict:" in printed and "energy-bounded" in printed
    assert "decided by" in printed and "measured_growth" in printed
    report = json.loads((tmp_path / "analysis" / "stability.json").read_text())
    for key in ("max_real", "spectral_radius", "inside_region", "amplification"):
        assert len(report["per_step"][key]) == 4
    assert report["max_stable_step"] > 0 and "sensitivity" in report
    assert (tmp_path / "analysis" / "spectrum.png").stat().st_size > 10_000
    assert main(["stability", str(tmp_path / "missing")]) == 2
