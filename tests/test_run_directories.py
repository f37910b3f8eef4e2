"""Run directories under faults and bad input: nothing lost, nothing stale, one line each.

Every probe runs a command as a user would and checks its exit code, that it printed one
line, and what the folder holds afterwards.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from resode.cli import main
from resode.runs.directory import leftover
from resode.runs.layout import written_by_resode
from resode.storage import read_tensors
from resode.training.preemption import Preemption, StoppedAtOnce

TINY = ["--data", "circles", "--epochs", "1", "--steps", "2", "--width", "4", "--quiet"]


def _fails_with_one_line(capsys, argv: list[str], *pieces: str) -> str:
    code = main(argv)
    error = capsys.readouterr().err
    assert code == 2, error
    assert error.count("\n") == 1 and error.startswith("resode: error: "), error
    for piece in pieces:
        assert piece in error, error
    return error


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished tiny run (copied by the tests that damage it)."""
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def _copy(run: Path, where: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, where / run.name))


# --force and folders that are not runs -----------------------------------------------------


def test_force_replaces_every_file_of_the_old_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--dynamics", "standard", "--out", str(out)]) == 0
    assert main(["stability", str(out), "--samples", "8"]) == 0
    assert main(["evaluate", str(out), "--steps", "2,4"]) == 0
    (out / "notes.txt").write_text("mine")
    stale = ("stability.json", "spectrum.png", "depth.json", "depth.png")
    assert all((out / name).exists() for name in stale)
    assert main(["train", *TINY, "--dynamics", "antisymmetric", "--out", str(out), "--force"]) == 0
    capsys.readouterr()
    assert not any((out / name).exists() for name in stale)
    assert json.loads((out / "config.json").read_text())["dynamics"] == "antisymmetric"
    assert (out / "notes.txt").read_text() == "mine"  # a user's file is kept
    assert not leftover(out, "resode-new").exists() and not leftover(out, "resode-old").exists()
    assert main(["report", str(out)]) == 0
    assert "not computed: run <code>resode stability" in (out / "report.html").read_text()


