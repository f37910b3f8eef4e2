"""Instability diagnosis: the unit, the step, h·λ against the stability bound, advice."""

import pytest
import torch

from resode import ResNet
from resode.analysis.diagnosis import StabilityError, diagnose
from resode.cli import main
from resode.training.config import TrainConfig
from resode.training.loop import train


def _unstable_network():
    torch.manual_seed(0)
    return ResNet(
        2,
        8,
        2,
        T=50.0,
        steps=10,
        dynamics="standard",
        integrator="euler",
        activation="relu",
        init_std=3.0,
    )


def test_diagnose_names_the_step_and_gives_advice():
    with pytest.raises(StabilityError) as caught:
        diagnose(_unstable_network(), torch.randn(32, 2))
    error = caught.value
    assert error.unit == 0 and 1 <= error.step <= 10
    assert f"unit 0, step {error.step} of 10" in str(error)
    details = error.details
    assert details["h"] == 5.0 and details["h_lambda_max"] > 2
    assert details["max_real"] > 0 and details["max_stable_step"] == 0.0
    assert "antisymmetric or parabolic" in details["advice"]


def test_diagnose_passes_a_stable_network_and_catches_the_bound():
    stable = ResNet(2, 8, 2, T=4.0, steps=8)
    assert diagnose(stable, torch.randn(32, 2)) is None
    growing = ResNet(2, 4, 2, T=4.0, steps=8, dynamics="standard", activation="identity")
    with torch.no_grad():  # Y' = 2Y from a small Y_0: |Y| crosses 0.5 after a few steps
        growing.block.dynamics.weight.values.copy_(2 * torch.eye(4).expand(8, 4, 4))
        growing.opening.bias.zero_()
    with pytest.raises(StabilityError, match=r"unit 0, step \d of 8 \(\|Y\| = .* > 0.5\)"):
        diagnose(growing, 0.01 * torch.randn(32, 2), bound=0.5)


def test_nonfinite_state_is_reported_with_a_finite_spectrum():
    network = _unstable_network()
    with pytest.raises(StabilityError, match="non-finite values|> 1e"):
        diagnose(network, torch.randn(8, 2) * 1e30, bound=1e300)


def test_guarded_training_stops_with_stability_error(tmp_path):
    config = TrainConfig(
        data="circles",
        dynamics="standard",
        integrator="euler",
        activation="relu",
        T=400.0,
        steps=4,
        epochs=2,
        device="cpu",
    )
    with pytest.raises(StabilityError, match="in epoch 1: forward propagation blew up in unit 0"):
        train(config, tmp_path, progress=False, guard=1, state_bound=1e3)


def test_guard_flag_on_the_cli(tmp_path, capsys):
    args = [
        "train",
        "--data",
        "circles",
        "--dynamics",
        "standard",
        "--integrator",
        "euler",
        "--activation",
        "relu",
        "--T",
        "400",
        "--steps",
        "4",
        "--epochs",
        "1",
        "--quiet",
        "--guard",
        "1",
        "--state-bound",
        "1000",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "unstable forward propagation: in epoch 1" in err and "step" in err
    assert main(["train", "--guard", "-1", "--out", str(tmp_path / "x")]) == 2
    assert main(["train", "--state-bound", "0", "--out", str(tmp_path / "y")]) == 2
