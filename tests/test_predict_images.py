"""``resode predict`` on images of another size or colour than the run's: converted (colour to
gray by luminance, then resized bilinearly) with one note; a run on signals refuses images."""

import csv

import numpy as np
from PIL import Image

from resode.cli import main
from resode.runs.predict import converted_image

FLAGS = ["--widths", "3", "--steps", "1", "--epochs", "1", "--quiet"]


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _gray_run(tmp_path, side=8):
    rng = np.random.default_rng(0)
    for name, low in (("dark", 0), ("light", 150)):
        (tmp_path / "pictures" / name).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(low, low + 100, (side, side)).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "pictures" / name / f"{i}.png")
    run = tmp_path / "run"
    data = f"folder:{tmp_path / 'pictures'}"
    assert main(["train", "--data", data, *FLAGS, "--out", str(run)]) == 0
    return run


def test_a_colour_image_of_another_size_predicts_as_converted_by_hand(tmp_path, capsys):
    run = _gray_run(tmp_path)
    rng = np.random.default_rng(1)
    colour = Image.fromarray(rng.integers(0, 256, (10, 10, 3)).astype(np.uint8))
    (tmp_path / "new").mkdir()
    colour.save(tmp_path / "new" / "colour.png")
    by_hand = colour.convert("L").resize((8, 8), Image.Resampling.BILINEAR)
    by_hand.save(tmp_path / "by-hand.png")
    Image.fromarray(np.asarray(by_hand)).save(tmp_path / "new" / "fits.png")
    capsys.readouterr()
    out, want = tmp_path / "p.csv", tmp_path / "w.csv"
    assert main(["predict", str(run), str(tmp_path / "new"), "--out", str(out)]) == 0
    note = capsys.readouterr().err
    assert note == "resode: resized 1 of 2 images to 8×8; converted 1 colour image to gray\n"
    assert main(["predict", str(run), str(tmp_path / "by-hand.png"), "--out", str(want)]) == 0
    assert capsys.readouterr().err == ""  # nothing converted, nothing said
    got, expected = _rows(out), _rows(want)[0]
    assert got[0]["file"] == "colour.png"
    for row in got:  # the converted image and the one converted by hand: the same answer
        assert {k: row[k] for k in ("class", "p_dark", "p_light")} == {
            k: expected[k] for k in ("class", "p_dark", "p_light")
        }


def test_conversion_follows_luminance_and_keeps_fitting_images():
    rgb = np.zeros((3, 2, 2))
    rgb[0], rgb[1], rgb[2] = 1.0, 0.5, 0.0  # L = 0.299 + 0.587 · 0.5 = 0.5925
    gray = converted_image(rgb, (1, 2, 2))
    assert gray.shape == (1, 2, 2) and np.allclose(gray, round(0.5925 * 255) / 255)
    assert converted_image(gray, (3, 2, 2)).shape == (3, 2, 2)
    flat = np.full((1, 4, 6), 0.4)
    assert np.allclose(converted_image(flat, (1, 2, 3)), 0.4)  # a flat image stays flat
    assert converted_image(flat, (1, 4, 6)) is flat


def test_a_signal_run_refuses_images_in_one_line(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", x=rng.normal(size=(20, 1, 16)), y=np.arange(20) % 2)
    run = tmp_path / "run"
    assert main(["train", "--data", f"npz:{tmp_path / 's.npz'}", *FLAGS, "--out", str(run)]) == 0
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "x.png")
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "x.png")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "image inputs apply to runs on images; this run expects signal inputs" in error
