"""Gauss–Newton–Krylov and variable projection: the matrix-free product against the dense
JᵀH J, the exact least-squares head, monotone Newton on the softmax head, training, bad input."""

import pytest
import torch
from torch.func import functional_call

from resode.cli import main
from resode.model.resnet import ResNet
from resode.tasks import get_task
from resode.training.config import TrainConfig
from resode.training.gauss_newton import GaussNewton, conjugate_gradients
from resode.training.loop import train
from resode.training.regularizers import regularization
from resode.training.varpro import VariableProjection, least_squares_head, softmax_head


def _tiny(out_features: int, seed: int = 0) -> ResNet:
    torch.manual_seed(seed)
    return ResNet(2, 3, out_features, steps=2, T=1.0).double()


def _dense_gauss_newton(model, x, y, task: str) -> torch.Tensor:
    """Jᵀ H J formed densely: J the full Jacobian of the output, H the loss's Hessian in it."""
    names = [name for name, _ in model.named_parameters()]
    values = tuple(p.detach() for p in model.parameters())

    def flat_output(vector):
        parts, begin = [], 0
        for value in values:
            parts.append(vector[begin : begin + value.numel()].reshape(value.shape))
            begin += value.numel()
        return functional_call(model, dict(zip(names, parts)), (x,)).reshape(-1)

    theta = torch.cat([v.reshape(-1) for v in values])
    jacobian = torch.autograd.functional.jacobian(flat_output, theta)  # (B·k, P)
    output = model(x).detach()
    loss = get_task(task).loss

    def loss_of(flat):
        return loss(flat.reshape(output.shape), y)

    hessian = torch.autograd.functional.hessian(loss_of, output.reshape(-1))
    return jacobian.T @ hessian @ jacobian


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_gauss_newton_product_equals_dense_jt_h_j(task):
    model = _tiny(3)
    torch.manual_seed(1)
    x = torch.randn(7, 2, dtype=torch.float64)
    if task == "classification":
        y = torch.randint(0, 3, (7,))
    else:
        y = torch.randn(7, 3, dtype=torch.float64)
    optimizer = GaussNewton(model, model.parameters(), task)
    product, gradient, *_ = optimizer.linearization(x, y, get_task(task).loss)
    dense = _dense_gauss_newton(model, x, y, task)
    for _ in range(3):
        vector = torch.randn(dense.shape[0], dtype=torch.float64)
        assert torch.allclose(product(vector), dense @ vector, rtol=1e-9, atol=1e-12)
    model.zero_grad()
    get_task(task).loss(model(x), y).backward()
    exact = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    assert torch.allclose(gradient, exact, rtol=1e-10, atol=1e-13)


