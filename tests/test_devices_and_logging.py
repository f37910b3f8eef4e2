"""Precision, devices and per-epoch logs."""

import csv
import importlib.util

import pytest
import torch
from safetensors.torch import load_file

from resode.cli import main
from resode.runs import evaluate_run
from resode.training.config import TrainConfig
from resode.training.loop import train

TINY = dict(data="circles", epochs=2, steps=4, width=6, device="cpu")


@pytest.mark.parametrize(
    "dtype, torch_dtype", [("float64", torch.float64), ("bfloat16", torch.bfloat16)]
)
def test_training_in_other_precisions(tmp_path, dtype, torch_dtype):
    metrics = train(TrainConfig(**TINY, dtype=dtype), tmp_path, progress=False)
    weights = load_file(tmp_path / "model.safetensors")
    assert all(w.dtype == torch_dtype for w in weights.values())
    assert 0.4 <= metrics["test_accuracy"] <= 1.0
    (row,) = evaluate_run(tmp_path, steps=[8])
    assert row["steps"] == 8 and 0 <= row["test_accuracy"] <= 1


def test_float64_matches_float32_closely(tmp_path):
    a = train(TrainConfig(**TINY), tmp_path / "a", progress=False)
    b = train(TrainConfig(**TINY, dtype="float64"), tmp_path / "b", progress=False)
    assert abs(a["test_loss"] - b["test_loss"]) < 1e-3


def test_history_csv_has_one_row_per_epoch(tmp_path):
    train(TrainConfig(**TINY), tmp_path, progress=False)
    rows = list(csv.DictReader((tmp_path / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"} <= set(
        rows[0]
    )


def test_absent_devices_are_clear_errors(tmp_path, capsys):
    if not torch.cuda.is_available():
        assert main(["train", "--device", "cuda", "--out", str(tmp_path / "c")]) == 2
        assert "device 'cuda' is not available here" in capsys.readouterr().err
    assert main(["train", "--device", "tpu", "--out", str(tmp_path / "t")]) == 2
    assert "unknown device 'tpu'; choose one of: auto, cpu, cuda, mps" in capsys.readouterr().err
    assert main(["train", "--dtype", "float16", "--out", str(tmp_path / "d")]) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_training_on_cuda(tmp_path):
    metrics = train(TrainConfig(**{**TINY, "device": "cuda"}), tmp_path, progress=False)
    assert 0 <= metrics["test_accuracy"] <= 1


HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


@pytest.mark.skipif(HAS_TENSORBOARD, reason="tensorboard is installed here")
def test_tensorboard_flag_without_the_package(tmp_path, capsys):
    args = ["train", "--data", "circles", "--epochs", "1", "--quiet", "--tensorboard"]
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert "pip install tensorboard" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="tensorboard is not installed")
def test_tensorboard_logs(tmp_path):
    args = ["train", "--data", "circles", "--epochs", "1", "--quiet", "--tensorboard"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    assert list((tmp_path / "tensorboard").glob("events.*"))
