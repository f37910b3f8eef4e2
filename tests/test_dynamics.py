"""Dynamics: structure (antisymmetry, negative semi-definiteness) and exact Jacobians."""

import itertools

import pytest
import torch

from resode import ResodeError, make_dynamics
from resode.integrators import SplitField
from resode.model.activations import ACTIVATIONS
from resode.model.dynamics import DYNAMICS


def _stage(dynamics, l=0):
    return dynamics.stage_parameters(dynamics.weight.intervals, (0.0,))[l][0]


@pytest.mark.parametrize("gamma", [0.0, 0.1, 2.5])
def test_antisymmetric_kernel_eigenvalues_have_real_part_minus_gamma(gamma):
    dynamics = make_dynamics("antisymmetric", 12, T=1.0, intervals=3, gamma=gamma).double()
    with torch.no_grad():
        dynamics.weight.values.copy_(torch.randn_like(dynamics.weight.values) * 3)
    operators = dynamics.operator_grid()
    eigenvalues = torch.linalg.eigvals(operators)
    torch.testing.assert_close(
        eigenvalues.real, torch.full_like(eigenvalues.real, -gamma), atol=1e-10, rtol=0
    )


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_antisymmetric_jacobian_has_nonpositive_real_spectrum(activation):
    """J = diag(σ') (K − Kᵀ) with σ' ≥ 0: Re λ(J) ≤ 0 at random states."""
    dynamics = make_dynamics("antisymmetric", 8, T=1.0, intervals=1, activation=activation)
    dynamics = dynamics.double()
    y = torch.randn(64, 8, dtype=torch.float64)
    eigenvalues = torch.linalg.eigvals(dynamics.jacobian(y, _stage(dynamics)).detach())
    assert float(eigenvalues.real.max()) <= 1e-10


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_parabolic_jacobian_is_negative_semidefinite(activation):
    dynamics = make_dynamics("parabolic", 8, T=1.0, intervals=1, activation=activation).double()
    with torch.no_grad():
        dynamics.bias.values.normal_()
    y = torch.randn(64, 8, dtype=torch.float64)
    J = dynamics.jacobian(y, _stage(dynamics))
    torch.testing.assert_close(J, J.transpose(-1, -2))
    J = J.detach()
    assert float(torch.linalg.eigvalsh(J).max()) <= 1e-12
    assert float(torch.linalg.eigvalsh(J).min()) < -1e-3  # not trivially zero


@pytest.mark.parametrize(
    "name, activation", list(itertools.product(sorted(DYNAMICS), sorted(ACTIVATIONS)))
)
def test_exact_jacobian_matches_autograd(name, activation):
    dynamics = make_dynamics(name, 5, T=1.0, intervals=2, activation=activation).double()
    with torch.no_grad():
        dynamics.bias.values.normal_()
    p = _stage(dynamics, 1)
    split = isinstance(dynamics, SplitField)
    y = torch.randn(7, 10 if split else 5, dtype=torch.float64)  # split: [Y, Z]
    exact = dynamics.jacobian(y, p)
    numeric = torch.stack(
        [torch.autograd.functional.jacobian(lambda v: dynamics(v[None], p)[0], row) for row in y]
    )
    torch.testing.assert_close(exact, numeric, rtol=1e-10, atol=1e-10)


def test_dynamics_bad_names():
    with pytest.raises(
        ResodeError,
        match="unknown dynamics 'wave'; choose one of: antisymmetric, diffusion-reaction, "
        "hamiltonian, parabolic, second-order, standard",
    ):
        make_dynamics("wave", 3, T=1.0, intervals=1)
    with pytest.raises(
        ResodeError,
        match="unknown activation 'gelu'; choose one of: identity, relu, smooth_relu, tanh",
    ):
        make_dynamics("standard", 3, T=1.0, intervals=1, activation="gelu")
    with pytest.raises(ResodeError, match="gamma applies only to antisymmetric"):
        make_dynamics("standard", 3, T=1.0, intervals=1, gamma=0.5)
    with pytest.raises(ResodeError, match="gamma must be a finite number >= 0"):
        make_dynamics("antisymmetric", 3, T=1.0, intervals=1, gamma=-1.0)
