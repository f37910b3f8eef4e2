"""Loss landscapes: filter-normalized directions, the plane, the segment, roughness, the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from resode.analysis.landscape import (
    _power_iteration,
    filter_normalized_direction,
    plane,
    segment,
    strict_minima,
)
from resode.cli import main
from resode.experiments import run_experiment
from resode.model.convnet import ConvResNet
from resode.model.resnet import ResNet
from resode.runs import load_run
from resode.training.config import TrainConfig
from resode.training.evaluation import evaluate
from resode.training.loop import train


def _tiny(out, seed: int = 0, **changes) -> None:
    settings = dict(data="peaks", width=4, steps=2, epochs=1, seed=seed, device="cpu")
    train(TrainConfig(**{**settings, **changes}), out, progress=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny peaks runs of one architecture and one of another (dynamics standard)."""
    root = tmp_path_factory.mktemp("landscape")
    _tiny(root / "a", seed=0)
    _tiny(root / "b", seed=1)
    _tiny(root / "other", seed=0, dynamics="standard")
    return root


def _check_filters(model, direction, time_grid: set[str]) -> int:
    """‖d_f‖ = ‖θ_f‖ per filter (leading dims: 2 for a time grid, else 1); d = 0 for the rest.
    Returns the number of filters checked."""
    checked = 0
    for name, value in model.named_parameters():
        d = direction[name]
        leading = 2 if name in time_grid else 1
        if value.dim() <= leading:
            assert torch.count_nonzero(d) == 0, name
            continue
        want = value.detach().flatten(leading).norm(dim=-1)
        got = d.flatten(leading).norm(dim=-1)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=0)
        assert not torch.allclose(d, value)  # random, not θ itself
        checked += want.numel()
    return checked


def _randomized(model):
    """Every parameter drawn at random (the zero-initialized head has no direction otherwise)."""
    with torch.no_grad():
        for value in model.parameters():
            value.normal_()
    return model


def test_dense_direction_is_normalized_row_by_row():
    model = _randomized(ResNet(2, 5, 3, steps=3, grid=3).double())
    direction = filter_normalized_direction(model, torch.Generator().manual_seed(1))
    grid = {"block.dynamics.weight.values", "block.dynamics.bias.values"}
    assert direction["block.dynamics.weight.values"].shape == (3, 5, 5)
    assert _check_filters(model, direction, grid) == 5 + 3 * 5 + 3  # opening, K(t) rows, head


def test_conv_direction_is_normalized_filter_by_filter():
    model = _randomized(ConvResNet(1, [2, 3], 4, spatial_dims=2, steps=2, norm="batch").double())
    direction = filter_normalized_direction(model, torch.Generator().manual_seed(2))
    grid = {name for name, _ in model.named_parameters() if name.endswith(".values")}
    assert direction["units.0.dynamics.weight.values"].dim() == 5  # (G, c, c, k, k)
    filters = 2 + 2 * 2 + 2 * 3 + 3 + 4  # opening, two units, connector, head
    assert _check_filters(model, direction, grid) == filters


def test_plane_centre_is_the_run_loss(runs):
    model, dataset = load_run(runs / "a")
    result = plane(model, dataset, "test", grid=3, hessian_iterations=3)
    expected = evaluate(model, dataset, "test")["loss"]
    stored = json.loads((runs / "a" / "metrics.json").read_text())["test_loss"]
    assert result["alpha"][1] == result["beta"][1] == 0.0
    assert result["values"][1][1] == pytest.approx(expected, rel=1e-6)
    assert result["values"][1][1] == pytest.approx(stored, rel=1e-6)
    assert result["values"][0][0] != pytest.approx(expected, rel=1e-3)  # moved off θ


def test_segment_ends_are_the_two_runs_losses(runs):
    model_a, dataset = load_run(runs / "a")
    model_b, _ = load_run(runs / "b")
    result = segment(model_a, model_b, dataset, "train", grid=5)
    assert result["alpha"][0] == -0.25 and result["alpha"][-1] == 1.25
    assert len(result["alpha"]) == 5 + 2
    assert result["ends"][0] == pytest.approx(evaluate(model_a, dataset, "train")["loss"], rel=1e-6)
    assert result["ends"][1] == pytest.approx(evaluate(model_b, dataset, "train")["loss"], rel=1e-6)


def test_strict_minima_count_interior_points_below_all_neighbours():
    values = torch.ones(5, 5, dtype=torch.float64)
    values[1, 1] = values[3, 3] = 0.0
    values[2, 3] = 0.0  # ties with (3, 3): neither is strict
    assert strict_minima(values) == {"strict_minima": 1, "strict_minima_share": 1 / 9}


def test_power_iteration_finds_both_ends_of_a_spectrum():
    basis, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    matrix = basis @ torch.diag(torch.tensor([-2.0, 0.1, 0.5, 1.0, 3.0, 9.0]).double()) @ basis.T
    hvp = lambda v: [matrix @ v[0]]  # noqa: E731
    parameters = [torch.zeros(6, dtype=torch.float64)]
    generator = torch.Generator().manual_seed(0)
    top = _power_iteration(hvp, parameters, 200, generator, shift=0.0)
    bottom = top + _power_iteration(hvp, parameters, 200, generator, shift=top)
    assert top == pytest.approx(9.0, rel=1e-6)
    assert bottom == pytest.approx(-2.0, rel=1e-6)


def test_cli_writes_plane_and_segment(runs, tmp_path, capsys):
    assert main(["landscape", str(runs / "a"), "--grid", "3", "--out", str(tmp_path / "p")]) == 0
    result = json.loads((tmp_path / "p" / "landscape.json").read_text())
    assert result["kind"] == "plane" and result["seed"] == 0 and len(result["values"]) == 3
    assert {"strict_minima_share", "hessian"} <= set(result["roughness"])
    assert (tmp_path / "p" / "landscape.png").stat().st_size > 0
    args = ["landscape", str(runs / "a"), "--between", str(runs / "b"), "--grid", "3"]
    assert main([*args, "--out", str(tmp_path / "s")]) == 0
    result = json.loads((tmp_path / "s" / "landscape.json").read_text())
    assert result["kind"] == "segment" and len(result["values"]) == 5
    assert (tmp_path / "s" / "landscape.png").stat().st_size > 0


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["{root}/missing"], "does not exist"),
        (["{root}/a", "--between", "{root}/other"], "differ in architecture (dynamics"),
        (["{root}/a", "--grid", "2"], "at least 3 points"),
    ],
)
def test_cli_bad_input_is_one_line(runs, capsys, arguments, message):
    code = main(["landscape", *(a.format(root=runs) for a in arguments)])
    error = capsys.readouterr().err
    assert code == 2
    assert error.count("\n") == 1 and message in error


def test_landscape_skip_quick(tmp_path):
    result = run_experiment("landscape-skip", tmp_path, quick=True, steps=(2, 4))
    rows = result["networks"]
    assert [(r["network"], r["steps"]) for r in rows] == [
        ("plain", 2),
        ("plain", 4),
        ("resnet", 2),
        ("resnet", 4),
    ]
    for row in rows:
        assert 0 <= row["test_accuracy"] <= 1 and 0 <= row["strict_minima_share"] <= 1
    saved = json.loads((tmp_path / "landscape-skip.json").read_text())
    assert saved["networks"] == rows
    assert (tmp_path / "landscape-skip.png").stat().st_size > 0
