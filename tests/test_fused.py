"""The fused dense layer: exact gradients, equality with the eager ops, double backward."""

import pytest
import torch

from resode import ODEBlock
from resode.analysis import sensitivity
from resode.model import fused
from resode.model.activations import get_activation
from resode.model.kernels import make_kernel

ACTIVATIONS = fused.FUSED_ACTIVATIONS


@pytest.fixture
def always_fuse(monkeypatch):
    """Fuse at every size and dtype (by default only large CPU float32 layers are fused)."""
    monkeypatch.setattr(fused, "worth_fusing", lambda y, weight: True)


def _inputs(dtype, batch=6, width=5):
    y = torch.randn(batch, width, dtype=dtype, requires_grad=True)
    weight = torch.randn(width, width, dtype=dtype, requires_grad=True)
    bias = torch.randn(width, dtype=dtype, requires_grad=True)
    return y, weight, bias


def _layer(activation):
    return lambda y, w, b: fused.dense_layer(y, w, b, activation)


def _eager(activation):
    sigma = get_activation(activation)
    return lambda y, w, b: sigma(torch.nn.functional.linear(y, w, b))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_are_exact_in_float64(activation):
    inputs = _inputs(torch.float64)
    assert torch.autograd.gradcheck(_layer(activation), inputs)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_double_backward_is_exact_in_float64(activation):
    inputs = _inputs(torch.float64)
    assert torch.autograd.gradgradcheck(_layer(activation), inputs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_matches_the_eager_ops(activation, dtype):
    inputs = _inputs(dtype, batch=64, width=32)
    out = _layer(activation)(*inputs)
    expected = _eager(activation)(*inputs)
    torch.testing.assert_close(out, expected)
    seed = torch.randn_like(out)
    grads = torch.autograd.grad(out, inputs, seed)
    expected_grads = torch.autograd.grad(expected, inputs, seed)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad)


def test_saved_output_survives_repeated_backward():
    inputs = _inputs(torch.float32, batch=64, width=32)
    out = _layer("tanh")(*inputs)
    seed = torch.randn_like(out)
    first = torch.autograd.grad(out, inputs, seed, retain_graph=True)
    second = torch.autograd.grad(out, inputs, seed)
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_dispatch_fuses_only_dense_kernels_and_supported_activations(always_fuse):
    y, weight, bias = _inputs(torch.float32)
    dense = make_kernel("dense", 5)
    out = fused.activated_linear(dense, get_activation("tanh"), y, weight, bias)
    assert type(out.grad_fn).__name__ == "_PlainDenseLayerBackward"
    out = fused.activated_linear(dense, get_activation("smooth_relu"), y, weight, bias)
    assert "DenseLayer" not in type(out.grad_fn).__name__
    conv = make_kernel("conv1d", 5)
    y1 = torch.randn(2, 5, 7)
    out = fused.activated_linear(conv, get_activation("tanh"), y1, torch.randn(5, 5, 3), bias)
    assert "DenseLayer" not in type(out.grad_fn).__name__
    with fused.disabled():
        out = fused.activated_linear(dense, get_activation("tanh"), y, weight, bias)
    assert type(out.grad_fn).__name__ == "TanhBackward0"


def test_fuses_large_float32_layers_only():
    n = fused.MIN_ELEMENTS // fused.MIN_BATCH
    weight, bias = torch.randn(n, n, requires_grad=True), torch.zeros(n)
    expected = fused._onednn(torch.zeros(1))
    for y, fuses in [
        (torch.randn(fused.MIN_BATCH, n), expected),
        (torch.randn(fused.MIN_BATCH - 1, n), False),
        (torch.randn(fused.MIN_BATCH, n // 2), False),
        (torch.randn(fused.MIN_BATCH, n, dtype=torch.float64), False),
    ]:
        w, b = weight[: y.shape[1], : y.shape[1]].to(y.dtype), bias[: y.shape[1]].to(y.dtype)
        out = fused.activated_linear(make_kernel("dense", n), get_activation("tanh"), y, w, b)
        assert ("DenseLayer" in type(out.grad_fn).__name__) == fuses


@pytest.mark.parametrize("dynamics", ["standard", "antisymmetric"])
@pytest.mark.parametrize("integrator", ["euler", "rk4"])
def test_block_matches_the_eager_path(dynamics, integrator, always_fuse):
    block = ODEBlock(16, steps=6, dynamics=dynamics, integrator=integrator)
    y0 = torch.randn(32, 16, requires_grad=True)
    out = block(y0)
    assert "_PlainDenseLayerBackward" in _graph_names(out)
    grads = torch.autograd.grad(out.square().sum(), [y0, *block.parameters()])
    with fused.disabled():
        expected = block(y0)
        expected_grads = torch.autograd.grad(expected.square().sum(), [y0, *block.parameters()])
    assert "_PlainDenseLayerBackward" not in _graph_names(expected)
    torch.testing.assert_close(out, expected)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-4, atol=1e-5)


def _graph_names(tensor):
    names, stack, seen = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


def test_block_gradcheck_in_float64(always_fuse):
    block = ODEBlock(3, steps=3, dynamics="standard", integrator="rk4").double()
    y0 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    weight = block.dynamics.weight.values
    assert torch.autograd.gradcheck(lambda y: block(y), (y0,))
    assert torch.autograd.gradgradcheck(lambda y: block(y), (y0,))
    assert torch.autograd.gradcheck(
        lambda w: torch.func.functional_call(block, {"dynamics.weight.values": w}, (y0,)),
        (weight.detach().clone().requires_grad_(True),),
    )


def test_torch_func_jacobian_matches_the_exact_formula(always_fuse):
    block = ODEBlock(6, steps=2, dynamics="standard")
    dynamics = block.dynamics
    p = dynamics.stage_parameters(2, (0.0,))[1][0]
    y = torch.randn(5, 6)
    jacobian = torch.func.vmap(torch.func.jacrev(lambda row: dynamics(row[None], p)[0]))(y)
    torch.testing.assert_close(jacobian, dynamics.jacobian(y, p), rtol=1e-4, atol=1e-5)


def test_sensitivity_is_unchanged_by_fusion(always_fuse):
    block = ODEBlock(8, steps=4, dynamics="standard", integrator="rk4")
    y0 = torch.randn(5, 8)
    result = sensitivity(block, y0, iterations=20)
    with fused.disabled():
        expected = sensitivity(block, y0, iterations=20)
    torch.testing.assert_close(result.singular_value, expected.singular_value)
    torch.testing.assert_close(result.growth, expected.growth)
