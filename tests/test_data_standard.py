"""The standard image sets (mnist, fashion-mnist, cifar10, cifar100) read from tiny files in
their real formats, never from the network: splits, labels, classes, standardization from the
training split, size and file errors, resuming and evaluating with the data moved.

Tests marked ``vision`` read the files through torchvision (``make test-vision``); the others
need no torchvision."""

import csv
import dataclasses
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from resode import ResodeError
from resode.cli import main
from resode.data import DATASETS, STANDARD_SETS, class_names, load_dataset
from resode.data.standard import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    FASHION_CLASSES,
    default_data_dir,
)
from resode.training.config import TrainConfig
from resode.training.state import extended_config, same_run
from standard_files import (
    accept_checksums,
    write_cifar10,
    write_cifar100,
    write_mnist,
)

vision = pytest.mark.vision


# --- without torchvision ---------------------------------------------------------------------


def test_the_standard_sets_are_registered_with_their_classes_and_sizes():
    assert list(STANDARD_SETS) == ["mnist", "fashion-mnist", "cifar10", "cifar100"]
    assert class_names("mnist") == tuple("0123456789")
    assert class_names("fashion-mnist") == FASHION_CLASSES and FASHION_CLASSES[9] == "Ankle boot"
    assert class_names("cifar10")[:3] == ("airplane", "automobile", "bird")
    assert len(set(CIFAR100_CLASSES)) == 100 and list(CIFAR100_CLASSES) == sorted(CIFAR100_CLASSES)
    assert (CIFAR100_CLASSES[0], CIFAR100_CLASSES[99]) == ("apple", "worm")
    for name in STANDARD_SETS:
        spec = DATASETS[name]
        assert (spec.task, spec.kind) == ("classification", "image")
        assert set(spec.options) == {"data_dir", "download"}
    assert DATASETS["mnist"].sizes == (55000, 5000, 10000)
    assert DATASETS["cifar100"].sizes == (45000, 5000, 10000)


def test_the_data_folder_defaults_to_the_environment_then_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("RESODE_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    with pytest.raises(ResodeError, match=str(tmp_path / "MNIST" / "raw")):
        load_dataset("mnist")
    monkeypatch.delenv("RESODE_DATA_DIR")
    assert default_data_dir() == Path.home() / ".cache" / "resode" / "data"


def test_missing_files_are_named_with_their_folder(tmp_path):
    with pytest.raises(ResodeError) as caught:
        load_dataset("mnist", data_dir=str(tmp_path))
    message = str(caught.value)
    for name in STANDARD_SETS["mnist"].files:
        assert name in message
    assert str(tmp_path / "MNIST" / "raw") in message and "--download" in message
    assert "\n" not in message
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ResodeError, match=r"needs the files t10k-labels-idx1-ubyte in") as caught:
        load_dataset("mnist", data_dir=str(tmp_path), sizes=(10, 10, 10))
    assert "train-images" not in str(caught.value)
    with pytest.raises(ResodeError, match=r"cifar100 needs the files train, test, meta in .*"):
        load_dataset("cifar100", data_dir=str(tmp_path))
    with pytest.raises(ResodeError, match="cifar-10-batches-py"):
        load_dataset("cifar10", data_dir=str(tmp_path))


def test_train_without_the_files_is_one_line_and_exit_2(tmp_path, capsys):
    out = tmp_path / "run"
    flags = ["--data-dir", str(tmp_path / "data"), "--out", str(out), "--quiet"]
    assert main(["train", "--data", "fashion-mnist", *flags]) == 2
    error = capsys.readouterr().err
    assert error.startswith("resode: error: fashion-mnist needs the files train-images-idx3-ubyte")
    assert str(tmp_path / "data" / "FashionMNIST" / "raw") in error and error.count("\n") == 1
    assert not out.exists()


def test_without_torchvision_the_error_names_the_extra(tmp_path, monkeypatch):
    write_mnist(tmp_path)
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision fails
    with pytest.raises(ResodeError, match=r"needs torchvision, .*pip install 'resode\[vision\]'"):
        load_dataset("mnist", data_dir=str(tmp_path), sizes=(10, 10, 10))
    with pytest.raises(ResodeError, match=r"pip install 'resode\[vision\]'"):  # to download
        load_dataset("cifar10", data_dir=str(tmp_path), download=True)


