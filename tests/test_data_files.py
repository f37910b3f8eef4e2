"""A user's own data: CSV, NPZ and image folders trained on, evaluated and predicted from;
fixed splits; standardization fitted on train and reused; bad data refused in one line."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from resode.cli import main
from resode.data import load_dataset
from resode.runs import load_run

TINY = ["--steps", "2", "--epochs", "2", "--quiet"]


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _table(count, seed=0, text=True):
    """Rows (a, b, c, label): features on very different scales, label from a's sign."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, 50.0]
    labels = np.where(x[:, 0] > 0, "yes", "no") if text else (x[:, 0] > 0).astype(int) + 3
    return [[*row, label] for row, label in zip(x, labels)]


def _train(tmp_path, capsys, *flags, name="run"):
    run = tmp_path / name
    code = main(["train", *flags, *TINY, "--out", str(run)])
    out = capsys.readouterr().out
    assert code == 0
    return run, out


def _evaluated(run, capsys):
    assert main(["evaluate", str(run), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _write_images(folder, count, size=(6, 5), mode="L", seed=0):
    """``count`` images of each class: 'dark' (low values) and 'light' (high values)."""
    rng = np.random.default_rng(seed)
    for name, low in (("dark", 0), ("light", 150)):
        (folder / name).mkdir(parents=True)
        for i in range(count):
            shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
            pixels = rng.integers(low, low + 100, shape).astype(np.uint8)
            Image.fromarray(pixels, mode).save(folder / name / f"{i}.png")


def test_csv_text_labels_round_trip_with_class_names_and_standardization(tmp_path, capsys):
    _write_csv(tmp_path / "data.csv", ["a", "b", "c", "label"], _table(80))
    source = f"csv:{tmp_path / 'data.csv'}"
    run, out = _train(tmp_path, capsys, "--data", source, "--target", "label", "--width", "4")
    assert "classification (no, yes) since target 'label' is text" in out
    stored = json.loads((run / "config.json").read_text())["model"]["preprocessing"]
    assert stored["class_names"] == ["no", "yes"] and stored["features"] == ["a", "b", "c"]
    model, dataset = load_run(run)
    assert dataset.class_names == ("no", "yes") and len(dataset.x_train) == 56
    # fitted on the training split: standardized train features have mean 0, std 1
    assert torch.allclose(dataset.x_train.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(dataset.x_train.std(0, unbiased=False), torch.ones(3), atol=1e-5)
    assert not torch.allclose(dataset.x_test.mean(0), torch.zeros(3), atol=1e-5)
    assert _evaluated(run, capsys)["test_accuracy"] >= 0
    # predict reads the raw CSV (target column and all), picks the features, standardizes them
    out = tmp_path / "p.csv"
    assert main(["predict", str(run), str(tmp_path / "data.csv"), "--out", str(out)]) == 0
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 80 and {"class", "p_no", "p_yes"} <= set(rows[0])
    raw = torch.tensor([[float(v) for v in row[:3]] for row in _table(80)], dtype=torch.float32)
    mean, std = (torch.tensor(stored["standardization"][k]) for k in ("mean", "std"))
    with torch.no_grad():
        want = model((raw - mean) / std).softmax(1)[:, 1].numpy()
    assert np.allclose([float(r["p_yes"]) for r in rows], want, atol=1e-5)


def test_csv_regression_inferred_from_floats_and_forced_classification(tmp_path, capsys):
    rows = [[a, b, 2 * a - b + 100] for a, b in np.random.default_rng(1).normal(size=(40, 2))]
    _write_csv(tmp_path / "r.csv", ["a", "b", "y"], rows)
    flags = ("--data", f"csv:{tmp_path / 'r.csv'}", "--target", "y", "--width", "4")
    run, out = _train(tmp_path, capsys, *flags)
    assert "regression since target 'y' holds floating-point numbers" in out
    _, dataset = load_run(run)
    mean, std = dataset.target_scale
    assert 99 < mean < 101 and abs(float(dataset.y_train.mean())) < 1e-5
    assert "test_r2" in _evaluated(run, capsys)
    _write_csv(tmp_path / "i.csv", ["a", "b", "c", "k"], _table(40, text=False))
    flags = ("--data", f"csv:{tmp_path / 'i.csv'}", "--target", "k", "--task", "regression")
    _, out = _train(tmp_path, capsys, *flags, "--width", "4", name="forced")
    assert "regression as asked by --task" in out


def test_csv_fixed_splits_are_used_as_given(tmp_path, capsys):
    for split, count in (("train", 30), ("val", 7), ("test", 9)):
        _write_csv(tmp_path / f"d_{split}.csv", ["a", "b", "c", "k"], _table(count, text=False))
    flags = ("--data", f"csv:{tmp_path / 'd.csv'}", "--target", "k", "--width", "4")
    run, out = _train(tmp_path, capsys, *flags)
    assert "fixed splits train, val, test" in out and "classification (3, 4)" in out
    _, dataset = load_run(run)
    assert [len(dataset.split(s)[0]) for s in ("train", "val", "test")] == [30, 7, 9]
    raw = np.array([row[:3] for row in _table(9, text=False)])
    mean, std = raw.mean(0), raw.std(0)  # test statistics differ from train's
    assert not np.allclose(dataset.x_test.numpy(), (raw - mean) / std, atol=1e-3)


def test_npz_vectors_signals_images_and_segmentation_round_trip(tmp_path, capsys):
    rng = np.random.default_rng(0)
    cases = {
        "vectors": (rng.normal(size=(40, 3)), rng.integers(0, 2, 40), "classification"),
        "signals": (rng.normal(size=(40, 2, 8)), rng.normal(size=40), "regression"),
        "images": (rng.normal(size=(40, 1, 6, 6)), rng.integers(0, 3, 40), "classification"),
        "masks": (rng.normal(size=(40, 1, 6, 6)), rng.integers(0, 2, (40, 6, 6)), "segmentation"),
    }
    kinds = {"vectors": "vector", "signals": "signal", "images": "image", "masks": "image"}
    for name, (x, y, task) in cases.items():
        np.savez(tmp_path / f"{name}.npz", x=x, y=y)
        shape = ["--width", "4"] if name == "vectors" else ["--widths", "4"]
        run, out = _train(
            tmp_path, capsys, "--data", f"npz:{tmp_path / name}.npz", *shape, name=name
        )
        assert f"{kinds[name]} data, {task}" in out
        model, dataset = load_run(run)
        assert dataset.task == task and dataset.input_shape == x.shape[1:]
        assert _evaluated(run, capsys)["steps"] in (2, [2])
        np.savez(tmp_path / "new.npz", x=x[:3])
        suffix = "npz" if task == "segmentation" else "csv"
        out = tmp_path / f"p.{suffix}"
        assert main(["predict", str(run), str(tmp_path / "new.npz"), "--out", str(out)]) == 0


def test_image_folder_round_trip_and_fixed_split_folders(tmp_path, capsys):
    _write_images(tmp_path / "pics", 12, mode="RGB")
    run, out = _train(tmp_path, capsys, "--data", f"folder:{tmp_path / 'pics'}", "--widths", "4")
    assert "image data, classification (dark, light) since the folder names" in out
    _, dataset = load_run(run)
    assert dataset.input_shape == (3, 5, 6) and dataset.class_names == ("dark", "light")
    assert sum(len(dataset.split(s)[0]) for s in ("train", "val", "test")) == 24
    assert "test_accuracy" in _evaluated(run, capsys)
    for split, count in (("train", 8), ("test", 3)):
        _write_images(tmp_path / "split" / split, count, seed=len(split))
    flags = ("--data", f"folder:{tmp_path / 'split'}", "--widths", "4")
    run, out = _train(tmp_path, capsys, *flags, name="fixed")
    assert "fixed splits train, test (val from train)" in out
    _, dataset = load_run(run)
    assert dataset.input_shape == (1, 5, 6)
    assert [len(dataset.split(s)[0]) for s in ("train", "val", "test")] == [14, 2, 6]


def test_evaluate_reuses_the_stored_standardization_not_a_refit(tmp_path, capsys):
    path = tmp_path / "data.csv"
    _write_csv(path, ["a", "b", "c", "label"], _table(40))
    flags = ("--data", f"csv:{path}", "--target", "label", "--width", "4")
    run, _ = _train(tmp_path, capsys, *flags)
    metrics = _evaluated(run, capsys)
    before = load_run(run)[1].x_test.clone()
    document = json.loads((run / "config.json").read_text())
    stored = document["model"]["preprocessing"]["standardization"]
    old = torch.tensor(stored["mean"])
    stored["mean"] = [1.0, 2.0, 3.0]
    (run / "config.json").write_text(json.dumps(document))
    after = load_run(run)[1].x_test
    shift = (torch.tensor([1.0, 2.0, 3.0]) - old) / torch.tensor(stored["std"])
    assert torch.allclose(before - after, shift.float().expand_as(after), atol=1e-4)
    assert _evaluated(run, capsys)["test_loss"] != metrics["test_loss"]


def _bad_csv(tmp_path):
    _write_csv(tmp_path / "ok.csv", ["a", "b", "label"], [[1, 2, "x"], [3, 4, "y"]] * 5)
    _write_csv(tmp_path / "text.csv", ["a", "name", "label"], [[1, "bob", 0], [2, "al", 1]] * 5)
    _write_csv(tmp_path / "nan.csv", ["a", "b", "k"], [[1, "", 0], [2, "inf", 1], [3, 4, 1]] * 3)
    _write_csv(tmp_path / "one.csv", ["a", "b", "k"], [[1, 2, "same"]] * 10)
    _write_csv(tmp_path / "few.csv", ["a", "b", "k"], [[1, 2, "x"], [3, 4, "y"]])
    _write_csv(tmp_path / "e_train.csv", ["a", "k"], [[1, "x"], [2, "y"]] * 4)
    _write_csv(tmp_path / "e_test.csv", ["a", "k"], [])


def _bad_npz_and_folders(tmp_path):
    np.savez(tmp_path / "nany.npz", x=np.ones((10, 2)), y=np.r_[np.nan, np.ones(9)])
    np.savez(tmp_path / "nox.npz", features=np.ones((10, 2)))
    _write_images(tmp_path / "mixed", 3)
    Image.new("L", (9, 9)).save(tmp_path / "mixed" / "light" / "big.png")
    _write_images(tmp_path / "hollow", 3)
    (tmp_path / "hollow" / "empty").mkdir()
    (tmp_path / "hollow" / "empty" / "notes.txt").write_text("no images here")


BAD = {
    "missing file": (["--data", "csv:{d}/absent.csv", "--target", "k"], "does not exist"),
    "unknown column": (["--data", "csv:{d}/ok.csv", "--target", "z"], "has no column 'z'"),
    "no target": (["--data", "csv:{d}/ok.csv"], "needs --target COLUMN; columns: a, b, label"),
    "unknown id column": (
        ["--data", "csv:{d}/text.csv", "--target", "label", "--id-column", "Name"],
        "--id-column 'Name' is not a column of the table; did you mean 'name'?",
    ),
    "target dropped": (
        ["--data", "csv:{d}/ok.csv", "--target", "label", "--drop-columns", "label"],
        "--drop-columns 'label' is the target; name a feature column",
    ),
    "nothing to learn from": (
        ["--data", "csv:{d}/text.csv", "--target", "label", "--drop-columns", "a,name"],
        "no column is left to learn from",
    ),
    "nan in npz y": (["--data", "npz:{d}/nany.npz"], "array y holds 1 missing or non-finite"),
    "npz without x": (
        ["--data", "npz:{d}/nox.npz"],
        "nox.npz needs arrays 'x' and 'y'; it holds features",
    ),
    "one class": (["--data", "csv:{d}/one.csv", "--target", "k"], "has only one class ('same')"),
    "mixed sizes": (["--data", "folder:{d}/mixed"], "mixed image sizes"),
    "empty class": (["--data", "folder:{d}/hollow"], "holds no PNG or JPEG images"),
    "tiny split": (["--data", "csv:{d}/few.csv", "--target", "k"], "would leave a split empty"),
    "empty split file": (["--data", "csv:{d}/e.csv", "--target", "k"], "split would be empty"),
    "text regression": (
        ["--data", "csv:{d}/ok.csv", "--target", "label", "--task", "regression"],
        "cannot be a regression target",
    ),
    "target elsewhere": (["--data", "peaks", "--target", "y"], "--target applies to a table"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_data_gives_one_line_exit_2_and_no_run_directory(case, tmp_path, capsys):
    _bad_csv(tmp_path)
    _bad_npz_and_folders(tmp_path)
    flags, message = BAD[case]
    flags = [flag.format(d=tmp_path) for flag in flags]
    run = tmp_path / "run"
    assert main(["train", *flags, *TINY, "--out", str(run)]) == 2
    out, err = capsys.readouterr()
    assert message in err and err.count("\n") == 1 and out == "", err
    assert not run.exists()


def test_load_dataset_of_a_file_is_seeded_and_stratified(tmp_path):
    _write_csv(tmp_path / "d.csv", ["a", "b", "c", "label"], _table(100))
    source = f"csv:{tmp_path / 'd.csv'}"
    first, again = (load_dataset(source, seed=3, target="label") for _ in range(2))
    other = load_dataset(source, seed=4, target="label")
    assert torch.equal(first.x_train, again.x_train) and not torch.equal(
        first.x_train, other.x_train
    )
    shares = [float(first.split(s)[1].float().mean()) for s in ("train", "val", "test")]
    assert max(shares) - min(shares) < 0.1
