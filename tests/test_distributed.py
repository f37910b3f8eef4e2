"""Data-parallel training with torchrun on gloo equals single-process training."""

import os
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from resode.cli import main
from resode.training import run_state

ARGS = [
    "--data",
    "circles",
    "--epochs",
    "3",
    "--steps",
    "4",
    "--width",
    "6",
    "--quiet",
    "--batch-size",
    "50",
    "--device",
    "cpu",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(_free_port()),
        "-m",
        "resode",
        *args,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def _close(a, b):
    a, b = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    assert main(["train", *ARGS, "--out", str(out)]) == 0
    return out


def test_two_gloo_processes_equal_one_process(tmp_path, single):
    out = tmp_path / "ddp"
    done = _torchrun("train", *ARGS, "--distributed", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("test_accuracy=") == 1  # only rank 0 reports
    _close(single, out)
    assert (out / "metrics.json").is_file() and (out / "history.csv").is_file()


def test_distributed_resume_continues_a_run(tmp_path, single, monkeypatch):
    out = tmp_path / "resumed"
    original = run_state.save_checkpoint

    def save_then_stop(*args, **kwargs):
        original(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(run_state, "save_checkpoint", save_then_stop)
    assert main(["train", *ARGS, "--out", str(out)]) == 130
    monkeypatch.undo()
    done = _torchrun("train", "--resume", str(out), "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    _close(single, out)


def test_distributed_flag_without_a_launcher(tmp_path, capsys):
    assert main(["train", *ARGS, "--distributed", "--out", str(tmp_path)]) == 2
    assert "torchrun --nproc-per-node" in capsys.readouterr().err
