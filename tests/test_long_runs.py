"""Long runs on shared machines: mid-epoch checkpoints, preemption signals, one writer per run
directory, and the batches (in process or from a loader's workers, with augmentation)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from resode.cli import main
from resode.data.loader import EpochBatches, augment_images, batch_generator
from resode.runs.lock import LOCK, RunDirectoryLocked, RunLock
from resode.storage import read_tensors
from resode.training import run_state
from resode.training import step as step_module
from resode.training.config import TrainConfig
from resode.training.loop import train
from resode.training.preemption import RESUMABLE, TrainingInterrupted

CONFIG = dict(data="ellipses", epochs=3, batch_size=32, width=8, steps=4)


def _same_weights(a_dir, b_dir) -> None:
    a = load_file(a_dir / "model.safetensors")
    b = load_file(b_dir / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _same_history(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert {k: v for k, v in x.items() if k != "seconds"} == {
            k: v for k, v in y.items() if k != "seconds"
        }


def _signal_at_step(monkeypatch, step: int, number=signal.SIGTERM, after: bool = False) -> None:
    """Send this process ``number`` as optimizer step ``step`` (counted from 1) starts, or
    ``after`` it was taken."""
    original = step_module.optimizer_step
    calls = []

    def step_then_signal(*args, **kwargs):
        calls.append(1)
        if len(calls) == step and not after:
            os.kill(os.getpid(), number)
        result = original(*args, **kwargs)
        if len(calls) == step and after:
            os.kill(os.getpid(), number)
        return result

    monkeypatch.setattr("resode.training.epoch.optimizer_step", step_then_signal)


@pytest.mark.parametrize(
    ("number", "after"), [(signal.SIGTERM, False), (signal.SIGUSR1, False), (signal.SIGTERM, True)]
)
def test_a_signal_mid_epoch_then_resume_gives_the_uninterrupted_weights(
    tmp_path, monkeypatch, number, after
):
    config = TrainConfig(**CONFIG)  # 1000 examples, 32 per batch: 32 batches per epoch
    straight = train(config, tmp_path / "straight", progress=False)
    with monkeypatch.context() as patch:
        _signal_at_step(patch, 45, number, after)  # batch 13 of epoch 2
        with pytest.raises(TrainingInterrupted, match="resode train --resume"):
            train(config, tmp_path / "resumed", progress=False)
    _, state = read_tensors(tmp_path / "resumed" / "checkpoint.safetensors")
    # a signal as the step starts stops its forward pass between two steps of the step
    # loop, and the batch is dropped; one after the step stops after the batch
    done = 45 if after else 44
    assert state["epoch"] == 1 and state["step"] == done
    assert state["position"]["batch"] == done - 32
    assert not (tmp_path / "resumed" / LOCK).exists()
    resumed = train(config, tmp_path / "resumed", resume=True, progress=False)
    _same_weights(tmp_path / "straight", tmp_path / "resumed")
    _same_history(straight["history"], resumed["history"])
    assert resumed["test_accuracy"] == straight["test_accuracy"]


def test_checkpoint_every_writes_mid_epoch_checkpoints_that_resume_bit_for_bit(
    tmp_path, monkeypatch
):
    config = TrainConfig(**CONFIG, checkpoint_every=10)
    train(config, tmp_path / "straight", progress=False)
    original, saved = run_state.save_checkpoint, []

    def save_then_crash(*args, **kwargs):
        original(*args, **kwargs)
        saved.append(kwargs.get("position"))
        if len(saved) == 4:  # steps 10, 20, 30 (mid-epoch), then the end of epoch 1 … step 40
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(run_state, "save_checkpoint", save_then_crash)
        with pytest.raises(KeyboardInterrupt):
            train(config, tmp_path / "resumed", progress=False)
    assert [p and p["batch"] for p in saved] == [10, 20, 30, None]
    # a crash that kills the process: its lock is taken over by the next run
    train(config, tmp_path / "resumed", resume=True, progress=False)
    _same_weights(tmp_path / "straight", tmp_path / "resumed")


def test_the_epoch_end_checkpoint_after_a_mid_epoch_one_resumes_too(tmp_path, monkeypatch):
    config = TrainConfig(**CONFIG, checkpoint_every=7)
    train(config, tmp_path / "straight", progress=False)
    with monkeypatch.context() as patch:
        _signal_at_step(patch, 32)  # the last batch of epoch 1
        with pytest.raises(TrainingInterrupted):
            train(config, tmp_path / "resumed", progress=False)
    train(config, tmp_path / "resumed", resume=True, progress=False)
    _same_weights(tmp_path / "straight", tmp_path / "resumed")


def test_checkpoint_every_and_workers_may_change_on_resume(tmp_path, monkeypatch):
    config = TrainConfig(**CONFIG, checkpoint_every=5)
    with monkeypatch.context() as patch:
        _signal_at_step(patch, 20)
        with pytest.raises(TrainingInterrupted):
            train(config, tmp_path / "run", progress=False)
    code = main(["train", "--resume", str(tmp_path / "run"), "--checkpoint-every", "50",
                 "--workers", "1", "--quiet"])  # fmt: skip
    assert code == 0


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "resode", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        **kwargs,
    )


def test_sigterm_to_the_command_ends_it_resumable_with_status_75(tmp_path):
    out = tmp_path / "run"
    process = _cli("train", "--data", "peaks", "--epochs", "200", "--batch-size", "16",
                   "--out", str(out), "--quiet")  # fmt: skip
    deadline = time.monotonic() + 120
    while not (out / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == RESUMABLE, stderr
    assert stderr.count("\n") == 1 and "stopped by SIGTERM" in stderr
    assert f"resode train --resume {out}" in stderr
    _, state = read_tensors(out / "checkpoint.safetensors")
    assert state["position"]["batch"] >= 1
    assert not (out / LOCK).exists()


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    with RunLock(out):
        code = main(["train", "--data", "ellipses", "--epochs", "1", "--out", str(out), "--quiet"])
        error = capsys.readouterr().err
        assert code == 2
        assert error.count("\n") == 1 and f"process {os.getpid()}" in error
        assert not (out / "config.json").exists()
        with pytest.raises(RunDirectoryLocked):
            RunLock(out).acquire()
    assert not (out / LOCK).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    dead = {"pid": 2**22 + 17, "host": "elsewhere", "started": "2026-01-01 00:00:00"}
    (out / LOCK).write_text(json.dumps(dead) + "\n")
    code = main(["train", "--data", "ellipses", "--epochs", "1", "--out", str(out), "--quiet"])
    assert code == 0
    assert f"took over the stale lock of process {dead['pid']}" in capsys.readouterr().err
    assert not (out / LOCK).exists()


def test_two_forced_runs_at_once_leave_one_writer(tmp_path):
    out = tmp_path / "run"
    # long enough that the second process reaches the lock while the first still trains
    args = ("train", "--data", "peaks", "--epochs", "15", "--out", str(out), "--force", "--quiet")
    first, second = _cli(*args), _cli(*args)
    results = [p.communicate(timeout=600) + (p.returncode,) for p in (first, second)]
    codes = sorted(code for _, _, code in results)
    assert codes == [0, 2], results
    refused = next(err for _, err, code in results if code == 2)
    assert "is in use by process" in refused
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 16  # header and 15 epochs of one run


# the batches


def test_augmentation_crops_the_padded_image_and_flips_it():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6)
    y = torch.arange(2 * 6 * 6).reshape(2, 6, 6) % 5
    out_x, out_y = augment_images(x, y, batch_generator(0, 1, 2), padding=2)
    generator = batch_generator(0, 1, 2)
    offsets = torch.randint(0, 5, (2, 2), generator=generator)
    flips = torch.rand(2, generator=generator) < 0.5
    padded_x = torch.nn.functional.pad(x, (2, 2, 2, 2))
    padded_y = torch.nn.functional.pad(y, (2, 2, 2, 2))
    for i in range(2):
        r, c = offsets[i].tolist()
        want_x, want_y = padded_x[i, :, r : r + 6, c : c + 6], padded_y[i, r : r + 6, c : c + 6]
        if flips[i]:
            want_x, want_y = want_x.flip(-1), want_y.flip(-1)
        assert torch.equal(out_x[i], want_x)
        assert torch.equal(out_y[i], want_y)


def test_augmentation_depends_on_seed_epoch_and_batch_only():
    x, y = torch.randn(16, 3, 8, 8), torch.zeros(16, dtype=torch.long)
    a = augment_images(x, y, batch_generator(3, 2, 5))[0]
    assert torch.equal(a, augment_images(x, y, batch_generator(3, 2, 5))[0])
    assert not torch.equal(a, augment_images(x, y, batch_generator(3, 2, 6))[0])
    assert not torch.equal(a, augment_images(x, y, batch_generator(3, 3, 5))[0])


@pytest.mark.parametrize("augment", [False, True])
def test_loader_workers_make_the_same_batches_as_the_process(augment):
    x, y = torch.randn(100, 3, 8, 8), torch.randint(0, 4, (100,))
    order = torch.randperm(100, generator=torch.Generator().manual_seed(1))

    def batches(workers: int, start: int = 0):
        made = EpochBatches(x, y, order, 16, lambda i: i, torch.device("cpu"), 0, 1,
                            augment, workers, start)  # fmt: skip
        return list(made)

    inline, loaded = batches(0), batches(2)
    assert len(inline) == len(loaded) == 7
    for (xa, ya, na), (xb, yb, nb) in zip(inline, loaded):
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and na == nb
    for (xa, _, _), (xb, _, _) in zip(inline[3:], batches(2, start=3)):
        assert torch.equal(xa, xb)


def test_training_with_loader_workers_gives_the_same_weights(tmp_path):
    config = dict(data="digits", epochs=1, batch_size=64, widths=[4], steps=2, augment=True)
    train(TrainConfig(**config, workers=0), tmp_path / "inline", progress=False)
    train(TrainConfig(**config, workers=2), tmp_path / "loaded", progress=False)
    _same_weights(tmp_path / "inline", tmp_path / "loaded")


def test_augment_applies_to_images_only(capsys):
    assert main(["train", "--data", "peaks", "--augment", "--epochs", "1"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--augment applies to image data" in error


def test_warmup_scales_the_first_steps_rates_and_restores_the_schedule(tmp_path, monkeypatch):
    seen = []
    original = torch.optim.Adam.step

    def record(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", record)
    config = TrainConfig(**{**CONFIG, "epochs": 2}, warmup_steps=40, schedule="constant")
    metrics = train(config, tmp_path / "run", progress=False)
    assert len(seen) == 64
    assert seen[:40] == pytest.approx([0.01 * (t + 1) / 40 for t in range(40)], rel=1e-12)
    assert seen[40:] == [0.01] * 24
    assert [r["lr"] for r in metrics["history"]] == [0.01, 0.01]


def test_the_epochs_seconds_add_up_to_no_more_than_the_run(tmp_path):
    started = time.perf_counter()
    metrics = train(TrainConfig(**CONFIG), tmp_path / "run", progress=False)
    elapsed = time.perf_counter() - started
    assert 0 < sum(r["seconds"] for r in metrics["history"]) <= elapsed
