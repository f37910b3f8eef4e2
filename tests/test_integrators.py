"""Butcher tableaus: validation, stability functions, convergence orders."""

import math

import numpy as np
import pytest
import torch

from resode import ButcherTableau, ODEBlock, ResodeError, get_integrator, integrate
from resode.integrators import INTEGRATORS

FIRST_ORDER = sorted(
    name for name, method in INTEGRATORS.items() if method.needs is None and method.discretizes_ode
)

CLOSED_FORMS = {
    "euler": lambda z: 1 + z,
    "heun": lambda z: 1 + z + z**2 / 2,
    "rk3": lambda z: 1 + z + z**2 / 2 + z**3 / 6,
    "rk4": lambda z: 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24,
}


def _complex_samples() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.normal(size=50) * 2 + 1j * rng.normal(size=50) * 2


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_stability_function_matches_closed_form(name):
    z = _complex_samples()
    R = get_integrator(name).stability_function
    np.testing.assert_allclose(R(z), CLOSED_FORMS[name](z), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_stability_function_matches_resolvent_formula(name):
    """R(z) = 1 + z bᵀ(I − zA)⁻¹𝟙 evaluated directly, on numpy and on torch input."""
    tableau = get_integrator(name).tableau
    A, b = np.array(tableau.a), np.array(tableau.b)
    s = len(b)
    z = _complex_samples()
    direct = np.array([1 + zk * b @ np.linalg.solve(np.eye(s) - zk * A, np.ones(s)) for zk in z])
    np.testing.assert_allclose(tableau.stability_function(z), direct, rtol=1e-12)
    as_tensor = tableau.stability_function(torch.from_numpy(z))
    assert as_tensor.dtype == torch.complex128
    np.testing.assert_allclose(as_tensor.numpy(), direct, rtol=1e-12)


def test_tableau_validation():
    with pytest.raises(ValueError, match="strictly lower"):
        ButcherTableau("bad", a=((1.0,),), b=(1.0,), c=(1.0,), order=1)
    with pytest.raises(ValueError, match="sum to 1"):
        ButcherTableau("bad", a=((0.0,),), b=(0.5,), c=(0.0,), order=1)
    with pytest.raises(ValueError, match="row sums"):
        ButcherTableau("bad", a=((0.0, 0.0), (1.0, 0.0)), b=(0.5, 0.5), c=(0.0, 0.5), order=2)


def _fitted_slope(errors, step_sizes) -> float:
    return float(np.polyfit(np.log(step_sizes), np.log(errors), 1)[0])


def _linear_system() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    A = torch.randn(4, 4, generator=g, dtype=torch.float64)
    A = 0.5 * (A - A.T) - 0.3 * torch.eye(4, dtype=torch.float64)  # a damped rotation
    y0 = torch.randn(5, 4, generator=g, dtype=torch.float64)  # batch of 5
    return A, y0


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_convergence_order_of_integrate(name):
    """Y' = AY against the matrix exponential: slope of log error vs log h within 0.2."""
    A, y0 = _linear_system()
    T = 2.0
    exact = y0 @ torch.linalg.matrix_exp(T * A).T
    steps = [20, 40, 80, 160]
    errors = [
        float((integrate(lambda t, y: y @ A.T, y0, T, n, method=name) - exact).norm())
        for n in steps
    ]
    order = get_integrator(name).order
    assert abs(_fitted_slope(errors, [T / n for n in steps]) - order) < 0.2


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_convergence_order_of_block(name):
    """An ODEBlock with identity activation, one weight set and no bias solves Y' = KY."""
    A, y0 = _linear_system()
    T = 2.0
    block = ODEBlock(
        4, T=T, steps=10, dynamics="standard", integrator=name, activation="identity", grid=1
    ).double()
    with torch.no_grad():
        block.dynamics.weight.values.copy_(A.unsqueeze(0))
    exact = y0 @ torch.linalg.matrix_exp(T * A).T
    steps = [20, 40, 80, 160]
    errors = []
    for n in steps:
        block.steps = n
        with torch.no_grad():
            errors.append(float((block(y0) - exact).norm()))
    assert abs(_fitted_slope(errors, [T / n for n in steps]) - get_integrator(name).order) < 0.2


def test_time_dependent_field_order():
    """y' = cos(t) y, y(0)=1: y(T) = exp(sin T); checks the stage times t_l + c_i h."""
    y0 = torch.ones(1, dtype=torch.float64)
    exact = math.exp(math.sin(3.0))
    for name in FIRST_ORDER:
        steps = [32, 64, 128]
        errors = [
            abs(float(integrate(lambda t, y: math.cos(t) * y, y0, 3.0, n, method=name)) - exact)
            for n in steps
        ]
        slope = _fitted_slope(errors, [3.0 / n for n in steps])
        assert abs(slope - get_integrator(name).order) < 0.2, (name, slope)


def test_integrate_trajectory_and_t0():
    y0 = torch.ones(2, 3, dtype=torch.float64)
    path = integrate(lambda t, y: -y, y0, 1.0, 4, method="euler", return_trajectory=True)
    assert path.shape == (5, 2, 3)
    torch.testing.assert_close(path[0], y0)
    torch.testing.assert_close(path[-1], y0 * 0.75**4)
    # f sees absolute times t0 + l h
    seen = []
    integrate(lambda t, y: seen.append(t) or y, y0, 1.0, 2, method="euler", t0=5.0)
    assert seen == [5.0, 5.5]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(method="rk5"),
            "unknown integrator 'rk5'; choose one of: "
            "euler, heun, imex, leapfrog, plain, rk3, rk4, verlet",
        ),
        (dict(T=0.0), "T must be a finite number > 0"),
        (dict(steps=0), "steps must be an integer >= 1"),
    ],
)
def test_integrate_rejects_bad_input(kwargs, message):
    args = dict(f=lambda t, y: y, y0=torch.ones(2), T=1.0, steps=2) | kwargs
    with pytest.raises(ResodeError, match=message.replace("(", r"\(")):
        integrate(**args)
