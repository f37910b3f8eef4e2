"""Training a finished or interrupted run longer with ``--resume DIR --epochs E``."""

import csv
import json

import torch
from safetensors.torch import load_file

from resode.cli import main

TINY = ["--data", "circles", "--steps", "3", "--width", "5", "--quiet"]


def _weights(run):
    return load_file(run / "model.safetensors")


def _history(run):
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


def test_a_run_extended_in_two_pieces_equals_one_run(tmp_path):
    constant = [*TINY, "--schedule", "constant"]
    assert main(["train", *constant, "--epochs", "4", "--out", str(tmp_path / "direct")]) == 0
    assert main(["train", *constant, "--epochs", "1", "--out", str(tmp_path / "pieces")]) == 0
    for epochs in ("2", "4"):
        assert main(["train", "--resume", str(tmp_path / "pieces"), "--epochs", epochs]) == 0
    direct, pieces = _weights(tmp_path / "direct"), _weights(tmp_path / "pieces")
    assert all(torch.equal(direct[k], pieces[k]) for k in direct)
    assert json.loads((tmp_path / "pieces" / "config.json").read_text())["epochs"] == 4
    assert [row["epoch"] for row in _history(tmp_path / "pieces")] == ["1", "2", "3", "4"]


def test_cosine_restarts_over_the_added_epochs(tmp_path):
    assert main(["train", *TINY, "--epochs", "2", "--lr", "0.01", "--out", str(tmp_path)]) == 0
    assert main(["train", "--resume", str(tmp_path), "--epochs", "4", "--quiet"]) == 0
    lrs = [float(row["lr"]) for row in _history(tmp_path)]
    assert lrs[1] < 1e-9  # the first cycle annealed to zero
    assert abs(lrs[2] - 0.005) < 1e-9 and lrs[3] < 1e-9  # then cos over epochs 3–4


def test_other_changes_and_fewer_epochs_are_refused(tmp_path, capsys):
    assert main(["train", *TINY, "--epochs", "2", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path), "--epochs", "5", "--width", "9"]) == 2
    assert "cannot change width when resuming" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "cannot lower epochs" in err and err.count("\n") == 1
