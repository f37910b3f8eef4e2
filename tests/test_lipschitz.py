"""The certified Lipschitz bound is never below the measured constant (random pairs, pairs
found by gradient ascent, Jacobian norms), exact where the reasoning is; certified radii are
never broken; networks without a finite bound say why."""

from __future__ import annotations

import math

import pytest
import torch

from resode import ConvResNet, ODEBlock, ResNet, ResodeError
from resode.analysis.lipschitz import (
    block_lipschitz,
    certified_accuracy,
    certified_radii,
    lipschitz_bound,
)
from resode.data.standardize import Standardization
from resode.model.dynamics import ParabolicDynamics

F64 = torch.float64


def _norms(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(dim=1)


def measured_constant(f, shape, seed: int = 0, pairs: int = 128, starts: int = 6) -> float:
    """A lower bound of f's Lipschitz constant: the largest ‖f(x) − f(x̃)‖/‖x − x̃‖ over
    random pairs, pairs improved by gradient ascent, and ‖∂f/∂x‖₂ at random points."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(pairs, *shape, generator=g, dtype=F64) * 2
    d = torch.randn(pairs, *shape, generator=g, dtype=F64)
    d = d * torch.logspace(-3, 0.5, pairs, dtype=F64).view(-1, *[1] * len(shape))
    with torch.no_grad():
        best = float((_norms(f(x + d) - f(x)) / _norms(d)).max())
    for row in x[:4]:
        jac = torch.autograd.functional.jacobian(lambda v: f(v.unsqueeze(0)).flatten(), row)
        best = max(best, float(torch.linalg.matrix_norm(jac.reshape(jac.shape[0], -1), ord=2)))
    # ascent on (x, direction) at fixed distances, so the pairs never collapse
    radius = torch.logspace(-2, 0, starts, dtype=F64).view(-1, *[1] * len(shape))
    x, u = x[:starts].clone().requires_grad_(), d[:starts].clone().requires_grad_()
    optimizer = torch.optim.Adam([x, u], lr=0.05)
    for _ in range(30):
        step = radius * u / _norms(u).view(-1, *[1] * len(shape))
        ratio = _norms(f(x + step) - f(x)) / radius.flatten()
        best = max(best, float(ratio.detach().max()))
        optimizer.zero_grad()
        (-ratio.sum()).backward()
        optimizer.step()
    return best


def _varied_in_time(model, std: float):
    """Weights drawn afresh at every grid node (they start constant in time), so blends and
    interpolated stages mix different weight sets."""
    with torch.no_grad():
        for unit in getattr(model, "units", None) or [model.block]:
            unit.dynamics.weight.values.normal_(0.0, std)
    return model


def _dense(dynamics, integrator, **options) -> ResNet:
    options = {"T": 2.0, "steps": 4, "init_std": 0.8, **options}
    model = ResNet(3, 4, 3, dynamics=dynamics, integrator=integrator, **options).double()
    return _varied_in_time(model, options["init_std"])


DENSE = [
    ("standard", "euler", {}),
    ("standard", "heun", {"activation": "relu"}),
    ("standard", "plain", {"activation": "relu"}),
    ("antisymmetric", "rk4", {"gamma": 0.1}),
    ("antisymmetric", "leapfrog", {"steps": 5, "grid": 3}),  # blends across weight jumps
    ("parabolic", "euler", {"steps": 5, "grid": 3}),
    ("parabolic", "euler", {"init_std": 1.5}),  # h s‖K‖² > 2: the convex-potential bound > 1
    ("parabolic", "rk3", {"interp": "linear", "grid": 2}),
    ("hamiltonian", "verlet", {"steps": 5, "grid": 2}),
    ("hamiltonian", "rk4", {"activation": "smooth_relu"}),
    ("second-order", "verlet", {}),
    ("second-order", "leapfrog", {}),
    ("diffusion-reaction", "imex", {}),
    ("diffusion-reaction", "euler", {}),
    ("diffusion-reaction", "heun", {"steps": 3, "grid": 2}),
]


@pytest.mark.parametrize("dynamics, integrator, options", DENSE)
def test_the_bound_dominates_the_measured_constant_dense(dynamics, integrator, options):
    torch.manual_seed(1)
    model = _dense(dynamics, integrator, **options)
    bound = lipschitz_bound(model, (3,))
    assert bound.finite and bound.value > 0
    assert measured_constant(model, (3,)) <= bound.value
    block = model.block
    unit = block_lipschitz(block)
    assert len(unit.steps) == block.steps
    assert measured_constant(block, (4,), seed=2) <= unit.value
    if integrator not in ("leapfrog", "verlet"):  # no start procedure: Π M_l over the steps
        assert unit.value <= math.prod(unit.steps) * (1 + 1e-9)


CONV = [
    ("antisymmetric", "rk4", 2, {"gamma": 0.1}),
    ("standard", "plain", 1, {"activation": "relu"}),
    ("parabolic", "euler", 2, {"steps": 3, "grid": 2}),
    ("hamiltonian", "verlet", 2, {}),
    ("second-order", "leapfrog", 1, {}),
    ("diffusion-reaction", "imex", 1, {}),
]


@pytest.mark.parametrize("dynamics, integrator, dims, options", CONV)
def test_the_bound_dominates_the_measured_constant_conv(dynamics, integrator, dims, options):
    torch.manual_seed(3)
    options = {"T": 1.5, "steps": 2, "init_std": 0.6, **options}
    model = ConvResNet(
        2, [2, 3], 3, spatial_dims=dims, dynamics=dynamics, integrator=integrator, **options
    ).double()
    _varied_in_time(model, options["init_std"])
    if integrator != "plain":  # depth changed after construction
        model.steps = [options["steps"], options["steps"] + 1]
    shape = (2, 4, 4) if dims == 2 else (2, 8)
    bound = lipschitz_bound(model, shape)
    names = [f.name for f in bound.factors]
    assert names == ["opening", "unit 0", "connector 0", "unit 1", "average pooling", "head"]
    assert measured_constant(model, shape, pairs=64, starts=4) <= bound.value


def test_batch_normalization_in_evaluation_mode_and_refused_in_training():
    torch.manual_seed(4)
    model = _dense("standard", "rk4", norm="batch", steps=3)
    with torch.no_grad():
        for _ in range(3):  # running statistics away from (0, 1)
            model(torch.randn(32, 3, dtype=F64) * 3)
        model.block.dynamics.norm_scale.values.uniform_(-1.5, 0.5)  # some gains negative
    with pytest.raises(ResodeError, match="training mode"):
        lipschitz_bound(model, (3,))
    model.eval()
    bound = lipschitz_bound(model, (3,))
    assert measured_constant(model, (3,)) <= bound.value
    model = _dense("parabolic", "euler", norm="batch", steps=3, T=1.0).train()
    with torch.no_grad():
        model(torch.randn(32, 3, dtype=F64) * 3)  # gains 1/σ(t) > 0: still a convex potential
    bound = lipschitz_bound(model.eval(), (3,))
    assert "convex-potential" in bound.factors[1].how
    assert measured_constant(model, (3,)) <= bound.value


@pytest.mark.parametrize(
    "norm, kernel", [("group", "dense"), ("layer", "dense"), ("instance", "conv")]
)
def test_per_example_normalization_has_no_finite_bound(norm, kernel):
    if kernel == "dense":
        model, shape = ResNet(3, 4, 2, norm=norm), (3,)
    else:
        model, shape = ConvResNet(1, [2], 2, norm=norm), (1, 4, 4)
    bound = lipschitz_bound(model, shape)
    assert bound.value == math.inf and norm in bound.reason and "not globally" in bound.reason
    assert "infinite" in bound.describe()


def test_refusals_name_the_problem():
    with pytest.raises(ResodeError, match="segments"):
        lipschitz_bound(ConvResNet(1, [2], 2, task="segmentation"), (1, 4, 4))
    with pytest.raises(ResodeError, match=r"input_shape must be \(3,\)"):
        lipschitz_bound(ResNet(3, 4, 2), (4,))
    with pytest.raises(ResodeError, match="positive"):
        lipschitz_bound(ResNet(3, 4, 2), (3,), scale=[1.0, 0.0, 1.0])
    with pytest.raises(ResodeError, match="ResNet or ConvResNet"):
        lipschitz_bound(torch.nn.Linear(3, 2), (3,))


def test_input_scaling_is_max_one_over_sigma_and_holds_in_the_users_units():
    torch.manual_seed(5)
    model = _dense("parabolic", "euler")
    std = torch.tensor([0.5, 2.0, 1.0], dtype=F64)
    mean = torch.tensor([1.0, -1.0, 0.0], dtype=F64)
    plain, scaled = lipschitz_bound(model, (3,)), lipschitz_bound(model, (3,), scale=std)
    assert scaled.value == pytest.approx(2 * plain.value, rel=1e-8)
    fitted = Standardization(tuple(mean.tolist()), tuple(std.tolist()))
    assert lipschitz_bound(model, (3,), scale=fitted).value == scaled.value
    assert scaled.factors[0].name == "input scaling"
    assert measured_constant(lambda x: model((x - mean) / std), (3,)) <= scaled.value


def _set_norm(weights: torch.Tensor, norm: float) -> None:
    with torch.no_grad():
        weights.mul_(norm / torch.linalg.matrix_norm(weights, ord=2).view(-1, 1, 1))


def test_convex_potential_step_is_exact_for_a_linear_parabolic_euler_step():
    """σ = identity, one step: Y ↦ (I − hKᵀK)Y has norm max(1, h‖K‖² − 1), the bound."""
    torch.manual_seed(6)
    block = ODEBlock(
        4, dynamics="parabolic", integrator="euler", activation="identity", T=1.0, steps=1
    ).double()
    for squared, expected in ((5.0, 4.0), (1.8, 1.0)):
        _set_norm(block.dynamics.weight.values, math.sqrt(squared))
        k = block.dynamics.weight.values[0].detach()
        exact = float(torch.linalg.matrix_norm(torch.eye(4, dtype=F64) - k.T @ k, ord=2))
        value = block_lipschitz(block).value
        assert value == pytest.approx(expected, rel=1e-8) and exact <= value
        if expected > 1:  # attained: the top eigenvector of KᵀK
            assert exact == pytest.approx(value, rel=1e-8)
    net = ResNet(3, 4, 2, dynamics="parabolic", integrator="euler", T=1.0, steps=1).double()
    _set_norm(net.block.dynamics.weight.values, math.sqrt(1.9))  # h s ‖K‖² ≤ 2
    bound = lipschitz_bound(net, (3,))
    unit = next(f for f in bound.factors if f.name == "unit")
    assert unit.value == pytest.approx(1.0, abs=1e-8) and "convex-potential" in unit.how


def test_a_linear_layer_map_and_the_fixed_parts_are_exact():
    torch.manual_seed(7)
    block = ODEBlock(
        4, integrator="plain", dynamics="standard", activation="identity", steps=1
    ).double()
    k = block.dynamics.weight.values[0].detach()
    assert block_lipschitz(block).value == pytest.approx(
        float(torch.linalg.matrix_norm(k, ord=2)), rel=1e-8
    )
    model = ConvResNet(1, [2, 2], 3, activation="identity").double()
    bound = {f.name: f.value for f in lipschitz_bound(model, (1, 8, 8)).factors}
    w = model.connectors[0].conv.weight.detach().reshape(2, 2)
    assert bound["connector 0"] == pytest.approx(float(torch.linalg.matrix_norm(w, 2)) / 2)
    assert bound["average pooling"] == pytest.approx(1 / 4)  # 1/√16 on 4×4


class _ScaledParabolic(ParabolicDynamics):
    """Parabolic with B = −c_k K_k per weight node (a non-expansive option's form)."""

    scales = (0.5, 0.25)

    def _field_grids(self, h, image_size):
        w = self.weight.values
        c = torch.tensor(self.scales, dtype=w.dtype).view(-1, *[1] * (w.dim() - 1))
        return (w, self.bias.values, -c * w)


def test_parabolic_euler_with_a_scaled_transpose_side_is_non_expansive():
    torch.manual_seed(8)
    block = ODEBlock(4, dynamics="parabolic", integrator="euler", T=2.0, steps=2).double()
    block.dynamics.__class__ = _ScaledParabolic
    _set_norm(block.dynamics.weight.values, math.sqrt(3.0))  # h‖K‖² = 3, c h‖K‖² ≤ 1.5
    unit = block_lipschitz(block)
    assert unit.value <= 1 + 1e-8 and all(step <= 1 + 1e-8 for step in unit.steps)
    assert "convex-potential" in unit.how
    assert measured_constant(block, (4,)) <= 1 + 1e-9
    block.steps = 3  # weights jump inside steps: blends of two c's, still ≤ 1
    assert block_lipschitz(block).value <= 1 + 1e-8
    assert measured_constant(block, (4,), seed=1) <= 1 + 1e-9
    plain = ODEBlock(4, dynamics="parabolic", integrator="euler", T=2.0, steps=2).double()
    plain.dynamics.weight.values.data.copy_(block.dynamics.weight.values.data)
    assert block_lipschitz(plain).value == pytest.approx(4.0, rel=1e-6)  # (h‖K‖² − 1)², c = 1


def test_certified_examples_are_never_broken():
    torch.manual_seed(9)
    model = ResNet(
        2, 6, 3, dynamics="parabolic", integrator="euler", T=1.0, steps=3, init_std=0.3
    ).double()
    with torch.no_grad():
        model.head.weight.mul_(4.0)
    x = torch.randn(48, 2, dtype=F64)
    with torch.no_grad():
        logits = model(x)
    y = logits.argmax(dim=1)
    y[:6] = (y[:6] + 1) % 3  # some misclassified
    bound = lipschitz_bound(model, (2,))
    result = certified_accuracy(model, x, y, [0.0, 0.05, 1e9], bound)
    radii = result.radii
    torch.testing.assert_close(radii, certified_radii(logits, y, bound.value))
    assert (radii[:6] == 0).all() and (radii[6:] > 0).all()
    assert result.accuracy == (
        pytest.approx(42 / 48),
        pytest.approx(float((radii >= 0.05).double().mean())),
        0.0,
    )
    keep = radii > 0
    xs, ys, rs = x[keep], y[keep], radii[keep].view(-1, 1) * (1 - 1e-6)
    g = torch.Generator().manual_seed(0)
    for _ in range(10):  # random directions on the sphere of radius r
        d = torch.randn(xs.shape, generator=g, dtype=F64)
        with torch.no_grad():
            assert (model(xs + rs * d / _norms(d).view(-1, 1)).argmax(1) == ys).all()
    runner_up = logits[keep].scatter(1, ys.view(-1, 1), -math.inf).argmax(1)
    delta = torch.zeros_like(xs, requires_grad=True)
    for _ in range(40):  # projected gradient ascent toward the runner-up class
        out = model(xs + delta)
        gap = out.gather(1, runner_up.view(-1, 1)) - out.gather(1, ys.view(-1, 1))
        (grad,) = torch.autograd.grad(gap.sum(), delta)
        with torch.no_grad():
            delta += 0.2 * rs * grad / _norms(grad).clamp_min(1e-30).view(-1, 1)
            delta *= (rs / _norms(delta).view(-1, 1)).clamp(max=1.0)
            assert (model(xs + delta).argmax(1) == ys).all()
