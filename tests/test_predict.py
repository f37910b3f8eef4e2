"""``resode predict``: a run applied to its test split, an NPZ file and a CSV file."""

import csv

import numpy as np
import pytest
import torch

from resode.cli import main
from resode.runs import load_run

TINY = ["--data", "circles", "--steps", "3", "--width", "5", "--epochs", "2", "--quiet"]


def test_predict_test_split_npz_and_csv_agree_with_the_model(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(run)]) == 0
    model, dataset = load_run(run)
    x = dataset.x_test[:5]
    with torch.no_grad():
        want = model(x).softmax(dim=1).numpy()
    np.savez(tmp_path / "x.npz", x=x.numpy())
    np.savetxt(tmp_path / "x.csv", x.numpy(), delimiter=",", header="a,b", comments="")
    for source in ("x.npz", "x.csv"):
        out = tmp_path / f"{source}.out.csv"
        assert main(["predict", str(run), str(tmp_path / source), "--out", str(out)]) == 0
        with open(out) as f:
            rows = list(csv.DictReader(f))
        got = np.array([[float(r["p_inner"]), float(r["p_outer"])] for r in rows])
        assert np.allclose(got, want, atol=1e-6)
        assert rows[0]["class"] in ("inner", "outer")
    assert main(["predict", str(run), "test", "--steps", "6"]) == 0
    assert (run / "predictions.csv").exists()
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 5)))
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "bad.npz")]) == 2
    err = capsys.readouterr().err
    assert "expects inputs of shape (batch, 2), got (3, 5)" in err and err.count("\n") == 1


def _pictures(folder, mode, size=(6, 5), count=6, seed=0):
    """``count`` PNG images per class, 'dark' and 'light', of ``size`` (width, height)."""
    from test_data_files import _write_images

    _write_images(folder, count, size=size, mode=mode, seed=seed)


def _read_pixels(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image, dtype=np.float64) / 255.0


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_predict_reads_images_standardized_as_training_with_a_file_column(tmp_path, capsys):
    pictures = tmp_path / "pictures"
    _pictures(pictures, "L")
    run = tmp_path / "run"
    flags = ["--widths", "3", "--steps", "1", "--epochs", "1", "--quiet", "--out", str(run)]
    assert main(["train", "--data", f"folder:{pictures}", *flags]) == 0
    model, dataset = load_run(run)
    out = tmp_path / "folder.csv"
    assert main(["predict", str(run), f"folder:{pictures}", "--out", str(out)]) == 0
    rows = _rows(out)
    names = [f"{c}/{i}.png" for c in ("dark", "light") for i in range(6)]
    assert [row["file"] for row in rows] == names and list(rows[0])[:2] == ["file", "class"]
    mean, std = dataset.preprocessing["standardization"].values()
    x = np.stack([_read_pixels(pictures / name)[None] for name in names])
    with torch.no_grad():
        want = model(torch.tensor((x - mean[0]) / std[0], dtype=torch.float32)).softmax(1)
    got = np.array([[float(r["p_dark"]), float(r["p_light"])] for r in rows])
    assert np.allclose(got, want.numpy(), atol=1e-6)
    # a folder without the folder: prefix, one file, and an NPZ of the same pixels agree
    np.savez(tmp_path / "x.npz", x=x)
    for source, first in ((pictures / "light", "0.png"), (pictures / "dark" / "3.png", "3.png")):
        assert main(["predict", str(run), str(source), "--out", str(tmp_path / "p.csv")]) == 0
        assert _rows(tmp_path / "p.csv")[0]["file"] == first
    assert float(_rows(tmp_path / "p.csv")[0]["p_dark"]) == pytest.approx(
        float(rows[3]["p_dark"]), abs=1e-6
    )  # one image alone: the same up to the batch's rounding
    assert (
        main(["predict", str(run), str(tmp_path / "x.npz"), "--out", str(tmp_path / "n.csv")]) == 0
    )
    assert [r["p_dark"] for r in _rows(tmp_path / "n.csv")] == [r["p_dark"] for r in rows]

    (tmp_path / "empty").mkdir()
    capsys.readouterr()
    for source, message in (
        ("empty", "input folder " + str(tmp_path / "empty") + " holds no PNG or JPEG images"),
        ("folder:" + str(tmp_path / "none"), "input folder " + str(tmp_path / "none") + " does"),
    ):
        path = source if source.startswith("folder:") else str(tmp_path / source)
        assert main(["predict", str(run), path]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1
    assert main(["evaluate", str(run), "--data-dir", str(tmp_path)]) == 2
    assert "--data-dir applies to runs on mnist" in capsys.readouterr().err


def test_a_colour_run_takes_gray_images_and_a_vector_run_none(tmp_path, capsys):
    from PIL import Image

    pictures = tmp_path / "pictures"
    _pictures(pictures, "RGB", count=4)
    run = tmp_path / "run"
    flags = ["--widths", "3", "--steps", "1", "--epochs", "1", "--quiet", "--out", str(run)]
    assert main(["train", "--data", f"folder:{pictures}", *flags]) == 0
    gray = np.full((5, 6), 120, np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(tmp_path / "rgb.png")
    for name in ("gray", "rgb"):
        out = tmp_path / f"{name}.csv"
        assert main(["predict", str(run), str(tmp_path / f"{name}.png"), "--out", str(out)]) == 0
    assert _rows(tmp_path / "gray.csv")[0]["p_dark"] == _rows(tmp_path / "rgb.csv")[0]["p_dark"]
    vector = tmp_path / "vector"
    assert main(["train", *TINY, "--out", str(vector)]) == 0
    capsys.readouterr()
    assert main(["predict", str(vector), str(tmp_path / "gray.png")]) == 2
    error = capsys.readouterr().err
    assert "image inputs apply to runs on images; this run expects vector inputs of shape " in error
