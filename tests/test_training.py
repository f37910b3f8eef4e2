"""Training end to end: accuracy, bit-exact resume, divergence handling, run directories."""

import json

import pytest
import torch
from safetensors.torch import load_file

from resode import TrainingDivergedError
from resode.errors import ResodeError, RunDirectoryError
from resode.runs import evaluate_run, load_run
from resode.training import run_state
from resode.training.config import TrainConfig
from resode.training.loop import train


def test_peaks_short_run_reaches_95_percent(tmp_path):
    metrics = train(TrainConfig(data="peaks", epochs=15), tmp_path, progress=False)
    assert metrics["test_accuracy"] >= 0.95
    assert len(metrics["history"]) == 15
    for name in (
        "config.json",
        "metrics.json",
        "model.safetensors",
        "checkpoint.safetensors",
        "boundary.png",
    ):
        assert (tmp_path / name).is_file(), name
    stored = json.loads((tmp_path / "metrics.json").read_text())
    assert {"train_accuracy", "test_accuracy", "train_loss", "test_loss", "history"} <= set(stored)


@pytest.mark.parametrize(
    "dynamics, epochs, target",
    # the diffusive parabolic flow smooths features and needs more epochs for the same fit
    [("antisymmetric", 10, 0.97), ("standard", 10, 0.97), ("parabolic", 20, 0.93)],
)
def test_ellipses_short_run_reaches_target(tmp_path, dynamics, epochs, target):
    config = TrainConfig(data="ellipses", dynamics=dynamics, epochs=epochs, lr=0.03)
    metrics = train(config, tmp_path, progress=False)
    assert metrics["test_accuracy"] >= target, metrics["test_accuracy"]


def _interrupt_after(monkeypatch, epochs: int):
    original = run_state.save_checkpoint
    calls = []

    def save_then_stop(*args, **kwargs):
        original(*args, **kwargs)
        calls.append(1)
        if len(calls) == epochs:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_state, "save_checkpoint", save_then_stop)


def test_resume_is_bit_exact(tmp_path, monkeypatch):
    config = TrainConfig(data="ellipses", epochs=4, batch_size=32, optimizer="adam")
    train(config, tmp_path / "straight", progress=False)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            train(config, tmp_path / "resumed", progress=False)
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    metrics = train(config, tmp_path / "resumed", resume=True, progress=False)
    assert len(metrics["history"]) == 4
    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_with_sgd_and_step_schedule(tmp_path, monkeypatch):
    config = TrainConfig(data="circles", epochs=3, optimizer="sgd", schedule="step", lr=0.05)
    train(config, tmp_path / "straight", progress=False)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            train(config, tmp_path / "resumed", progress=False)
    train(config, tmp_path / "resumed", resume=True, progress=False)
    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_different_config(tmp_path):
    train(TrainConfig(data="circles", epochs=1), tmp_path, progress=False)
    with pytest.raises(ResodeError, match="config differs"):
        train(TrainConfig(data="circles", epochs=1, width=4), tmp_path, resume=True, progress=False)


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    from resode.tasks import Classification

    calls = []
    original = Classification.loss

    def loss_that_breaks_in_epoch_two(self, output, target):
        calls.append(1)
        value = original(self, output, target)
        return value * float("nan") if len(calls) > 16 else value  # 16 batches per epoch

    monkeypatch.setattr(Classification, "loss", loss_that_breaks_in_epoch_two)
    config = TrainConfig(data="ellipses", epochs=3)  # 1000 / 64 -> 16 batches
    with pytest.raises(TrainingDivergedError, match="in epoch 2") as error:
        train(config, tmp_path, progress=False)
    assert "antisymmetric or parabolic" in str(error.value) and "more steps" in str(error.value)
    monkeypatch.undo()
    model, _ = load_run(tmp_path)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    (row,) = evaluate_run(tmp_path)
    assert row["test_accuracy"] > 0.5
    resumed = train(config, tmp_path, resume=True, progress=False)
    assert [r["epoch"] for r in resumed["history"]] == [1, 2, 3]


def test_evaluate_at_other_depths(tmp_path):
    train(TrainConfig(data="circles", epochs=3, steps=4), tmp_path, progress=False)
    rows = evaluate_run(tmp_path, steps=[4, 8, 32])
    assert [r["steps"] for r in rows] == [4, 8, 32]
    assert all(0 <= r["test_accuracy"] <= 1 for r in rows)


def test_corrupt_run_directory_is_rejected(tmp_path):
    with pytest.raises(RunDirectoryError, match="does not exist"):
        load_run(tmp_path / "missing")
    train(TrainConfig(data="circles", epochs=1), tmp_path, progress=False)
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunDirectoryError, match="corrupt tensor file"):
        load_run(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(RunDirectoryError, match="corrupt JSON file"):
        load_run(tmp_path)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(data="imagenet"),
            "unknown dataset 'imagenet'; choose one of: bars, cifar10, cifar100, circles, "
            "diabetes, digits, ellipses, fashion-mnist, mnist, mnist1d, peaks, "
            "peaks-regression, shapes, spirals",
        ),
        (
            dict(optimizer="lbfgs"),
            "unknown optimizer 'lbfgs'; choose one of: adam, gauss-newton, sgd",
        ),
        (dict(lr=0.0), "lr must be a finite number > 0"),
        (dict(epochs=0), "epochs must be an integer >= 1"),
        (dict(gamma=1.0, dynamics="standard"), "gamma applies only to antisymmetric"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ResodeError, match=message):
        TrainConfig(**kwargs)
