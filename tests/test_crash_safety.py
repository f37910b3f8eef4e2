"""Crash-safe runs: SIGKILL at any moment (also inside a checkpoint write) loses nothing,
a damaged or foreign checkpoint is refused before anything is loaded."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from resode.cli import main
from resode.errors import RunDirectoryError
from resode.storage import read_tensors
from resode.training.config import TrainConfig
from resode.training.factory import build_model, make_optimizer
from resode.training.loop import train
from resode.training.state import load_checkpoint

ARGS = [
    "--data",
    "circles",
    "--epochs",
    "5",
    "--steps",
    "4",
    "--width",
    "6",
    "--quiet",
    "--batch-size",
    "16",
    "--device",
    "cpu",
]
CONFIG = TrainConfig(data="circles", epochs=5, steps=4, width=6, batch_size=16, device="cpu")

# Run the CLI in a child that SIGKILLs itself halfway through writing its 2nd checkpoint.
DIE_IN_CHECKPOINT_WRITE = """
import io, os, signal, sys
import resode.storage as checkpoint
original, calls = checkpoint.atomic_write, []
def dying(path, write, binary=False):
    if str(path).endswith("checkpoint.safetensors"):
        calls.append(path)
        if len(calls) == 2:
            def half(handle):
                buffer = io.BytesIO(); write(buffer); data = buffer.getvalue()
                handle.write(data[: len(data) // 2]); handle.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return original(path, half, binary)
    return original(path, write, binary)
checkpoint.atomic_write = dying
from resode.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _env():
    return dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")


def _weights(run):
    return load_file(run / "model.safetensors")


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main(["train", *ARGS, "--out", str(out)]) == 0
    return _weights(out)


def test_sigkill_inside_a_checkpoint_write_then_resume_is_bit_exact(tmp_path, reference):
    out = tmp_path / "run"
    child = subprocess.run(
        [sys.executable, "-c", DIE_IN_CHECKPOINT_WRITE, "train", *ARGS, "--out", str(out)],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert child.returncode == -signal.SIGKILL
    leftovers = list(out.glob(".checkpoint.safetensors.*.tmp"))
    assert len(leftovers) == 1  # the half-written file never replaced the good one
    _, state = read_tensors(out / "checkpoint.safetensors")
    assert state["epoch"] == 1
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert not list(out.glob(".*.tmp"))
    assert _same(_weights(out), reference)


def test_sigkill_at_a_random_moment_then_resume_is_bit_exact(tmp_path, reference):
    out = tmp_path / "run"
    child = subprocess.Popen(
        [sys.executable, "-m", "resode", "train", *ARGS, "--out", str(out)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and child.poll() is None:
        history = out / "history.csv"
        if history.exists() and len(history.read_text().splitlines()) >= 3:  # 2 epochs done
            break
        time.sleep(0.02)
    time.sleep(0.05)  # somewhere inside epoch 3
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not (out / "metrics.json").exists(), "the run finished before it could be killed"
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert _same(_weights(out), reference)


def _trained(tmp_path):
    out = tmp_path / "run"
    train(
        TrainConfig(data="circles", epochs=2, steps=4, width=6, device="cpu"), out, progress=False
    )
    return out


def _fresh_state(config):
    torch.manual_seed(123)
    info = {
        "kind": "vector",
        "input_shape": [2],
        "in_features": 2,
        "out_features": 2,
        "task": "classification",
    }
    model = build_model(config, info)
    optimizer, scheduler = make_optimizer(config, model)
    return model, optimizer, scheduler, torch.Generator()


def test_truncated_checkpoint_is_refused_and_nothing_is_loaded(tmp_path, capsys):
    out = _trained(tmp_path)
    data = (out / "checkpoint.safetensors").read_bytes()
    (out / "checkpoint.safetensors").write_bytes(data[: len(data) - 100])
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    assert "corrupt tensor file" in capsys.readouterr().err
    config = TrainConfig(data="circles", epochs=2, steps=4, width=6, device="cpu")
    model, optimizer, scheduler, generator = _fresh_state(config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RunDirectoryError):
        load_checkpoint(out, config, model, optimizer, scheduler, generator)
    assert _same(before, model.state_dict())


def test_altered_checkpoint_is_refused(tmp_path, capsys):
    out = _trained(tmp_path)
    data = bytearray((out / "checkpoint.safetensors").read_bytes())
    data[-5] ^= 0x40  # flip one bit inside the tensor data
    (out / "checkpoint.safetensors").write_bytes(bytes(data))
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    model_bytes = bytearray((out / "model.safetensors").read_bytes())
    model_bytes[-3] ^= 0x01
    (out / "model.safetensors").write_bytes(bytes(model_bytes))
    assert main(["evaluate", str(out)]) == 2
    assert "checksum mismatch" in capsys.readouterr().err


def test_checkpoint_of_another_config_is_refused(tmp_path, capsys):
    first = _trained(tmp_path)
    other = tmp_path / "other"
    train(
        TrainConfig(data="circles", epochs=2, steps=4, width=6, lr=0.02, device="cpu"),
        other,
        progress=False,
    )
    (other / "checkpoint.safetensors").write_bytes((first / "checkpoint.safetensors").read_bytes())
    assert main(["train", "--resume", str(other), "--quiet"]) == 2
    assert "belongs to another config" in capsys.readouterr().err


def test_loading_never_unpickles(tmp_path):
    """A pickle file posing as a checkpoint is rejected as not a safetensors file."""
    import pickle

    out = _trained(tmp_path)

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    (out / "checkpoint.safetensors").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(RunDirectoryError):
        read_tensors(out / "checkpoint.safetensors")
    assert not (tmp_path / "pwned").exists()
