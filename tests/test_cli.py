"""The ``resode`` command: runs, resumes, evaluates at other depths, rejects bad input."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from resode.cli import main

TINY = ["--data", "circles", "--epochs", "2", "--steps", "4", "--width", "6", "--quiet"]


def _run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(
        [sys.executable, "-m", "resode", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def test_train_and_evaluate_in_a_subprocess(tmp_path):
    out = tmp_path / "run"
    done = _run("train", *TINY, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "test_accuracy=" in done.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["data"] == "circles" and config["steps"] == 4
    assert config["model"] == {
        "kind": "vector",
        "input_shape": [2],
        "in_features": 2,
        "out_features": 2,
        "task": "classification",
    }
    shown = _run("evaluate", str(out), "--steps", "4,16", "--json")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert [r["steps"] for r in rows] == [4, 16]
    table = _run("evaluate", str(out))
    assert table.returncode == 0 and "test_accuracy" in table.stdout


def test_resume_from_the_cli_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    import resode.training.run_state as module

    assert main(["train", *TINY, "--epochs", "3", "--out", str(tmp_path / "a")]) == 0
    original = module.save_checkpoint

    def save_then_stop(*args, **kwargs):  # the process dies right after epoch 1's checkpoint
        original(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "save_checkpoint", save_then_stop)
    assert main(["train", *TINY, "--epochs", "3", "--out", str(tmp_path / "b")]) == 130
    monkeypatch.undo()
    assert not (tmp_path / "b" / "metrics.json").exists()
    assert main(["train", "--resume", str(tmp_path / "b"), "--quiet"]) == 0
    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_evaluate_json_at_one_depth(tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path), "--steps", "8", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["steps"] == 8 and 0 <= row["test_accuracy"] <= 1


BAD_TRAIN = [
    (
        ["--dynamics", "wave"],
        "unknown dynamics 'wave'; choose one of: antisymmetric, diffusion-reaction, hamiltonian, "
        "parabolic, second-order, standard",
    ),
    (
        ["--integrator", "rk5"],
        "unknown integrator 'rk5'; choose one of: "
        "euler, heun, imex, leapfrog, plain, rk3, rk4, verlet",
    ),
    (
        ["--activation", "gelu"],
        "unknown activation 'gelu'; choose one of: identity, relu, smooth_relu, tanh",
    ),
    (
        ["--data", "imagenet"],
        "unknown dataset 'imagenet'; choose one of: bars, cifar10, cifar100, circles, "
        "diabetes, digits, ellipses, fashion-mnist, mnist, mnist1d, peaks, "
        "peaks-regression, shapes, spirals",
    ),
    (["--T", "0"], "T must be a finite number > 0"),
    (["--T", "-2"], "T must be a finite number > 0"),
    (["--steps", "0"], "steps must be an integer >= 1"),
    (["--width", "0"], "width must be an integer >= 1"),
    (["--width", "abc"], "argument --width: invalid int value: 'abc'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize("args, message", BAD_TRAIN)
def test_train_rejects_bad_input_with_one_line(tmp_path, capsys, args, message):
    assert main(["train", *args, "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"resode: error: {message}" or (
        err.startswith("resode: error: ") and message in err
    )
    assert "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_bad_input_exit_code_in_a_subprocess(tmp_path):
    done = _run("train", "--integrator", "rk5", "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    assert (
        done.stderr.strip() == "resode: error: unknown integrator 'rk5'; choose one of: "
        "euler, heun, imex, leapfrog, plain, rk3, rk4, verlet"
    )


def test_evaluate_rejects_missing_and_corrupt_runs(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", *TINY, "--out", str(tmp_path / "run")]) == 0
    (tmp_path / "run" / "model.safetensors").write_bytes(b"garbage")
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("resode: error: corrupt tensor file") and "\n" not in err
    (tmp_path / "run" / "config.json").unlink()
    assert main(["evaluate", str(tmp_path / "run")]) == 2
    assert "holds no resode run (no config.json)" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "run"), "--steps", "0"]) == 2


def test_existing_run_is_not_overwritten_and_resume_flags_are_checked(tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["train", *TINY, "--out", str(tmp_path)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path), "--width", "9"]) == 2
    assert "cannot change width when resuming" in capsys.readouterr().err
    assert main(["train", *TINY, "--out", str(tmp_path), "--force"]) == 0


def test_diverging_training_exits_1_with_advice(tmp_path):
    unstable = [
        "--dynamics",
        "standard",
        "--integrator",
        "euler",
        "--activation",
        "identity",
        "--T",
        "1e12",
        "--steps",
        "4",
        "--data",
        "circles",
        "--epochs",
        "2",
        "--quiet",
    ]
    done = _run("train", *unstable, "--out", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1  # one line of diagnosis
    assert "resode: unstable forward propagation: in epoch 1: " in done.stderr
    assert "unit 0, step" in done.stderr and "antisymmetric or parabolic" in done.stderr
    assert "Traceback" not in done.stderr


def test_evaluate_at_several_depths_writes_a_depth_study(tmp_path, capsys):
    assert main(["train", *TINY, "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    out = tmp_path / "depth"
    assert main(["evaluate", str(tmp_path / "run"), "--steps", "2,4,16", "--out", str(out)]) == 0
    study = json.loads((out / "depth.json").read_text())
    assert study["trained_steps"] == 4 and study["metric"] == "test_accuracy"
    assert [r["steps"] for r in study["results"]] == [2, 4, 16]
    assert all(0 <= r["test_accuracy"] <= 1 for r in study["results"])
    assert (out / "depth.png").stat().st_size > 5_000