def test_a_failing_force_run_leaves_the_old_run_whole(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("resode.training.run_state.save_checkpoint", killed)
    assert main(["train", *TINY, "--seed", "5", "--out", str(out), "--force"]) == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not leftover(out, "resode-new").exists()
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--epochs", "2", "--quiet"]) == 0  # the old run


def test_a_folder_that_is_not_a_run_is_refused_unless_forced(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "history.csv").write_text("my,own\n1,2\n")
    _fails_with_one_line(capsys, ["train", *TINY, "--out", str(out)], "holds no resode run")
    assert (out / "history.csv").read_text() == "my,own\n1,2\n"
    assert sorted(p.name for p in out.iterdir()) == ["history.csv"]
    (out / "history.csv").unlink()
    (out / "run.lock").write_text("")  # only resode's own bookkeeping: as good as empty
    assert main(["train", *TINY, "--out", str(out)]) == 0
    file = tmp_path / "file.txt"
    file.write_text("x")
    _fails_with_one_line(capsys, ["train", *TINY, "--out", str(file)], "is a file")
    _fails_with_one_line(capsys, ["train", *TINY, "--out", str(file), "--force"], "is a file")


def test_resume_deletes_only_resodes_temporaries(trained, tmp_path, capsys):
    run = _copy(trained, tmp_path)
    mine = [run / ".hidden.tmp", run / ".notes.txt.abc123.tmp"]
    for path in mine:
        path.write_text("keep")
    partial = run / ".model.safetensors.k2j3h4g5.tmp"
    partial.write_bytes(b"half a file")
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 0
    assert all(path.read_text() == "keep" for path in mine)
    assert not partial.exists()
    assert written_by_resode(partial.name) and not written_by_resode(mine[0].name)


# locks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["bytes", "empty folder"])
def test_a_damaged_lock_is_stale(trained, tmp_path, capsys, damage):
    run = _copy(trained, tmp_path)
    if damage == "bytes":
        (run / "run.lock").write_bytes(bytes(random.Random(0).randrange(256) for _ in range(64)))
    else:
        (run / "run.lock").mkdir()
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 0
    assert not (run / "run.lock").exists()


def test_a_folder_holding_files_where_the_lock_goes_is_refused(trained, tmp_path, capsys):
    run = _copy(trained, tmp_path)
    (run / "run.lock").mkdir()
    (run / "run.lock" / "x").write_text("x")
    _fails_with_one_line(capsys, ["train", "--resume", str(run), "--quiet"], "run.lock", "folder")


# paths ----------------------------------------------------------------------------------------


def test_relative_data_paths_in_a_config_file_are_the_files_folders(tmp_path, capsys):
    project = tmp_path / "project"
    project.mkdir()
    rows = np.random.default_rng(0).normal(size=(80, 3))
    table = "a,b,label\n" + "".join(f"{a},{b},{int(c > 0)}\n" for a, b, c in rows)
    (project / "table.csv").write_text(table)
    (project / "run.toml").write_text(
        'data = "csv:table.csv"\ntarget = "label"\nepochs = 1\nsteps = 2\nwidth = 4\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "run"
    old = os.getcwd()
    try:
        os.chdir(elsewhere)
        assert main(["train", "--config", "../project/run.toml", "--out", str(out), "--quiet"]) == 0
        os.chdir(tmp_path)
        assert main(["evaluate", str(out)]) == 0
    finally:
        os.chdir(old)
    stored = json.loads((out / "config.json").read_text())["data"]
    assert stored == f"csv:{(project / 'table.csv').resolve()}"


def test_symlinks_out_of_an_image_folder_and_a_folder_as_a_csv_are_refused(tmp_path, capsys):
    from PIL import Image

    outside = tmp_path / "outside.png"
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(outside)
    folder = tmp_path / "images"
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        Image.fromarray(np.full((8, 8), 200, dtype=np.uint8)).save(folder / name / "0.png")
    (folder / "a" / "1.png").symlink_to(outside)
    _fails_with_one_line(
        capsys, ["train", *TINY[2:], "--data", f"folder:{folder}"], "outside", "link"
    )
    _fails_with_one_line(capsys, ["train", *TINY[2:], "--data", f"csv:{folder}"], "is a folder")


# malformed run files: one line, exit 2 ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "command"),
    [
        ("config.json", "garbage{", "report"),
        ("config.json", "[1, 2]", "report"),
        ("config.json", '{"dynamics": "bogus"}', "report"),
        ("config.json", "[1, 2]", "evaluate"),
        ("metrics.json", "garbage", "report"),
        ("stability.json", "[]", "report"),
        ("stability.json", '{"units": [{"h": 1}]}', "report"),
        ("history.csv", "epoch,train_loss\n1,abc\n", "report"),
        ("history.csv", b"\xff\xfe\x00garbage", "report"),
        ("model.safetensors", b"not safetensors", "evaluate"),
    ],
)
def test_malformed_files_are_refused_in_one_line(trained, tmp_path, capsys, name, content, command):
    run = _copy(trained, tmp_path)
    path = run / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    _fails_with_one_line(capsys, [command, str(run)], name)
    assert not (run / "report.html").exists()


def test_predict_refuses_empty_and_object_arrays_and_unknown_suffixes(trained, tmp_path, capsys):
    empty, objects = tmp_path / "empty.npz", tmp_path / "objects.npz"
    np.savez(empty, x=np.zeros((0, 2)))
    np.savez(objects, x=np.array([[1, "a"], [2, None]], dtype=object))
    _fails_with_one_line(capsys, ["predict", str(trained), str(empty)], "no rows")
    _fails_with_one_line(capsys, ["predict", str(trained), str(objects)], "objects.npz")
    text = tmp_path / "x.txt"
    _fails_with_one_line(
        capsys, ["predict", str(trained), "test", "--out", str(text)], ".csv or a .npz"
    )
    assert not text.exists()


def test_a_csv_missing_a_feature_column_is_refused_by_name(tmp_path, capsys):
    rows = np.random.default_rng(1).normal(size=(60, 3))
    (tmp_path / "t.csv").write_text(
        "year,weight,label\n" + "".join(f"{a},{b},{int(c > 0)}\n" for a, b, c in rows)
    )
    out = tmp_path / "run"
    argv = ["train", "--data", f"csv:{tmp_path / 't.csv'}", "--target", "label", *TINY[2:]]
    assert main([*argv, "--out", str(out)]) == 0
    (tmp_path / "new.csv").write_text("weight,Year\n1.0,2.0\n")  # renamed, reordered
    _fails_with_one_line(
        capsys, ["predict", str(out), str(tmp_path / "new.csv")], "lacks the feature column", "year"
    )


def test_onnx_export_without_the_extra_creates_nothing(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now fails
    target = tmp_path / "new" / "model.onnx"
    _fails_with_one_line(capsys, ["export", str(trained), "--out", str(target)], "resode[export]")
    assert not target.parent.exists()


# resources ------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--width", "1000000"], ["--steps", "100000000"]])
def test_a_network_that_cannot_fit_is_refused_before_anything_is_made(tmp_path, capsys, args):
    out = tmp_path / "run"
    started = time.perf_counter()
    _fails_with_one_line(capsys, ["train", *TINY, *args, "--out", str(out)], "cannot fit in memory")
    assert time.perf_counter() - started < 30
    assert not out.exists()


# signals --------------------------------------------------------------------------------------


def test_a_second_signal_stops_at_once_but_not_within_a_write():
    with Preemption() as preemption:
        os.kill(os.getpid(), signal.SIGTERM)
        assert preemption.requested == "SIGTERM"
        with pytest.raises(StoppedAtOnce):
            with preemption.writing():
                os.kill(os.getpid(), signal.SIGTERM)
                written = True  # the write in progress ends first
        assert written
        with pytest.raises(StoppedAtOnce):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "resode", "train", "--data", "circles", "--quiet", *args],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _deep_run_signalled(tmp_path: Path, *args: str, signals: int = 1) -> tuple[int, str]:
    """Start a run of 200 000 steps, send SIGTERM ``signals`` times (1 s apart) inside its
    first batch (one forward pass takes many seconds); (exit code, stderr), checking that it
    ended soon after the last signal."""
    out = tmp_path / "deep"
    process = _start(tmp_path, "--steps", "200000", "--width", "2", "--epochs", "1",
                     "--integrator", "euler", "--out", str(out), *args)  # fmt: skip
    _wait_for(out / "config.json", process)
    for _ in range(signals):
        time.sleep(1.0)
        assert process.poll() is None  # an earlier signal waits for the batch
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
    _, error = process.communicate(timeout=60)
    assert time.monotonic() - sent < 15
    return process.returncode, error


def test_a_signal_stops_a_very_deep_batch_between_two_steps(tmp_path):
    code, error = _deep_run_signalled(tmp_path)
    out = tmp_path / "deep"
    assert code == 75, error
    assert "after batch 0" in error
    _, state = read_tensors(out / "checkpoint.safetensors")
    assert state["step"] == 0 and state["position"]["batch"] == 0


def test_a_second_sigterm_ends_a_batch_that_cannot_be_cut(tmp_path):
    # VarPro steps change the head midway: its batches run whole
    code, error = _deep_run_signalled(tmp_path, "--varpro", signals=2)
    assert code == 143, error
    assert "stopped at once by a second SIGTERM" in error


def _consistent(out: Path, old: dict[str, bytes], old_seed: int, new_seed: int) -> str:
    """'old' when ``out`` holds exactly the old run, 'new' for a consistent new run (a killed
    process leaves its stale lock file, which the next run takes over)."""
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "run.lock"}
    config = json.loads(files["config.json"])
    if config["seed"] == old_seed:
        assert files == old, "the old run was changed"
        return "old"
    assert config["seed"] == new_seed
    _, state = read_tensors(out / "checkpoint.safetensors")  # a new run has its checkpoint
    assert state["config"]["seed"] == new_seed
    assert "stability.json" not in files and "spectrum.png" not in files
    if "metrics.json" in files:
        assert files["metrics.json"] != old["metrics.json"]
    assert files["model.safetensors"] != old["model.safetensors"]
    return "new"