def test_a_torchvision_built_for_another_torch_is_named(tmp_path, monkeypatch):
    class Broken(types.ModuleType):
        def __getattr__(self, name):
            raise RuntimeError("operator torchvision::nms does not exist")

    write_mnist(tmp_path)
    monkeypatch.setitem(sys.modules, "torchvision", Broken("torchvision"))
    with pytest.raises(ResodeError) as caught:
        load_dataset("mnist", data_dir=str(tmp_path), sizes=(10, 10, 10))
    message = str(caught.value)
    assert "fails to import here (operator torchvision::nms does not exist)" in message
    assert "pip install 'resode[vision]'" in message and "\n" not in message


def test_data_dir_and_download_apply_to_the_standard_sets_only(tmp_path, capsys):
    config = TrainConfig(data="mnist", data_dir="/data", download=True)
    assert config.dataset_options() == {"data_dir": "/data", "download": True}
    assert TrainConfig(data="cifar10").dataset_options() == {"data_dir": None, "download": False}
    assert TrainConfig(data="shapes", image_size=16).dataset_options() == {"size": 16}
    with pytest.raises(ResodeError, match="--data-dir applies to the files of mnist, .*'peaks'"):
        TrainConfig(data="peaks", data_dir="/data")
    with pytest.raises(ResodeError, match="--download applies to the files of .*'digits'"):
        TrainConfig(data="digits", download=True)
    with pytest.raises(ResodeError, match="download must be true or false, got 'yes'"):
        TrainConfig(data="mnist", download="yes")
    assert main(["train", "--data", "circles", "--download", "--out", str(tmp_path / "r")]) == 2
    assert "--download applies to the files of" in capsys.readouterr().err


def test_a_run_may_be_resumed_with_its_data_elsewhere():
    stored = TrainConfig(data="mnist", data_dir="/old", epochs=3)
    moved = extended_config(stored, {"data_dir": "/new", "download": True, "epochs": 4})
    assert (moved.data_dir, moved.download, moved.epochs) == ("/new", True, 4)
    assert same_run(stored, moved) and same_run(stored, dataclasses.replace(stored, compile=True))
    assert not same_run(moved, stored)  # fewer epochs
    assert not same_run(stored, dataclasses.replace(stored, seed=1))
    with pytest.raises(ResodeError, match="cannot change seed when resuming"):
        extended_config(stored, {"seed": 1, "data_dir": "/new"})


# --- through torchvision ---------------------------------------------------------------------


def _pixels(data, split: str) -> np.ndarray:
    """The split's images back as uint8 pixel values: (x σ + μ) · 255, rounded."""
    scaling = data.preprocessing["standardization"]
    shape = (1, -1, 1, 1)
    mean, std = np.reshape(scaling["mean"], shape), np.reshape(scaling["std"], shape)
    values = (data.split(split)[0].double().numpy() * std + mean) * 255
    assert np.allclose(values, np.round(values), atol=1e-3)
    return np.round(values).astype(np.uint8)


def _positions(images: np.ndarray, found: np.ndarray) -> list[int]:
    """Index in ``images`` of each image of ``found`` (each must be there)."""
    where = {image.tobytes(): i for i, image in enumerate(images)}
    return [where[image.tobytes()] for image in found]


