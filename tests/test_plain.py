"""Plain versus residual: the plain network, gradients through depth, the depth experiment."""

import json

import pytest
import torch

from resode import ResNet, ResodeError
from resode.analysis.depth import depth_gradients
from resode.cli import main
from resode.tasks import get_task
from resode.training import TrainConfig


def _set_linear(model: ResNet, a: float) -> None:
    """K_l = a·I and b_l = 0 in every layer (identity activation makes the layer a·Y)."""
    with torch.no_grad():
        weight = model.block.dynamics.weight.values
        weight.copy_(a * torch.eye(weight.shape[-1]).expand_as(weight))
        model.block.dynamics.bias.values.zero_()


def test_plain_network_is_the_layer_map():
    model = ResNet(2, 3, 2, integrator="plain", dynamics="standard", steps=3).double()
    x = torch.randn(5, 2, dtype=torch.float64)
    y = model.open(x)
    weights, biases = model.block.dynamics.weight.values, model.block.dynamics.bias.values
    for l in range(3):
        y = torch.tanh(y @ weights[l].T + biases[l])
    torch.testing.assert_close(model.features(x), y, rtol=1e-12, atol=1e-12)


def test_plain_gradients_match_finite_differences():
    torch.manual_seed(0)
    model = ResNet(2, 3, 2, integrator="plain", dynamics="standard", steps=4).double()
    x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(model, (x,))
    weights = model.block.dynamics.weight.values

    def through_weights(values: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(model, {"block.dynamics.weight.values": values}, (x,))

    assert torch.autograd.gradcheck(through_weights, (weights.detach().clone().requires_grad_(),))


@pytest.mark.parametrize("integrator, T, growth", [("plain", 6.0, 0.5), ("euler", 6.0, 1.5)])
def test_gradient_report_matches_the_closed_form(integrator, T, growth):
    """Identity activation, K = a·I, b = 0: the layer multiplies by a (plain) or 1 + h·a
    (residual, h = 1), so ‖∂E/∂Y_l‖ = growth^{N−l} ‖∂E/∂Y_N‖."""
    steps = 6
    model = ResNet(
        2,
        3,
        2,
        integrator=integrator,
        dynamics="standard",
        activation="identity",
        steps=steps,
        T=T,
    ).double()
    _set_linear(model, 0.5)
    x = torch.randn(8, 2, dtype=torch.float64)
    target = torch.randint(0, 2, (8,))
    (unit,) = depth_gradients(model, x, target, get_task("classification").loss)
    for l, norm in enumerate(unit.state):
        assert norm == pytest.approx(unit.state[-1] * growth ** (steps - l), rel=1e-10)
    assert unit.state_ratio == pytest.approx(growth**steps, rel=1e-10)


def test_network_presets_fix_integrator_and_step_size():
    plain = TrainConfig(network="plain", dynamics="standard", steps=16).block_spec()
    assert (plain.integrator, plain.T, plain.steps) == ("plain", 16.0, 16)
    resnet = TrainConfig(network="resnet", dynamics="standard", steps=[3, 5], data="digits")
    assert resnet.block_spec().integrator == "euler" and resnet.unit_times([3, 5]) == [3.0, 5.0]
    with pytest.raises(ResodeError, match="network 'plain' fixes the integrator"):
        TrainConfig(network="plain", integrator="heun")
    with pytest.raises(ResodeError, match="leave out T"):
        TrainConfig(network="resnet", T=2.0)
    with pytest.raises(ResodeError, match="takes no multilevel depths"):
        TrainConfig(network="resnet", multilevel=[2, 4])


def test_plain_run_refuses_stability_and_depth_change_and_reports_gradients(tmp_path, capsys):
    run = tmp_path / "plain"
    args = ["train", "--network", "plain", "--dynamics", "standard", "--steps", "4"]
    assert main([*args, "--epochs", "1", "--width", "4", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["stability", str(run)]) == 2
    error = capsys.readouterr().err
    assert "not an ODE discretization" in error and error.count("\n") == 1
    assert main(["evaluate", str(run), "--steps", "8"]) == 2
    assert "its depth 4 cannot change to 8" in capsys.readouterr().err
    assert main(["gradients", str(run), "--samples", "32"]) == 0
    report = json.loads((run / "gradients.json").read_text())
    assert len(report["initial"][0]["state_norms"]) == 5 and report["examples"] == 32
    assert (run / "gradients.png").stat().st_size > 0
    assert main(["gradients", str(run), "--split", "holdout"]) == 2


def test_depth_experiment_quick(tmp_path):
    from resode.experiments import run_experiment

    result = run_experiment("depth", tmp_path, quick=True)
    assert {r["network"] for r in result["rows"]} == {"plain", "resnet", "ode"}
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in result["rows"])
    assert all(r["gradient_ratio_initial"] > 0 for r in result["rows"])
    assert (tmp_path / "depth.png").exists()
