"""Convolutional kernels and dynamics: adjointness, antisymmetric spectrum, gradients."""

import itertools

import pytest
import torch

from resode import ODEBlock, ResodeError, make_dynamics
from resode.integrators import INTEGRATORS, SplitField
from resode.model.dynamics import DYNAMICS
from resode.model.kernels import ConvKernel, make_kernel

SPATIAL = {1: (7,), 2: (5, 4)}


@pytest.mark.parametrize("dims, size", [(1, 3), (1, 5), (2, 3), (2, 5)])
def test_transpose_is_the_exact_adjoint(dims, size):
    kernel = ConvKernel(3, dims, size)
    weight = torch.randn(kernel.weight_shape, dtype=torch.float64)
    y = torch.randn(4, 3, *SPATIAL[dims], dtype=torch.float64)
    z = torch.randn(4, 3, *SPATIAL[dims], dtype=torch.float64)
    left = (kernel.apply(y, weight) * z).sum()
    right = (y * kernel.apply_transpose(z, weight)).sum()
    assert abs(float(left - right)) <= 1e-12 * max(1.0, abs(float(left)))
    matrix = kernel.matrix(weight, SPATIAL[dims])
    torch.testing.assert_close(
        kernel.apply(y, weight).flatten(1), y.flatten(1) @ matrix.T, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("gamma", [0.0, 0.7])
def test_antisymmetric_convolution_spectrum(dims, gamma):
    """K − Kᵀ − γI as a convolution: matrix antisymmetric up to −γI, Re λ = −γ."""
    kernel = ConvKernel(2, dims, 3)
    weights = torch.randn(1, *kernel.weight_shape, dtype=torch.float64)
    operator = kernel.antisymmetric(weights, gamma)[0]
    A = kernel.matrix(operator, SPATIAL[dims])
    K = kernel.matrix(weights[0], SPATIAL[dims])
    eye = torch.eye(A.shape[0], dtype=torch.float64)
    torch.testing.assert_close(A, K - K.T - gamma * eye, rtol=1e-12, atol=1e-12)
    eigenvalues = torch.linalg.eigvals(A)
    torch.testing.assert_close(
        eigenvalues.real, torch.full_like(eigenvalues.real, -gamma), atol=1e-10, rtol=0
    )


@pytest.mark.parametrize("name", sorted(DYNAMICS))
def test_conv_jacobian_matches_autograd(name):
    dynamics = make_dynamics(name, 2, T=1.0, intervals=1, kernel="conv2d").double()
    with torch.no_grad():
        dynamics.bias.values.normal_()
    p = dynamics.stage_parameters(1, (0.0,))[0][0]
    split = isinstance(dynamics, SplitField)
    channels = 4 if split else 2  # split dynamics: [Y, Z] along the channels
    y = torch.randn(3, channels, 4, 3, dtype=torch.float64)
    exact = dynamics.jacobian(y, p)
    n = channels * 12
    automatic = torch.stack(
        [
            torch.autograd.functional.jacobian(lambda v: dynamics(v[None], p)[0], row).reshape(n, n)
            for row in y
        ]
    )
    torch.testing.assert_close(exact, automatic, rtol=1e-10, atol=1e-12)


def test_instance_norm_jacobian_by_autograd_and_training_batch_norm_refused():
    dynamics = make_dynamics("standard", 2, T=1.0, intervals=1, kernel="conv1d", norm="instance")
    dynamics = dynamics.double()
    p = dynamics.stage_parameters(1, (0.0,))[0][0]
    y = torch.randn(3, 2, 5, dtype=torch.float64)
    J = dynamics.jacobian(y, p)
    numeric = torch.autograd.functional.jacobian(lambda v: dynamics(v[None], p)[0], y[1])
    torch.testing.assert_close(J[1], numeric.reshape(10, 10), rtol=1e-9, atol=1e-12)
    batch = make_dynamics("standard", 2, T=1.0, intervals=1, kernel="conv1d", norm="batch")
    with pytest.raises(ResodeError, match="batch normalization in training mode couples the"):
        batch.jacobian(y.float(), batch.stage_parameters(1, (0.0,))[0][0])


@pytest.mark.parametrize(
    "dynamics, integrator",
    [
        (d, i)
        for d, i in itertools.product(sorted(DYNAMICS), sorted(INTEGRATORS))
        if INTEGRATORS[i].supports(DYNAMICS[d])
    ],
)
@pytest.mark.parametrize("kernel", ["conv1d", "conv2d"])
def test_conv_block_gradient_float64(dynamics, integrator, kernel):
    block = ODEBlock(
        2, T=1.0, steps=2, dynamics=dynamics, integrator=integrator, kernel=kernel, interp="linear"
    ).double()
    names = [n for n, _ in block.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in block.parameters())
    y0 = torch.randn(2, 2, *SPATIAL[int(kernel[4])], dtype=torch.float64, requires_grad=True)

    def output(y0, *values):
        return torch.func.functional_call(block, dict(zip(names, values)), (y0,)).square().sum()

    assert torch.autograd.gradcheck(output, (y0, *params), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_normalized_conv_block_gradient(norm):
    block = ODEBlock(2, steps=2, kernel="conv1d", norm=norm).double()
    y0 = torch.randn(3, 2, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda y: block(y).square().sum(), (y0,), eps=1e-6, atol=1e-7)


def test_bad_conv_settings():
    with pytest.raises(ResodeError, match="kernel size must be odd"):
        make_kernel("conv2d", 3, 4)
    with pytest.raises(
        ResodeError, match="unknown kernel 'conv3d'; choose one of: conv1d, conv2d, dense"
    ):
        make_kernel("conv3d", 3)
    with pytest.raises(ResodeError, match="unknown normalization 'weird'"):
        ODEBlock(2, kernel="conv1d", norm="weird")
    with pytest.raises(ResodeError, match=r"ODEBlock expects input of shape \(batch, 2, H, W\)"):
        ODEBlock(2, kernel="conv2d")(torch.randn(1, 2, 5))
