"""Normalized runs through every run-directory command: a batch-normalized network evaluates
with its running statistics, so it is a per-example map that the analyses, prediction and
depth change accept; runs saved before normalization kept running statistics keep their
batch-dependent map with a note, and what needs a per-example map or training refuses them.
"""

import csv
import hashlib
import json
import math
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import interrupted_and_resumed
from resode.cli import main
from resode.runs import load_run
from resode.storage import read_tensors, write_tensors

DIGITS = ["--data", "digits", "--widths", "4,6", "--lr", "0.02", "--quiet"]
RUNS = {  # rk4 with h = 0.25: a small step, so the depth change below stays accurate
    "batch": [*DIGITS, "--norm", "batch", "--steps", "4", "--T", "1", "--epochs", "3"],
    "group": [*DIGITS, "--norm", "group", "--steps", "2", "--epochs", "1"],
    "bars": ["--data", "bars", "--image-size", "16", "--widths", "2", "--steps", "2",
             "--norm", "batch", "--epochs", "1", "--quiet"],
}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for name, args in RUNS.items():
        assert main(["train", *args, "--out", str(root / name)]) == 0
    return root


def _digests(run) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.iterdir())}


def _rows(path) -> list[dict]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name", RUNS)
def test_stability_writes_spectra_lyapunov_exponents_and_log_norm_bounds(runs, name, tmp_path):
    assert main(["stability", str(runs / name), "--samples", "2", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "stability.json").read_text())
    assert (tmp_path / "spectrum.png").exists()
    for unit in report["units"]:
        exponents = unit["lyapunov"]["max"]
        assert len(exponents) == unit["lyapunov"]["k"] and all(map(math.isfinite, exponents))
        bound = unit["log_norm"]
        assert len(bound["per_step_max"]) == unit["steps"]
        assert math.isfinite(bound["growth_bound_max"]) and bound["growth_bound_max"] > 0
        assert unit["examples"] >= 1 and unit["verdict"]


@pytest.mark.parametrize("name", ["batch", "group"])
def test_one_image_predicts_as_it_does_among_others(runs, name, tmp_path, capsys):
    """An image alone gets the class and probabilities it gets inside a folder of images, at
    the trained depth and at twice it."""
    _, dataset = load_run(runs / name)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(6):
        pixels = np.round(dataset.x_test[i, 0].numpy() * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    for depth in ([], ["--steps", "8"]):
        many, one = tmp_path / "many.csv", tmp_path / "one.csv"
        assert main(["predict", str(runs / name), str(folder), "--out", str(many), *depth]) == 0
        alone = str(folder / "3.png")
        assert main(["predict", str(runs / name), alone, "--out", str(one), *depth]) == 0
        (inside,) = [row for row in _rows(many) if row["file"] == "3.png"]
        (single,) = _rows(one)
        assert single["class"] == inside["class"]
        probabilities = [key for key in single if key.startswith("p_")]
        assert len(probabilities) == 10
        for key in probabilities:
            assert abs(float(single[key]) - float(inside[key])) <= 1e-6
    assert capsys.readouterr().err == ""


def test_a_depth_change_reads_the_running_statistics_at_the_new_stage_times(runs, capsys):
    """N' = 2N samples μ(t), σ²(t) at the new stage times; the accuracy stays far above chance
    (0.1) and close to the trained depth's."""
    capsys.readouterr()
    assert main(["evaluate", str(runs / "batch"), "--steps", "4,8", "--json"]) == 0
    trained, deeper = json.loads(capsys.readouterr().out)
    assert trained["steps"] == [4, 4] and deeper["steps"] == [8, 8]
    assert trained["test_accuracy"] > 0.4 and deeper["test_accuracy"] > 0.4
    assert abs(deeper["test_accuracy"] - trained["test_accuracy"]) <= 0.05


def test_gradients_landscape_and_report_leave_the_weights_as_saved(runs, tmp_path):
    run = tmp_path / "batch"
    shutil.copytree(runs / "batch", run)
    before = _digests(run)
    assert main(["gradients", str(run), "--samples", "16"]) == 0  # in training mode
    assert main(["stability", str(run), "--samples", "1"]) == 0
    assert main(["landscape", str(run), "--between", str(runs / "batch"), "--grid", "3"]) == 0
    assert main(["report", str(run)]) == 0
    after = _digests(run)
    assert {name: after[name] for name in before} == before
    gradients = json.loads((run / "gradients.json").read_text())
    for unit in gradients["trained"]:
        assert math.isfinite(unit["state_ratio_first_last"])
    landscape = json.loads((run / "landscape.json").read_text())
    at_run = landscape["values"][landscape["alpha"].index(0.0)]  # with the running statistics
    assert at_run == pytest.approx(json.loads((run / "metrics.json").read_text())["test_loss"])
    page = (run / "report.html").read_text()
    assert '<section id="stability">' in page and "verdict" in page
    assert "not computed: run <code>resode stability" not in page
    assert "not computed: run <code>resode gradients" not in page


def _older_run(run, where):
    """``run`` as an older resode saved it: no scale, no running statistics."""
    old = shutil.copytree(run, where / "old")
    for name in ("model.safetensors", "checkpoint.safetensors"):
        tensors, state = read_tensors(old / name)
        kept = {k: v for k, v in tensors.items() if "norm_scale" not in k and "statistics" not in k}
        assert len(kept) < len(tensors)
        write_tensors(old / name, kept, state)
    return old


def test_an_older_run_evaluates_with_a_note_and_refuses_analysis_and_training(
    runs, tmp_path, capsys
):
    old = _older_run(runs / "batch", tmp_path)
    before = _digests(old)
    capsys.readouterr()
    assert main(["evaluate", str(old)]) == 0
    note = capsys.readouterr().err
    assert note.count("\n") == 1 and note.startswith("resode: note:")
    assert "keeps no running statistics" in note and "depend on which examples" in note
    assert main(["stability", str(old), "--samples", "2"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "keeps no running statistics" in error
    assert main(["train", "--resume", str(old), "--epochs", "4", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "kept no scale or running statistics" in error
    assert _digests(old) == before


def test_an_interrupted_batch_normalized_run_resumes_bit_identically(tmp_path, monkeypatch):
    """The running statistics travel in the checkpoint: stop after epoch 1, resume, and every
    tensor of model.safetensors (statistics included) equals the uninterrupted run's."""
    import torch
    from safetensors.torch import load_file

    args = [*DIGITS, "--norm", "batch", "--steps", "2", "--epochs", "2"]
    assert main(["train", *args, "--out", str(tmp_path / "a")]) == 0
    interrupted_and_resumed(args, tmp_path / "b", monkeypatch)
    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model.safetensors")
    assert any("statistics.mean" in k for k in a) and set(a) == set(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
