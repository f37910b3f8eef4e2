"""The three learning tasks end to end: short seeded runs, metrics, figures, bad input."""

import json

import pytest
import torch

from resode.cli import main
from resode.data import load_dataset
from resode.errors import ResodeError
from resode.model.convnet import ConvResNet
from resode.runs import analyze_run, evaluate_run
from resode.tasks import get_task
from resode.training.config import TrainConfig
from resode.training.evaluation import check_targets
from resode.training.loop import train

SHORT_RUNS = [
    # (config, metric, stated level, figure written)
    (
        dict(data="digits", widths=[8, 16], steps=2, T=1.0, epochs=4, lr=0.01),
        "test_accuracy",
        0.55,
        None,
    ),
    (
        dict(data="mnist1d", widths=[16], steps=2, T=1.0, epochs=3, lr=0.01, kernel_size=5),
        "test_accuracy",
        0.30,
        None,
    ),
    (
        dict(data="shapes", widths=[8], steps=4, T=2.0, epochs=3, lr=0.01, image_size=16),
        "test_pixel_accuracy",
        0.75,
        "segmentation.png",
    ),
    (
        dict(data="bars", widths=[8], steps=4, T=4.0, epochs=2, lr=0.01, image_size=16),
        "test_pixel_accuracy",
        0.80,
        "segmentation.png",
    ),
    (
        dict(data="peaks-regression", width=16, steps=4, epochs=8, lr=0.01),
        "test_r2",
        0.80,
        "regression.png",
    ),
    (
        dict(data="diabetes", width=8, steps=2, T=1.0, epochs=20, lr=0.003),
        "test_r2",
        0.30,
        "regression.png",
    ),
]


@pytest.mark.parametrize(
    "settings, metric, level, figure", SHORT_RUNS, ids=[s[0]["data"] for s in SHORT_RUNS]
)
def test_short_seeded_run_reaches_its_level(tmp_path, settings, metric, level, figure):
    metrics = train(TrainConfig(**settings, device="cpu"), tmp_path, progress=False)
    assert metrics[metric] >= level, metrics[metric]
    if figure:
        assert (tmp_path / figure).stat().st_size > 5_000


def test_segmentation_metrics_by_hand():
    task = get_task("segmentation")
    target = torch.tensor([[[0, 0], [1, 2]]])
    scores = torch.nn.functional.one_hot(torch.tensor([[[0, 1], [1, 1]]]), 3).permute(0, 3, 1, 2)
    metrics = task.metrics(scores.float() * 10, target)
    assert metrics["pixel_accuracy"] == pytest.approx(0.5)
    # IoU: class 0: 1/2, class 1: 1/3, class 2: 0/1 -> mean 5/18
    assert metrics["miou"] == pytest.approx((1 / 2 + 1 / 3 + 0) / 3)


def test_regression_metrics_by_hand():
    task = get_task("regression")
    target = torch.tensor([[1.0], [2.0], [3.0]])
    metrics = task.metrics(torch.tensor([[1.0], [2.0], [4.0]]), target)
    assert metrics["rmse"] == pytest.approx((1 / 3) ** 0.5)
    assert metrics["r2"] == pytest.approx(1 - 1 / 2)


def test_conv_run_evaluates_at_other_depths_and_is_analysed(tmp_path, capsys):
    config = TrainConfig(data="digits", widths=[4, 8], steps=[2, 3], T=1.0, epochs=1, device="cpu")
    train(config, tmp_path, progress=False)
    rows = evaluate_run(tmp_path, steps=[4])
    assert rows[0]["steps"] == [4, 4]
    assert main(["evaluate", str(tmp_path), "--steps", "2,4"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].split()[0] == "2,2" and printed[2].split()[0] == "4,4"
    report = analyze_run(tmp_path, samples=4)
    assert len(report["units"]) == 2 and report["units"][1]["steps"] == 3
    assert (tmp_path / "spectrum_unit1.png").is_file()
    stored = json.loads((tmp_path / "stability.json").read_text())
    assert stored["units"][0]["examples"] >= 1


def test_conv_network_shapes():
    net = ConvResNet(3, [4, 8], 5, spatial_dims=2, task="segmentation", steps=[1, 2])
    assert net(torch.randn(2, 3, 12, 12)).shape == (2, 5, 12, 12)
    net = ConvResNet(1, [4, 8, 8], 10, spatial_dims=1, steps=1)
    assert net(torch.randn(3, 1, 40)).shape == (3, 10)
    net.steps = 3
    assert net.steps == [3, 3, 3]


@pytest.mark.parametrize(
    "x, message",
    [
        (torch.randn(2, 2, 8, 8), "input has 2 channels but the network expects 1"),
        (torch.randn(2, 1, 6, 6), r"input size \(6, 6\) cannot be halved 2 times"),
        (torch.randn(2, 1, 8), r"input must have shape \(batch, \*\(channels, height, width\)\)"),
        (torch.randn(2, 1, 8, 8).double(), "the network is torch.float32"),
        (torch.full((1, 1, 8, 8), float("nan")), "non-finite"),
    ],
)
def test_conv_network_rejects_bad_input(x, message):
    net = ConvResNet(1, [2, 2, 2], 3, spatial_dims=2, steps=1)
    with pytest.raises(ResodeError, match=message):
        net(x)


def test_labels_out_of_range_are_refused():
    data = load_dataset("digits")
    data.y_test[0] = 10
    with pytest.raises(ResodeError, match=r"test labels of digits must lie in \[0, 10\)"):
        check_targets(data)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--task", "regression", "--data", "peaks"],
            "dataset 'peaks' is for classification, not regression; regression datasets: "
            "diabetes, peaks-regression",
        ),
        (
            ["--data", "digits", "--widths", "2,2,2,2,2"],
            "input size (8, 8) cannot be halved 4 times",
        ),
        (["--data", "peaks", "--widths", "8,8"], "--widths applies to signal and image datasets"),
        (
            ["--data", "digits", "--widths", "8,8", "--steps", "1,2,3"],
            "steps gives 3 values for 2 unit(s)",
        ),
        (["--data", "digits", "--image-size", "16"], "--image-size applies to shapes and bars"),
        (["--data", "shapes", "--image-size", "8"], "size must be an integer in [16, 256]"),
        (["--data", "digits", "--kernel-size", "4"], "kernel size must be odd"),
    ],
)
def test_cli_rejects_task_and_shape_mismatches(tmp_path, capsys, args, message):
    assert main(["train", *args, "--epochs", "1", "--quiet", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("resode: error: ") and message in err and "\n" not in err


def test_stability_of_a_large_unit_is_matrix_free(tmp_path, capsys):
    """8 channels × 32×32 = 8192 unknowns per example: extreme eigenvalues by Arnoldi, no
    dense step map, log-norm bound and Lyapunov exponents reported."""
    config = TrainConfig(
        data="shapes", widths=[8], steps=1, T=1.0, epochs=1, image_size=32, device="cpu"
    )
    train(config, tmp_path, progress=False)
    assert main(["stability", str(tmp_path), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "growth bound exp(Σ h μ₂(J))" in out and "Lyapunov exponents" in out
    report = json.loads((tmp_path / "stability.json").read_text())
    assert report["spectrum"].startswith("matrix-free") and report["step_map"] is None
    assert report["examples"] == 2 and len(report["lyapunov"]["max"]) == 3
