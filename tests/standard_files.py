"""Tiny copies of the standard sets' files, in their exact formats, for tests without network:
MNIST's (and Fashion-MNIST's) uncompressed IDX files, CIFAR-10's and CIFAR-100's pickled
python batches, laid out as torchvision downloads and unpacks them."""

from __future__ import annotations

import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np

from resode.data.standard import CIFAR10_CLASSES, CIFAR100_CLASSES

CIFAR100_COARSE = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
)  # fmt: skip


def _idx(path: Path, array: np.ndarray) -> None:
    """An IDX file of unsigned bytes: magic 0x0000 08 ndim, the dimensions as big-endian
    int32, then the bytes (the format of MNIST's train-images-idx3-ubyte …)."""
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(
        struct.pack(">I", n) for n in array.shape
    )
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def images_of(labels: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """uint8 images (count, *shape) whose brightness tells the label, with noise."""
    base = (labels.reshape(-1, *[1] * len(shape)) * 20 + 30).astype(np.int64)
    noise = rng.integers(0, 40, size=(len(labels), *shape))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def write_mnist(root: Path, folder: str = "MNIST", train: int = 40, test: int = 20, seed=0):
    """``root/folder/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``; returns the arrays
    (train images (n, 28, 28), train labels, test images, test labels)."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    arrays = []
    for prefix, count in (("train", train), ("t10k", test)):
        labels = (np.arange(count) % 10).astype(np.uint8)
        rng.shuffle(labels)
        images = images_of(labels, (28, 28), rng)
        _idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        arrays += [images, labels]
    return tuple(arrays)


def _pickle(path: Path, document: dict) -> str:
    with open(path, "wb") as handle:
        pickle.dump(document, handle, protocol=2)
    return hashlib.md5(path.read_bytes()).hexdigest()


def _batch(labels: np.ndarray, key: str, name: str, rng, extra: dict | None = None) -> dict:
    """A CIFAR batch: ``data`` (count, 3072) uint8 rows (1024 red, 1024 green, 1024 blue
    values, each row-major 32×32), labels under ``key``, file names."""
    images = images_of(labels, (3, 32, 32), rng)
    return {
        "batch_label": name,
        key: [int(v) for v in labels],
        "data": images.reshape(len(labels), 3072),
        "filenames": [f"image_{i:05d}.png" for i in range(len(labels))],
        **(extra or {}),
    }


def write_cifar10(root: Path, per_batch: int = 6, test: int = 10, seed=0):
    """``root/cifar-10-batches-py/`` with data_batch_1 … 5, test_batch and batches.meta.

    Returns (md5 by file name, train images (n, 3, 32, 32), train labels, test images, test
    labels)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    md5, parts = {}, []
    for index in range(1, 6):
        labels = rng.integers(0, 10, size=per_batch)
        name = f"data_batch_{index}"
        document = _batch(labels, "labels", f"training batch {index} of 5", rng)
        md5[name] = _pickle(folder / name, document)
        parts.append(document)
    labels = np.arange(test) % 10
    document = _batch(labels, "labels", "testing batch 1 of 1", rng)
    md5["test_batch"] = _pickle(folder / "test_batch", document)
    meta = {"num_cases_per_batch": per_batch, "label_names": list(CIFAR10_CLASSES), "num_vis": 3072}
    md5["batches.meta"] = _pickle(folder / "batches.meta", meta)
    train_x = np.concatenate([p["data"] for p in parts]).reshape(-1, 3, 32, 32)
    train_y = np.concatenate([p["labels"] for p in parts])
    return md5, train_x, train_y, document["data"].reshape(-1, 3, 32, 32), labels


def write_cifar100(root: Path, train: int = 30, test: int = 10, seed=0, names=CIFAR100_CLASSES):
    """``root/cifar-100-python/`` with train, test and meta; returns what write_cifar10 does."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    md5, documents = {}, {}
    for name, count in (("train", train), ("test", test)):
        labels = (np.arange(count) * 7) % 100
        coarse = {"coarse_labels": [int(v) % 20 for v in labels]}
        documents[name] = _batch(labels, "fine_labels", name, rng, coarse)
        md5[name] = _pickle(folder / name, documents[name])
    meta = {"fine_label_names": list(names), "coarse_label_names": list(CIFAR100_COARSE)}
    md5["meta"] = _pickle(folder / "meta", meta)
    train_doc, test_doc = documents["train"], documents["test"]
    return (
        md5,
        train_doc["data"].reshape(-1, 3, 32, 32),
        np.array(train_doc["fine_labels"]),
        test_doc["data"].reshape(-1, 3, 32, 32),
        np.array(test_doc["fine_labels"]),
    )


def accept_checksums(monkeypatch, loader, md5: dict[str, str]) -> None:
    """Make torchvision's CIFAR class ``loader`` expect the tiny files' md5 sums (its real
    integrity check then runs on them)."""
    monkeypatch.setattr(loader, "train_list", [[n, md5[n]] for n, _ in loader.train_list])
    monkeypatch.setattr(loader, "test_list", [[n, md5[n]] for n, _ in loader.test_list])
    monkeypatch.setattr(loader, "meta", {**loader.meta, "md5": md5[loader.meta["filename"]]})
