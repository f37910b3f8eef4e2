"""The non-expansive network (``lipschitz``): parabolic dynamics, forward Euler, constant
weights, with c = min(1, 2/(h s ‖K‖²)) per weight node and capped opening, connectors and
head, is L-Lipschitz: ‖f(x) − f(y)‖ ≤ L ‖x − y‖, measured on random pairs and at the largest
singular value of its Jacobian, with weights scaled far beyond the step-size limit."""

import pytest
import torch

from resode import ODEBlock
from resode.errors import ResodeError
from resode.model.convnet import ConvResNet
from resode.model.kernels import make_kernel
from resode.model.resnet import ResNet
from resode.model.spec import BlockSpec
from resode.training.config import TrainConfig

OPTIONS = dict(dynamics="parabolic", integrator="euler", T=4.0, steps=4, init_std=3.0)


def _inflate(model: torch.nn.Module, factor: float = 6.0) -> None:
    """Scale every weight up, so every cap and every step limit is active."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "weight" in name:
                parameter.mul_(factor)


def _ratios(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return (model(x) - model(y)).flatten(1).norm(dim=1) / (x - y).flatten(1).norm(dim=1)


def _jacobian_norm(model, x: torch.Tensor) -> float:
    """Largest singular value of ∂f/∂x at the examples of x (one at a time)."""
    largest = 0.0
    for example in x:
        jac = torch.autograd.functional.jacobian(lambda v: model(v.unsqueeze(0))[0], example)
        largest = max(largest, float(torch.linalg.matrix_norm(jac.reshape(len(jac), -1), 2)))
    return largest


@pytest.mark.parametrize("bound", [1.0, 3.0])
def test_a_dense_network_is_lipschitz_with_its_bound(bound):
    torch.manual_seed(0)
    model = ResNet(6, 10, 4, lipschitz=bound, **OPTIONS).double()
    _inflate(model)
    x = torch.randn(3000, 6, dtype=torch.float64)
    near = x + 1e-3 * torch.randn_like(x)
    far = torch.randn_like(x)
    worst = max(_ratios(model, x, near).max(), _ratios(model, x, far).max())
    assert worst <= bound * (1 + 1e-9)
    assert _jacobian_norm(model, x[:40]) <= bound * (1 + 1e-9)
    assert worst > 0.3 * bound  # the caps leave a network that is not trivially contractive


def test_the_same_network_without_the_option_is_expansive():
    torch.manual_seed(0)
    free = ResNet(6, 10, 4, **OPTIONS).double()
    _inflate(free)
    x = torch.randn(500, 6, dtype=torch.float64)
    assert _ratios(free, x, x + 1e-3 * torch.randn_like(x)).max() > 10


@pytest.mark.parametrize("spatial_dims", [1, 2])
def test_a_convolutional_network_is_non_expansive_at_any_depth(spatial_dims):
    torch.manual_seed(1)
    size = (16,) if spatial_dims == 1 else (8, 8)
    model = ConvResNet(2, [3, 4], 3, spatial_dims=spatial_dims, lipschitz=1.0, **OPTIONS).double()
    _inflate(model)
    x = torch.rand(400, 2, *size, dtype=torch.float64)
    for depth in ([4, 4], [9, 2]):
        model.steps = depth
        near = x + 1e-3 * torch.randn_like(x)
        assert _ratios(model, x, near).max() <= 1 + 1e-9
        assert _ratios(model, x, torch.rand_like(x)).max() <= 1 + 1e-9
    assert _jacobian_norm(model, x[:10]) <= 1 + 1e-9


def test_each_step_of_the_block_is_non_expansive():
    torch.manual_seed(2)
    block = ODEBlock(5, lipschitz=1.0, grid=3, **OPTIONS).double()  # M ∤ N: blended steps
    x = torch.randn(2000, 5, dtype=torch.float64)
    near = x + 1e-4 * torch.randn_like(x)
    with torch.no_grad():
        states = zip(block.trajectory(x), block.trajectory(near))
        gaps = [(a - b).norm(dim=1) for a, b in states]
    for before, after in zip(gaps[:-1], gaps[1:]):
        assert (after <= before * (1 + 1e-9)).all()
    scales = block.dynamics.step_scales(block.h)
    assert scales.max() < 1  # the weights are beyond h ≤ 2/‖K‖²: the constraint is active


def test_the_step_scale_is_the_lectures_step_size_condition():
    torch.manual_seed(3)
    block = ODEBlock(4, lipschitz=1.0, **OPTIONS).double()
    weights = block.dynamics.weight.values.detach()
    norms = torch.linalg.matrix_norm(weights, ord=2)
    expected = (2 / (block.h * norms**2)).clamp(max=1)
    assert torch.allclose(block.dynamics.step_scales(block.h).flatten(), expected)


def test_conv_norm_bounds_are_upper_bounds_and_nearly_tight():
    torch.manual_seed(4)
    kernel = make_kernel("conv2d", 3, 3)
    weights = torch.randn(6, 3, 3, 3, 3, dtype=torch.float64)
    bounds = kernel.operator_norms(weights, (7, 7))
    exact = torch.stack([torch.linalg.matrix_norm(kernel.matrix(w, (7, 7)), 2) for w in weights])
    assert (bounds >= exact * (1 - 1e-12)).all()
    assert (bounds <= 1.15 * exact).all()


@pytest.mark.parametrize(
    "options, named",
    [
        (dict(dynamics="parabolic", integrator="rk4"), "integrator 'rk4'"),
        (dict(dynamics="standard", integrator="euler"), "dynamics 'standard'"),
        (dict(dynamics="parabolic", integrator="euler", interp="linear"), "interp 'linear'"),
        (dict(dynamics="parabolic", integrator="euler", norm="batch"), "norm 'batch'"),
    ],
)
def test_settings_that_break_the_construction_are_refused_in_one_line(options, named):
    with pytest.raises(ResodeError, match=named) as error:
        BlockSpec(lipschitz=1.0, **options)
    assert "\n" not in str(error.value)


def test_the_option_reaches_a_run_and_segmentation_is_refused():
    config = TrainConfig(data="digits", dynamics="parabolic", integrator="euler", lipschitz=2.0)
    assert config.block_spec("conv2d").lipschitz == 2.0
    with pytest.raises(ResodeError, match="not segmentation"):
        ConvResNet(1, [4], 2, task="segmentation", lipschitz=1.0, **OPTIONS)


@pytest.mark.parametrize("kernel", ["dense", "conv1d"])
def test_the_exact_jacobian_of_a_non_expansive_step_is_its_autograd_jacobian(kernel):
    """J = −c Kᵀ diag(σ') K: the step scale c enters the spectra the analyses compute."""
    torch.manual_seed(5)
    block = ODEBlock(3, lipschitz=1.0, kernel=kernel, **OPTIONS).double()
    y = (
        torch.randn(2, 3, dtype=torch.float64)
        if kernel == "dense"
        else torch.randn(2, 3, 5, dtype=torch.float64)
    )
    block(y)  # the block learns the image size
    field = block.dynamics
    p = block.stage_parameters()[0][0]
    assert block.dynamics.step_scales(block.h, block.image_size).max() < 1
    exact = field.jacobian(y, p)
    auto = torch.stack(
        [torch.autograd.functional.jacobian(lambda v: field(v[None], p)[0], row).reshape(
            row.numel(), row.numel()) for row in y]
    )  # fmt: skip
    torch.testing.assert_close(exact, auto)
