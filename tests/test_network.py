"""The whole network: float64 gradient checks, input validation, regularizers."""

import itertools

import pytest
import torch
from torch.func import functional_call

from resode import ODEBlock, ResNet, ResodeError
from resode.integrators import INTEGRATORS
from resode.model.dynamics import DYNAMICS
from resode.training.regularizers import regularization, time_smoothness, weight_decay


@pytest.mark.parametrize(
    "dynamics, integrator",
    [
        (d, i)
        for d, i in itertools.product(sorted(DYNAMICS), sorted(INTEGRATORS))
        if INTEGRATORS[i].supports(DYNAMICS[d])
    ],
)
def test_network_gradient_float64(dynamics, integrator):
    """gradcheck of loss(input, all parameters) for every dynamics × integrator."""
    model = ResNet(
        2,
        3,
        2,
        T=1.0,
        steps=3,
        dynamics=dynamics,
        integrator=integrator,
        interp="linear",
        gamma=0.1 if dynamics == "antisymmetric" else 0.0,
    ).double()
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in model.parameters())
    x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)

    def loss(x, *values):
        out = functional_call(model, dict(zip(names, values)), (x,))
        return torch.nn.functional.cross_entropy(out, torch.tensor([0, 1, 1, 0]))

    assert torch.autograd.gradcheck(loss, (x, *params), eps=1e-6, atol=1e-7)


def test_regularizer_gradients_float64():
    class Penalty(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = ResNet(2, 3, 2, steps=4, interp="linear").double()

        def forward(self):
            return regularization(self.model, 0.3, 0.02)

    wrapper = Penalty()
    names = [n for n, _ in wrapper.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in wrapper.parameters())

    def penalty(*values):
        return functional_call(wrapper, dict(zip(names, values)), ())

    assert torch.autograd.gradcheck(penalty, params, eps=1e-6, atol=1e-7)


def test_regularization_terms():
    model = ResNet(2, 3, 2, steps=4)
    assert regularization(model, 0.0, 0.0) is None
    total = regularization(model, 2.0, 0.5)
    torch.testing.assert_close(total, 2.0 * time_smoothness(model) + 0.5 * weight_decay(model))


def test_taylor_remainder_is_second_order():
    """E(θ + εd) − E(θ) − ε∇E·d = O(ε²): the gradient is that of the discrete network."""
    model = ResNet(2, 4, 3, T=2.0, steps=5, dynamics="standard", integrator="rk4").double()
    x = torch.randn(16, 2, dtype=torch.float64)
    y = torch.randint(0, 3, (16,))
    loss = torch.nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    directions = [torch.randn_like(p) for p in model.parameters()]
    slope = sum((g * d).sum() for g, d in zip(grads, directions))
    remainders = []
    for eps in (1e-2, 5e-3, 2.5e-3):
        with torch.no_grad():
            for p, d in zip(model.parameters(), directions):
                p.add_(eps * d)
            moved = torch.nn.functional.cross_entropy(model(x), y)
            for p, d in zip(model.parameters(), directions):
                p.sub_(eps * d)
        remainders.append(abs(float(moved - loss - eps * slope)))
    ratios = [remainders[i] / remainders[i + 1] for i in range(2)]
    assert all(3.5 < r < 4.5 for r in ratios), ratios


def test_resnet_shapes_and_steps_property():
    model = ResNet(5, 8, 3, steps=4)
    assert model(torch.randn(10, 5)).shape == (10, 3)
    model.steps = 12
    assert model.block.steps == 12 and model(torch.randn(2, 5)).shape == (2, 3)


@pytest.mark.parametrize(
    "x, message",
    [
        (torch.randn(4, 3), r"input must have shape \(batch, 2\), got \(4, 3\)"),
        (torch.randn(4), r"input must have shape \(batch, 2\), got \(4,\)"),
        (torch.tensor([[1.0, float("nan")]]), "input contains non-finite values"),
        (torch.tensor([[1.0, float("inf")]]), "input contains non-finite values"),
        (torch.ones(2, 2, dtype=torch.int64), "input must be a floating-point tensor"),
        ([[1.0, 2.0]], "input must be a torch.Tensor, got list"),
    ],
)
def test_resnet_rejects_bad_input(x, message):
    with pytest.raises(ResodeError, match=message):
        ResNet(2, 4, 2, steps=2)(x)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(T=0.0), "T must be a finite number > 0, got 0.0"),
        (dict(T=-1.0), "T must be a finite number > 0"),
        (dict(T=float("nan")), "T must be a finite number > 0"),
        (dict(steps=0), "steps must be an integer >= 1, got 0"),
        (dict(steps=2.5), "steps must be an integer >= 1, got 2.5"),
        (dict(width=0), "width must be an integer >= 1, got 0"),
        (
            dict(integrator="rk5"),
            "unknown integrator 'rk5'; choose one of: "
            "euler, heun, imex, leapfrog, plain, rk3, rk4, verlet",
        ),
        (
            dict(dynamics="x"),
            "unknown dynamics 'x'; choose one of: antisymmetric, diffusion-reaction, hamiltonian, "
            "parabolic, second-order, standard",
        ),
    ],
)
def test_block_rejects_bad_config(kwargs, message):
    args = dict(width=3, T=1.0, steps=4) | kwargs
    with pytest.raises(ResodeError, match=message):
        ODEBlock(**args)


def test_block_rejects_wrong_width():
    with pytest.raises(
        ResodeError, match=r"ODEBlock expects input of shape \(batch, 3\), got \(2, 4\)"
    ):
        ODEBlock(3, steps=2)(torch.randn(2, 4))