def test_kill_9_at_random_points_of_a_force_run_never_mixes_old_and_new(tmp_path):
    out = tmp_path / "run"
    common = ["--epochs", "3", "--steps", "4", "--width", "8", "--out", str(out)]
    started = time.monotonic()
    first = _start(tmp_path, *common, "--seed", "1")
    assert first.wait(timeout=300) == 0, first.stderr.read()
    wall = time.monotonic() - started  # kill points are fractions of it: any machine's speed
    assert main(["stability", str(out), "--samples", "8"]) == 0
    old = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    seen = []
    rng = random.Random(21)
    fractions = [0.05 + 0.15 * i + 0.1 * rng.random() for i in range(6)]  # 0.05 … 0.95
    for delay in [wall * f for f in rng.sample(fractions, len(fractions))]:
        process = _start(tmp_path, *common, "--seed", "2", "--force")
        time.sleep(delay)
        process.kill()
        process.wait()
        seen.append(_consistent(out, old, 1, 2))
        if seen[-1] == "new":  # put the old run back for the next kill
            for path in out.iterdir():
                path.unlink()
            for name, data in old.items():
                (out / name).write_bytes(data)
    assert main(["evaluate", str(out)]) == 0
    assert not leftover(out, "resode-old").exists()
    assert "old" in seen, seen
    print("after each kill -9:", seen)
