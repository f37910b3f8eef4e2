"""Multilevel training: prolongation keeps θ(t), converges at the integrator's order, trains
level by level from the CLI, resumes across a level boundary and rejects bad level lists."""

import csv
import json
import math

import pytest
import torch
from safetensors.torch import load_file

from resode import ConvResNet, ResNet, TimeParameter
from resode.cli import main
from resode.errors import ResodeError
from resode.runs import load_run
from resode.training import run_state
from resode.training.config import TrainConfig
from resode.training.factory import build_model
from resode.training.loop import train
from resode.training.multilevel import level_factors, ode_units, prolongate
from resode.training.regularizers import time_smoothness


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These networks are tiny: a second thread only adds synchronization (and, on a busy
    machine, waiting)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _smooth_weights(model: torch.nn.Module) -> None:
    """θ(t) = a + b t/T + c sin(2π t/T) sampled on every unit's grid nodes."""
    generator = torch.Generator().manual_seed(1)
    for unit in ode_units(model):
        for parameter in (unit.dynamics.weight, unit.dynamics.bias):
            values = parameter.values
            shape = values.shape[1:]
            a, b, c = (torch.randn(shape, generator=generator, dtype=values.dtype) for _ in "abc")
            t = torch.linspace(0, 1, len(values), dtype=values.dtype)
            t = t.view(-1, *[1] * len(shape))
            with torch.no_grad():
                values.copy_(0.5 * a + 0.5 * b * t + 0.2 * c * torch.sin(2 * math.pi * t))


def _prolongation_change(integrator: str, steps: int) -> float:
    """max |F_N(x) − F_2N(x)| for the same smooth θ(t): the coarse network's own error."""
    torch.manual_seed(0)
    model = ResNet(
        3, 6, 2, T=2.0, steps=steps, dynamics="standard", integrator=integrator, interp="linear"
    ).double()
    _smooth_weights(model)
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        coarse = model(x)
        prolongate(model, 2)
        fine = model(x)
    assert model.steps == 2 * steps and model.block.dynamics.weight.intervals == 2 * steps
    return float((coarse - fine).abs().max())


@pytest.mark.parametrize("integrator, order", [("heun", 2), ("rk4", 4)])
def test_prolongation_changes_the_output_at_the_integrators_order(integrator, order):
    coarse, fine = (_prolongation_change(integrator, n) for n in (16, 32))
    ratio = coarse / fine  # halving h shrinks the change by 2^p: O(h²) for Heun
    assert 0.85 * 2**order < ratio < 1.2 * 2**order, (coarse, fine, ratio)


@pytest.mark.parametrize("interp", ["linear", "constant"])
def test_refinement_keeps_theta_of_t(interp):
    torch.set_default_dtype(torch.float64)
    try:
        parameter = TimeParameter((3, 2), 5, 2.0, interp)
        nodes = torch.arange(len(parameter.values), dtype=torch.float64) * parameter.spacing
        a, b = torch.randn(3, 2), torch.randn(3, 2)
        with torch.no_grad():  # linear in time: θ(t) = a + b t
            parameter.values.copy_(a + b * nodes.view(-1, 1, 1))
        times = torch.linspace(0, 2.0, 97).tolist()
        before = [parameter.at(t).clone() for t in times]
        parameter.refine(4)
        assert parameter.intervals == 20
        for t, value in zip(times, before):
            assert torch.allclose(parameter.at(t), value, rtol=0, atol=1e-12), t
        if interp == "linear":  # the refined nodes are a + b t_k on the fine grid
            fine = torch.arange(21, dtype=torch.float64) * parameter.spacing
            expected = a + b * fine.view(-1, 1, 1)
            assert torch.allclose(parameter.values, expected, rtol=0, atol=1e-12)
    finally:
        torch.set_default_dtype(torch.float32)


def test_smoothness_penalty_keeps_its_meaning_across_levels():
    model = ResNet(2, 4, 2, T=3.0, steps=4, interp="linear").double()
    with torch.no_grad():
        for unit in ode_units(model):  # any node values: θ stays the same polygon
            unit.dynamics.weight.values.normal_()
            unit.dynamics.bias.values.normal_()
    coarse = time_smoothness(model)
    prolongate(model, 2)
    assert torch.allclose(time_smoothness(model), coarse, rtol=1e-12)
    prolongate(model, 4)
    assert torch.allclose(time_smoothness(model), coarse, rtol=1e-12)
    # a step function has no derivative: each jump costs ‖Δθ‖²/Δt, so refining by r scales it
    steps = ResNet(2, 4, 2, steps=4, interp="constant").double()
    with torch.no_grad():
        steps.block.dynamics.weight.values.normal_()
    jumps = time_smoothness(steps)
    prolongate(steps, 2)
    assert torch.allclose(time_smoothness(steps), 2 * jumps, rtol=1e-12)