@vision
def test_mnist_splits_come_from_the_official_files_as_documented(tmp_path):
    train_x, train_y, test_x, test_y = write_mnist(tmp_path)
    data = load_dataset("mnist", seed=3, sizes=(24, 10, 20), data_dir=str(tmp_path))
    assert (data.task, data.kind, data.num_classes) == ("classification", "image", 10)
    assert data.class_names == tuple("0123456789") and data.input_shape == (1, 28, 28)
    for split, count in (("train", 24), ("val", 10), ("test", 20)):
        x, y = data.split(split)
        assert x.shape == (count, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    train = _positions(train_x[:, None], _pixels(data, "train"))
    val = _positions(train_x[:, None], _pixels(data, "val"))
    assert not set(train) & set(val) and len(set(train)) == 24  # held-out parts of train
    assert data.y_train.tolist() == train_y[train].tolist()
    assert data.y_val.tolist() == train_y[val].tolist()
    assert _positions(test_x[:, None], _pixels(data, "test")) == list(range(20))  # file order
    assert data.y_test.tolist() == test_y.tolist()
    # standardized with μ, σ of the train split only
    chosen = train_x[train] / 255.0
    scaling = data.preprocessing["standardization"]
    assert scaling["mean"] == pytest.approx([chosen.mean()], rel=1e-12)
    assert scaling["std"] == pytest.approx([chosen.std()], rel=1e-12)
    assert float(data.x_train.mean()) == pytest.approx(0, abs=1e-5)
    assert float(data.x_train.std(unbiased=False)) == pytest.approx(1, abs=1e-5)
    assert data.preprocessing["class_names"] == list("0123456789")


@vision
def test_subsets_are_seeded_and_stratified(tmp_path):
    write_mnist(tmp_path)
    load = lambda seed: load_dataset("mnist", seed=seed, sizes=(20, 10, 10), data_dir=str(tmp_path))  # noqa: E731
    a, b, c = load(0), load(0), load(1)
    for split in ("train", "val", "test"):
        assert torch.equal(a.split(split)[0], b.split(split)[0])
    assert not torch.equal(a.x_val, c.x_val)
    assert sorted(a.y_val.tolist()) == list(range(10))  # 10 of 40 images: one per class
    assert sorted(a.y_test.tolist()) == list(range(10))  # 10 of 20 test images
    assert torch.bincount(a.y_train, minlength=10).tolist() == [2] * 10


@vision
def test_sizes_beyond_the_files_are_one_line(tmp_path):
    write_mnist(tmp_path)
    folder = str(tmp_path)
    with pytest.raises(ResodeError, match="hold 40 images; train \\+ validation sizes ask for 45"):
        load_dataset("mnist", sizes=(35, 10, 5), data_dir=folder)
    with pytest.raises(ResodeError, match="hold 20 images; the test size asks for 25"):
        load_dataset("mnist", sizes=(10, 10, 25), data_dir=folder)
    with pytest.raises(ResodeError, match="ask for 60000"):
        load_dataset("mnist", data_dir=folder)  # the default sizes: the real set's


@vision
def test_fashion_mnist_reads_its_own_folder(tmp_path):
    _, _, _, test_y = write_mnist(tmp_path, "FashionMNIST", seed=5)
    data = load_dataset("fashion-mnist", sizes=(20, 10, 20), data_dir=str(tmp_path))
    assert data.class_names == FASHION_CLASSES and data.y_test.tolist() == test_y.tolist()
    with pytest.raises(ResodeError, match="MNIST/raw"):
        load_dataset("mnist", data_dir=str(tmp_path))


@vision
def test_cifar10_batches_give_colour_images_in_channel_order(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    md5, train_x, train_y, test_x, test_y = write_cifar10(tmp_path)
    with pytest.raises(
        ResodeError, match="cannot read cifar10 in .*: Dataset not found or corrupt"
    ):
        load_dataset("cifar10", sizes=(10, 5, 10), data_dir=str(tmp_path))  # md5 checked
    accept_checksums(monkeypatch, CIFAR10, md5)
    data = load_dataset("cifar10", seed=1, sizes=(20, 10, 10), data_dir=str(tmp_path))
    assert data.input_shape == (3, 32, 32) and data.class_names == CIFAR10_CLASSES
    assert _positions(test_x, _pixels(data, "test")) == list(range(10))
    assert data.y_test.tolist() == test_y.tolist()
    train = _positions(train_x, _pixels(data, "train"))
    assert data.y_train.tolist() == train_y[train].tolist()
    scaling = data.preprocessing["standardization"]
    chosen = train_x[train] / 255.0
    assert scaling["mean"] == pytest.approx(chosen.mean(axis=(0, 2, 3)).tolist(), rel=1e-12)
    assert scaling["std"] == pytest.approx(chosen.std(axis=(0, 2, 3)).tolist(), rel=1e-12)
    assert len(set(scaling["mean"])) == 3  # one per channel


@vision
def test_cifar100_uses_the_fine_labels_and_checks_their_names(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR100

    md5, _, _, _, test_y = write_cifar100(tmp_path)
    accept_checksums(monkeypatch, CIFAR100, md5)
    data = load_dataset("cifar100", sizes=(20, 10, 10), data_dir=str(tmp_path))
    assert data.num_classes == 100 and data.class_names == CIFAR100_CLASSES
    assert data.y_test.tolist() == test_y.tolist() and max(test_y) > 20  # fine, not coarse
    other = tmp_path / "other"
    renamed = ("apples", *CIFAR100_CLASSES[1:])
    accept_checksums(monkeypatch, CIFAR100, write_cifar100(other, names=renamed)[0])
    with pytest.raises(ResodeError, match="name other classes than cifar100's: apples"):
        load_dataset("cifar100", sizes=(20, 10, 10), data_dir=str(other))


@vision
def test_download_fetches_only_what_is_missing(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    fetched = []

    def fake_download(self):  # what torchvision's download leaves behind, without network
        fetched.append(self.root)
        write_mnist(Path(self.root))

    monkeypatch.setattr(MNIST, "download", fake_download)
    sizes = (20, 10, 10)
    data = load_dataset("mnist", sizes=sizes, data_dir=str(tmp_path), download=True)
    assert fetched == [str(tmp_path)] and data.x_train.shape == (20, 1, 28, 28)
    load_dataset("mnist", sizes=sizes, data_dir=str(tmp_path / "."), download=True)
    assert len(fetched) == 1  # the files are there now
    again = tmp_path / "copy"
    shutil.copytree(tmp_path / "MNIST", again / "MNIST")
    load_dataset("mnist", sizes=sizes, data_dir=str(again), download=True)
    assert len(fetched) == 1  # the files are there: nothing fetched

    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://…")

    monkeypatch.setattr(MNIST, "download", offline)
    with pytest.raises(ResodeError) as caught:
        load_dataset("mnist", sizes=sizes, data_dir=str(tmp_path / "none"), download=True)
    message = str(caught.value)
    assert message.startswith("cannot download mnist in ") and "\n" not in message
    assert message.endswith("Error downloading train-images-idx3-ubyte.gz:")


def _rows(path: Path) -> list[dict]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


@vision
def test_train_evaluate_predict_and_resume_on_mnist_files(tmp_path, monkeypatch, capsys):
    from PIL import Image

    monkeypatch.setitem(
        DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], sizes=(30, 10, 20))
    )
    data_dir, run = tmp_path / "data", tmp_path / "run"
    _, _, test_x, _ = write_mnist(data_dir)
    tiny = ["--widths", "4", "--steps", "1", "--epochs", "1", "--batch-size", "16", "--quiet"]
    assert (
        main(["train", "--data", "mnist", "--data-dir", str(data_dir), *tiny, "--out", str(run)])
        == 0
    )
    stored = json.loads((run / "config.json").read_text())
    assert stored["data_dir"] == str(data_dir.resolve()) and stored["download"] is False
    assert stored["model"]["preprocessing"]["class_names"] == list("0123456789")
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert 0 <= metrics["test_accuracy"] <= 1

    moved = tmp_path / "moved"
    shutil.move(data_dir, moved)
    assert main(["evaluate", str(run)]) == 2
    error = capsys.readouterr().err
    assert "mnist needs the files" in error and error.count("\n") == 1
    assert main(["evaluate", str(run), "--json", "--data-dir", str(moved)]) == 0
    assert json.loads(capsys.readouterr().out) == metrics

    for index in (0, 7):  # test images as PNG files, predicted like the test split
        Image.fromarray(test_x[index], mode="L").save(tmp_path / f"digit{index}.png")
    assert (
        main(
            [
                "predict",
                str(run),
                "test",
                "--data-dir",
                str(moved),
                "--out",
                str(tmp_path / "t.csv"),
            ]
        )
        == 0
    )
    out = tmp_path / "p.csv"
    assert (
        main(
            [
                "predict",
                str(run),
                str(tmp_path / "digit7.png"),
                "--data-dir",
                str(moved),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    want = _rows(tmp_path / "t.csv")[7]
    (got,) = _rows(out)
    assert got["file"] == "digit7.png" and got["class"] == want["class"]
    for name in "0123456789":
        assert float(got[f"p_{name}"]) == pytest.approx(float(want[f"p_{name}"]), abs=1e-5)

    assert (
        main(["train", "--resume", str(run), "--data-dir", str(moved), "--epochs", "2", "--quiet"])
        == 0
    )
    assert json.loads((run / "config.json").read_text())["data_dir"] == str(moved.resolve())
    assert main(["evaluate", str(run)]) == 0  # found where it was resumed
