"""Log-norms, growth bounds, finite-time Lyapunov exponents and matrix-free spectra."""

import math

import numpy as np
import pytest
import torch

from resode import ODEBlock, ResodeError
from resode.analysis import sensitivity, trajectory_spectra
from resode.analysis.iterative import iterative_spectra
from resode.analysis.lognorm import log_norm, log_norms
from resode.analysis.lyapunov import lyapunov_exponents


def _block(dynamics="standard", integrator="rk4", width=10, steps=6, seed=0, **options):
    torch.manual_seed(seed)
    block = ODEBlock(
        width, T=1.0, steps=steps, dynamics=dynamics, integrator=integrator, init_std=0.5, **options
    ).double()
    with torch.no_grad():
        block.dynamics.bias.values.normal_(std=0.3)
    return block


@pytest.mark.parametrize("width", [4, 12])
def test_matrix_free_log_norm_equals_dense_symmetric_part_eigenvalue(width):
    block = _block(width=width)
    y = torch.randn(3, width, dtype=torch.float64)
    ours = log_norms(block, y)
    states, stages = block.trajectory(y), block.stage_parameters()
    for l in (0, 3):
        J = block.dynamics.jacobian(states[l], stages[l][0]).detach()
        dense = torch.linalg.eigvalsh((J + J.transpose(1, 2)) / 2)[:, -1]
        torch.testing.assert_close(ours.values[l], dense, rtol=1e-9, atol=1e-10)


def test_log_norm_of_a_linear_map():
    A = torch.tensor([[-1.0, 4.0], [0.0, -1.0]], dtype=torch.float64)
    value = log_norm(lambda y: y @ A.T, torch.zeros(1, 2, dtype=torch.float64))
    assert math.isclose(float(value), 1.0, rel_tol=1e-12)  # (A + Aᵀ)/2 has eigenvalues 1, −3


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dynamics", ["standard", "antisymmetric", "parabolic"])
def test_growth_bound_is_never_below_measured_growth(dynamics, seed):
    block = _block(dynamics, steps=20, seed=seed)
    y = torch.randn(6, 10, dtype=torch.float64)
    bound = log_norms(block, y).growth_bound
    measured = sensitivity(block, y)
    assert (bound >= measured.growth * (1 - 1e-6)).all()
    assert (bound >= measured.singular_value * (1 - 1e-6)).all()


@pytest.mark.parametrize(
    "dynamics, integrator", [("standard", "euler"), ("parabolic", "rk4"), ("antisymmetric", "rk4")]
)
def test_iterative_extreme_eigenvalues_agree_with_dense(dynamics, integrator):
    block = _block(dynamics, integrator, width=14, steps=3)
    y = torch.randn(3, 14, dtype=torch.float64)
    dense, ours = trajectory_spectra(block, y), iterative_spectra(block, y)
    torch.testing.assert_close(ours.max_real, dense.max_real, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(ours.spectral_radius, dense.spectral_radius, rtol=1e-6, atol=1e-8)


def test_ftle_of_a_linear_network_are_log_step_map_eigenvalues_over_T():
    """Y_{l+1} = (I + hK) Y_l, K symmetric: λ_i = log|μ_i(I + hK)| / h (= N log|μ_i| / T),
    up to O(1/T) from the random start vectors."""
    g = torch.Generator().manual_seed(1)
    basis, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    rates = torch.tensor([0.3, 0.1, -0.1, -0.3, -0.5, -0.7], dtype=torch.float64)
    K = basis @ torch.diag(rates) @ basis.T
    block = ODEBlock(
        6, T=400.0, steps=400, grid=1, dynamics="standard", integrator="euler",
        activation="identity",
    ).double()  # fmt: skip
    with torch.no_grad():
        block.dynamics.weight.values.copy_(K.unsqueeze(0))
        block.dynamics.bias.values.zero_()
    ftle = lyapunov_exponents(block, torch.randn(3, 6, dtype=torch.float64), k=4)
    expected = torch.log1p(block.h * rates[:4]) / block.h
    for row in ftle.exponents:
        torch.testing.assert_close(row, expected, rtol=0, atol=0.02)
    assert ftle.summary()["k"] == 4


def test_ftle_of_a_verlet_network_on_its_carry():
    """Verlet on a linear Hamiltonian system below its step limit: |μ| = 1, exponents ≈ 0."""
    block = _block("hamiltonian", "verlet", width=4, steps=50, activation="identity")
    ftle = lyapunov_exponents(block, torch.randn(2, 4, dtype=torch.float64), k=2)
    assert np.abs(ftle.exponents.numpy()).max() < 0.2


def test_bad_k():
    block = _block(width=3)
    with pytest.raises(ResodeError, match="k must be between 1 and the carry size 3"):
        lyapunov_exponents(block, torch.randn(2, 3), k=5)


def test_frozen_eigenvalues_stable_while_solutions_grow(tmp_path):
    """Markus–Yamabe: max Re λ(A(t)) = −1/4 at every t, ‖y(T)‖ = e^{T/2}; μ₂ = 1/2 gives the
    bound e^{T/2} (attained), the frozen prediction decays; λ_1 ≈ 1/2."""
    from resode.experiments import EXPERIMENTS, run_experiment

    assert "frozen" in EXPERIMENTS
    result = run_experiment("frozen", tmp_path, quick=True)
    assert math.isclose(result["max_real_frozen"], -0.25, abs_tol=1e-12)
    assert math.isclose(result["log_norm_max"], 0.5, abs_tol=1e-10)
    assert result["frozen_prediction"] < 1 < result["growth"]
    assert math.isclose(result["growth"], result["exact_growth"], rel_tol=1e-5)
    assert result["log_norm_bound"] >= result["growth"] * (1 - 1e-9)
    assert abs(result["lyapunov_exponents"][0] - 0.5) < 0.05
    assert (tmp_path / "frozen.png").stat().st_size > 0 and (tmp_path / "frozen.json").exists()


def test_the_largest_eigenvalue_of_a_symmetric_part_near_zero_or_in_a_cluster():
    """λ_max of −KᵀK (rank-deficient: the top eigenvalue is 0, where ARPACK's relative test
    cannot pass) and of −KᵀK + I/2 (a dense cluster at the top), matrix-free, as exact."""
    import numpy as np
    from scipy.sparse.linalg import aslinearoperator

    from resode.analysis.iterative import symmetric_part_max

    rng = np.random.default_rng(0)
    wide, square = rng.standard_normal((40, 300)), rng.standard_normal((300, 300))
    for matrix in (-(wide.T @ wide), -(square.T @ square) + 0.5 * np.eye(300)):
        exact = np.linalg.eigvalsh(matrix)
        found = symmetric_part_max(aslinearoperator(matrix))
        assert abs(found - exact[-1]) <= 1e-8 * np.abs(exact).max()