def test_a_fixed_grid_keeps_its_weights_and_conv_units_all_deepen():
    model = ResNet(2, 4, 2, steps=4, grid=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    prolongate(model, 2, grid=False)
    assert model.steps == 8 and all(
        torch.equal(before[k], v) for k, v in model.state_dict().items()
    )
    conv = ConvResNet(1, [3, 4], 2, spatial_dims=2, steps=[2, 3], interp="linear")
    x = torch.randn(2, 1, 8, 8)
    prolongate(conv, 2)
    assert conv.steps == [4, 6] and [u.dynamics.weight.intervals for u in conv.units] == [4, 6]
    assert conv(x).shape == (2, 2)
    with pytest.raises(ResodeError, match="no ODE units"):
        prolongate(torch.nn.Linear(2, 2))
    assert level_factors([4, 8, 32]) == [2, 4]


@pytest.mark.parametrize(
    "data, options",
    [("circles", dict(width=4)), ("digits", dict(widths=[3, 4], interp="linear"))],
)
def test_a_model_built_at_a_level_has_the_prolongated_shape(data, options):
    config = TrainConfig(data=data, multilevel=[2, 4, 16], **options)
    info = (
        dict(kind="vector", input_shape=[2], in_features=2, out_features=2, task="classification")
        if data == "circles"
        else dict(
            kind="image",
            input_shape=[1, 8, 8],
            in_features=1,
            out_features=10,
            task="classification",
        )
    )
    model = build_model(config, info, level=0)
    for level, factor in enumerate(level_factors(config.multilevel), start=1):
        prolongate(model, factor)
        built = build_model(config, info, level)
        assert built.steps == model.steps
        shapes = {k: v.shape for k, v in model.state_dict().items()}
        assert shapes == {k: v.shape for k, v in built.state_dict().items()}
    assert build_model(config, info).steps == model.steps  # default: the final level


TINY = ["--data", "circles", "--width", "6", "--batch-size", "50", "--quiet", "--device", "cpu"]


def test_multilevel_cli_run_writes_levels_and_a_final_depth_model(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--multilevel", "2,4", "--epochs", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "level 1/2: N=2, 2 epochs" in printed and "level 2/2: N=4, 2 epochs" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert [(s["level"], s["steps"], s["epochs"]) for s in metrics["levels"]] == [
        (0, 2, 2),
        (1, 4, 2),
    ]
    assert {"seconds", "val_loss", "val_accuracy", "test_loss", "test_accuracy"} <= set(
        metrics["levels"][0]
    )
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [(r["epoch"], r["level"], r["steps"]) for r in rows] == [
        ("1", "0", "2"),
        ("2", "0", "2"),
        ("3", "1", "4"),
        ("4", "1", "4"),
    ]
    config = json.loads((out / "config.json").read_text())
    assert config["multilevel"] == [2, 4] and config["steps"] == 4
    assert load_file(out / "model.safetensors")["block.dynamics.weight.values"].shape[0] == 4
    assert main(["evaluate", str(out), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["steps"] == 4 and row["test_accuracy"] == pytest.approx(metrics["test_accuracy"])


BAD = [
    (["--multilevel", "8,4"], "multilevel depths must increase, got 8 then 4"),
    (["--multilevel", "4"], "multilevel needs at least two depths"),
    (["--multilevel", "4,6"], "must be a multiple of the one before, got 4 then 6"),
    (["--multilevel", "0,4"], "multilevel depth must be an integer >= 1"),
    (["--multilevel", "4,x"], "expected integers separated by commas"),
    (["--multilevel", "4,8", "--steps", "8"], "give either --steps or --multilevel"),
    (["--max-seconds", "0"], "max_seconds must be a finite number > 0"),
    (
        ["--data", "digits", "--widths", "4,4", "--multilevel", "2,4", "--steps", "2,2"],
        "give either --steps or --multilevel",
    ),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_level_lists_are_one_line_errors(tmp_path, capsys, args, message):
    assert main(["train", *args, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1, error
    assert not (tmp_path / "run").exists()


def test_api_refuses_per_unit_steps_with_multilevel():
    with pytest.raises(ResodeError, match="give no per-unit steps list"):
        TrainConfig(data="digits", widths=[4, 4], steps=[2, 2], multilevel=[2, 4])
    config = TrainConfig(multilevel=[2, 4])
    config.steps = 8
    with pytest.raises(ResodeError, match="steps is the final depth 4"):
        config.validate()


def _interrupt_after(monkeypatch, saves: int) -> None:
    original = run_state.save_checkpoint
    calls = []

    def save_then_stop(*args, **kwargs):
        original(*args, **kwargs)
        calls.append(1)
        if len(calls) == saves:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_state, "save_checkpoint", save_then_stop)


CONFIG = TrainConfig(
    data="circles", width=6, multilevel=[2, 4], epochs=2, batch_size=100, device="cpu"
)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    metrics = train(CONFIG, out, progress=False)
    return load_file(out / "model.safetensors"), metrics


# 2: the last epoch of level 1 is saved, the prolongation not yet done; 3: inside level 2
@pytest.mark.parametrize("saves", [2, 3])
def test_resume_across_a_level_boundary_is_bit_exact(tmp_path, monkeypatch, straight, saves):
    reference, metrics = straight
    with monkeypatch.context() as patch:
        _interrupt_after(patch, saves)
        with pytest.raises(KeyboardInterrupt):
            train(CONFIG, tmp_path, progress=False)
    model, _ = load_run(tmp_path)  # the saved model, at the level it was saved at
    assert model.steps == (2 if saves == 2 else 4)
    resumed = train(CONFIG, tmp_path, resume=True, progress=False)
    weights = load_file(tmp_path / "model.safetensors")
    assert weights.keys() == reference.keys()
    assert all(torch.equal(weights[k], reference[k]) for k in reference)
    assert [r["epoch"] for r in resumed["history"]] == [1, 2, 3, 4]
    for a, b in zip(resumed["levels"], metrics["levels"]):
        assert {k: v for k, v in a.items() if k != "seconds"} == {
            k: v for k, v in b.items() if k != "seconds"
        }


def test_max_seconds_ends_each_level_after_the_epoch_that_exceeds_its_share(tmp_path):
    config = TrainConfig(
        data="circles", width=4, multilevel=[1, 2], epochs=5, batch_size=250, max_seconds=1e-6
    )
    metrics = train(config, tmp_path, progress=False)
    assert [s["epochs"] for s in metrics["levels"]] == [1, 1]
    assert metrics["time_limited"] and metrics["epochs"] == 2