def test_penalty_curvature_is_added_to_the_product():
    model = _tiny(2)
    x = torch.randn(5, 2, dtype=torch.float64)
    y = torch.randn(5, 2, dtype=torch.float64)
    optimizer = GaussNewton(model, model.parameters(), "regression")
    loss = get_task("regression").loss
    plain, *_ = optimizer.linearization(x, y, loss)
    penalized, *_ = optimizer.linearization(x, y, loss, lambda: regularization(model, 0.0, 0.5))
    vector = torch.randn(sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    # weight decay ½·decay-weighted ‖θ‖² with time weights integrated: its Hessian is diagonal > 0
    difference = penalized(vector) - plain(vector)
    assert torch.all(difference * vector >= 0) and difference.abs().max() > 0


def test_conjugate_gradients_solves_a_damped_system():
    torch.manual_seed(2)
    a = torch.randn(6, 6, dtype=torch.float64)
    matrix = a @ a.T
    g = torch.randn(6, dtype=torch.float64)
    solution, curvature = conjugate_gradients(lambda v: matrix @ v, g, 0.1, 50, 1e-12)
    expected = torch.linalg.solve(matrix + 0.1 * torch.eye(6, dtype=torch.float64), -g)
    assert torch.allclose(solution, expected, rtol=1e-8)
    assert curvature == pytest.approx(float(expected @ matrix @ expected), rel=1e-8)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_varpro_regression_head_is_the_closed_form_least_squares_solution(alpha):
    torch.manual_seed(3)
    features = torch.randn(20, 4, dtype=torch.float64)
    targets = torch.randn(20, 2, dtype=torch.float64)
    weight, bias = least_squares_head(features, targets, alpha)
    # min ½/B ‖[Z 1]Θᵀ − Y‖² + ½α‖W‖²  ⇔  stacked least squares with √(αB)·[I 0] rows
    z = torch.cat([features, torch.ones(20, 1, dtype=torch.float64)], dim=1)
    rows = (alpha * 20) ** 0.5 * torch.eye(5, dtype=torch.float64)[:4]
    stacked = torch.cat([z, rows])
    right = torch.cat([targets, torch.zeros(4, 2, dtype=torch.float64)])
    theta = torch.linalg.lstsq(stacked, right).solution.T
    assert torch.allclose(weight, theta[:, :4], atol=1e-10)
    assert torch.allclose(bias, theta[:, 4], atol=1e-10)


def test_varpro_sets_the_model_head_and_leaves_it_out_of_the_optimizer():
    model = _tiny(1)
    x = torch.randn(30, 2, dtype=torch.float64)
    y = torch.randn(30, 1, dtype=torch.float64)
    varpro = VariableProjection(model, "regression", 1e-3, 3)
    output = varpro(x, y)
    weight, bias = least_squares_head(model.features(x).detach(), y, 1e-3)
    assert torch.allclose(model.head.weight, weight) and torch.allclose(model.head.bias, bias)
    assert torch.allclose(output, model(x))
    outer = {id(p) for p in varpro.outer_parameters()}
    assert not outer & {id(p) for p in model.head.parameters()}
    assert len(outer) == len(list(model.parameters())) - 2


@pytest.mark.parametrize("alpha", [0.0, 1e-3, 1e-1])
def test_softmax_newton_objective_never_increases(alpha):
    torch.manual_seed(4)
    features = 3 * torch.randn(40, 5, dtype=torch.float64)
    labels = torch.randint(0, 4, (40,))
    weight = torch.randn(4, 5, dtype=torch.float64)
    bias = torch.randn(4, dtype=torch.float64)
    _, _, values = softmax_head(features, labels, weight, bias, alpha, steps=8)
    assert len(values) >= 2
    assert all(b <= a for a, b in zip(values, values[1:]))
    assert values[-1] < values[0]
    if alpha > 0:  # strictly convex: Newton converges, so the gradient vanishes
        w, c, _ = softmax_head(features, labels, weight, bias, alpha, steps=30)
        theta = torch.cat([w, c[:, None]], dim=1).requires_grad_(True)
        z = torch.cat([features, torch.ones(40, 1, dtype=torch.float64)], dim=1)
        loss = torch.nn.functional.cross_entropy(z @ theta.T, labels)
        objective = loss + 0.5 * alpha * theta[:, :-1].square().sum()
        (gradient,) = torch.autograd.grad(objective, theta)
        assert gradient.abs().max() < 1e-8


@pytest.mark.parametrize("varpro", [False, True])
def test_a_few_gauss_newton_epochs_on_peaks_decrease_the_loss(tmp_path, varpro):
    config = TrainConfig(
        data="peaks",
        optimizer="gauss-newton",
        width=8,
        steps=4,
        epochs=3,
        batch_size=1250,
        cg_iterations=5,
        varpro=varpro,
        device="cpu",
        dtype="float64",
    )
    metrics = train(config, tmp_path, progress=False)
    losses = [row["train_loss"] for row in metrics["history"]]
    assert losses[-1] < losses[0]
    assert metrics["test_accuracy"] > 0.6


BAD = [
    (["--data", "shapes", "--varpro"], "--varpro applies to classification and regression"),
    (
        ["--data", "peaks", "--optimizer", "gauss-newton", "--batch-size", "2"],
        "gauss-newton with cg-iterations 10 needs a batch of at least 3 examples",
    ),
    (
        ["--data", "peaks-regression", "--optimizer", "gauss-newton", "--batch-size", "4"],
        "needs a batch of at least 10 examples",
    ),
    (
        ["--optimizer", "gauss-newton", "--memory", "adjoint"],
        "gauss-newton needs Jacobian-vector products",
    ),
    (["--optimizer", "newton"], "unknown optimizer 'newton'"),
    (["--head-regularization", "-1"], "head_regularization must be a finite number >= 0"),
    (["--damping", "0"], "damping must be a finite number > 0"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_optimizer_settings_are_one_line_with_exit_2(tmp_path, capsys, args, message):
    assert main(["train", *args, "--epochs", "1", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("resode: error: ") and message in err, err
    assert "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
