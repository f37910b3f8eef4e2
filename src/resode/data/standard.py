"""The field's standard image sets read from their usual files: MNIST, Fashion-MNIST, CIFAR-10
and CIFAR-100, through torchvision (the optional extra ``vision``, imported only when needed).

The files lie in ``data_dir`` (default ``$RESODE_DATA_DIR``, else ``~/.cache/resode/data``)
as torchvision lays them out (:data:`STANDARD_SETS` lists them)::

    MNIST/raw/train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  …
    FashionMNIST/raw/…                 (the same four names)
    cifar-10-batches-py/data_batch_1 … data_batch_5  test_batch  batches.meta
    cifar-100-python/train  test  meta

They are looked for before torchvision is imported, so a missing file is one line naming the
files and the folder, with or without torchvision; ``download=True`` lets torchvision fetch
what is missing. Splits: validation is a seeded, stratified part of the official training set,
train the next part of it, test the official test set (a seeded, stratified subset of it when
smaller, in file order). Inputs x (count, C, H, W) float32 are pixel / 255 standardized per
channel with μ, σ of the TRAIN split only, so the same seed gives the same numbers again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ResodeError
from .dataset import Splits, stratified_order
from .standardize import Standardization

EXTRA = "pip install 'resode[vision]'"
DATA_DIR_VARIABLE = "RESODE_DATA_DIR"
_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip
"""CIFAR-100's 100 fine labels in label order (``fine_label_names`` of its ``meta`` file)."""


@dataclass(frozen=True)
class StandardSet:
    """One standard set: the torchvision class that reads it, the folder (under the data
    directory) and the files it needs, its class names in label order and its default
    (train, validation, test) sizes."""

    name: str
    loader: str
    folder: str
    files: tuple[str, ...]
    class_names: tuple[str, ...]
    sizes: tuple[int, int, int]
    names_in_files: bool  # the files name the classes (CIFAR's meta files): checked
    unpacked: str  # how the files come out of the downloads

    def missing(self, root: Path) -> list[str]:
        """The needed files not in ``root``/``folder``."""
        return [name for name in self.files if not (root / self.folder / name).is_file()]


STANDARD_SETS: dict[str, StandardSet] = {
    "mnist": StandardSet(
        "mnist", "MNIST", "MNIST/raw", _MNIST_FILES, tuple(map(str, range(10))),
        (55000, 5000, 10000), False, "the .gz downloads unpacked",
    ),
    "fashion-mnist": StandardSet(
        "fashion-mnist", "FashionMNIST", "FashionMNIST/raw", _MNIST_FILES, FASHION_CLASSES,
        (55000, 5000, 10000), False, "the .gz downloads unpacked",
    ),
    "cifar10": StandardSet(
        "cifar10", "CIFAR10", "cifar-10-batches-py", _CIFAR10_FILES, CIFAR10_CLASSES,
        (45000, 5000, 10000), True, "unpacked from cifar-10-python.tar.gz",
    ),
    "cifar100": StandardSet(
        "cifar100", "CIFAR100", "cifar-100-python", ("train", "test", "meta"), CIFAR100_CLASSES,
        (45000, 5000, 10000), True, "unpacked from cifar-100-python.tar.gz",
    ),
}  # fmt: skip


def default_data_dir() -> Path:
    """``$RESODE_DATA_DIR`` if set, else ``~/.cache/resode/data``."""
    chosen = os.environ.get(DATA_DIR_VARIABLE)
    return Path(chosen).expanduser() if chosen else Path.home() / ".cache" / "resode" / "data"


def check_data_dir(name: str, value: object) -> str | None:
    """``value`` if it is None (the default folder) or a non-empty path string."""
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise ResodeError(f"{name} must be a folder path, got {value!r}")
    return str(value)


def check_flag(name: str, value: object) -> bool:
    """``value`` if it is True or False."""
    if not isinstance(value, bool):
        raise ResodeError(f"{name} must be true or false, got {value!r}")
    return value


def _torchvision_datasets(name: str):
    """``torchvision.datasets``, or a one-line error naming the extra."""
    try:
        from torchvision import datasets
    except ImportError:
        raise ResodeError(
            f"--data {name} needs torchvision, which is not installed: {EXTRA}"
        ) from None
    except (RuntimeError, OSError) as error:  # e.g. a torchvision built for another torch
        raise ResodeError(
            f"--data {name} needs torchvision, which fails to import here "
            f"({_one_line(error)}); install one built for this torch: {EXTRA}"
        ) from None
    return datasets


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _read(standard: StandardSet, root: Path, train: bool, download: bool) -> tuple:
    """(images (count, C, H, W) uint8, labels int64, class names) of one official split."""
    datasets = _torchvision_datasets(standard.name)
    try:
        split = getattr(datasets, standard.loader)(str(root), train=train, download=download)
    except (RuntimeError, OSError, ValueError, AssertionError, EOFError, KeyError) as error:
        doing = "download" if download else "read"
        raise ResodeError(
            f"cannot {doing} {standard.name} in {root / standard.folder}: {_one_line(error)}"
        ) from None
    images, labels = split.data, split.targets
    images = images.numpy()[:, None] if hasattr(images, "numpy") else np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 3:  # CIFAR: (count, H, W, 3) view of CHW data
        images = images.transpose(0, 3, 1, 2)
    labels = labels.numpy() if hasattr(labels, "numpy") else np.asarray(labels)
    return np.ascontiguousarray(images), labels.astype(np.int64), tuple(split.classes)


def _signature(standard: StandardSet, root: Path) -> tuple:
    """Name, size and modification time of each needed file (None: missing), so that files
    replaced or moved away since they were read are read again."""
    signature = []
    for name in standard.files:
        path = root / standard.folder / name
        stat = path.stat() if path.is_file() else None
        signature.append((name, stat and stat.st_size, stat and stat.st_mtime_ns))
    return tuple(signature)


@lru_cache(maxsize=2)
def _arrays(name: str, root: str, download: bool, signature: tuple) -> tuple[np.ndarray, ...]:
    """Train images, train labels, test images, test labels of set ``name`` in ``root`` (raw
    uint8 images (count, C, H, W), int64 labels), read-only; cached per (name, folder) while
    the files' ``signature`` stays the same."""
    standard = STANDARD_SETS[name]
    folder = Path(root)
    missing = standard.missing(folder)
    if missing and not download:
        raise ResodeError(
            f"{name} needs the files {', '.join(missing)} in {folder / standard.folder} "
            f"({standard.unpacked}); put them there, choose their folder with --data-dir, "
            "or fetch them with --download"
        )
    fetch = bool(missing)  # torchvision is asked to download only what is not there
    train_x, train_y, classes = _read(standard, folder, True, fetch)
    test_x, test_y, _ = _read(standard, folder, False, False)
    if standard.names_in_files and classes != standard.class_names:
        raise ResodeError(
            f"the files in {folder / standard.folder} name other classes than {name}'s: "
            f"{', '.join(classes[:5])}, … (expected {', '.join(standard.class_names[:5])}, …)"
        )
    arrays = (train_x, train_y, test_x, test_y)
    for array in arrays:
        array.setflags(write=False)
    return arrays


def _channel_stats(images: np.ndarray) -> Standardization:
    """μ, σ (population) per channel of pixel / 255 for uint8 images (count, C, H, W), exact,
    from each channel's histogram of the 256 values."""
    values = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for channel in range(images.shape[1]):
        counts = np.bincount(images[:, channel].ravel(), minlength=256).astype(np.float64)
        total = counts.sum()
        mean = float(counts @ values / total)
        variance = max(float(counts @ values**2 / total) - mean**2, 0.0)
        means.append(mean)
        stds.append(variance**0.5 if variance > 0 else 1.0)
    return Standardization(tuple(means), tuple(stds))


def _standardized(images: np.ndarray, scaling: Standardization) -> np.ndarray:
    """(pixel / 255 − μ)/σ per channel as float32 (count, C, H, W), computed in place."""
    shape = (1, len(scaling.mean), 1, 1)
    out = images.astype(np.float32)
    out -= (255.0 * np.reshape(scaling.mean, shape)).astype(np.float32)
    out /= (255.0 * np.reshape(scaling.std, shape)).astype(np.float32)
    return out


def _subset(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` indices of ``labels``, a seeded stratified choice, in file order."""
    if count == len(labels):
        return np.arange(count)
    return np.sort(stratified_order(labels, rng)[:count])


def _check_counts(name: str, root: Path, sizes: tuple[int, int, int], train: int, test: int):
    if sizes[0] + sizes[1] > train:
        raise ResodeError(
            f"{name}'s training files in {root} hold {train} images; train + validation sizes "
            f"ask for {sizes[0] + sizes[1]}"
        )
    if sizes[2] > test:
        raise ResodeError(
            f"{name}'s test files in {root} hold {test} images; the test size asks for {sizes[2]}"
        )


def load_standard(
    name: str,
    sizes: tuple[int, int, int],
    seed: int,
    data_dir: str | None = None,
    download: bool = False,
) -> Splits:
    """Splits of standard set ``name`` (see the module docstring) with ``Splits.preprocessing``
    recording the standardization and class names (as a user's data records them)."""
    root = (Path(data_dir) if data_dir is not None else default_data_dir()).expanduser().resolve()
    signature = _signature(STANDARD_SETS[name], root)
    train_x, train_y, test_x, test_y = _arrays(name, str(root), bool(download), signature)
    _check_counts(name, root, sizes, len(train_x), len(test_x))
    rng = np.random.default_rng(seed)
    order = stratified_order(train_y, rng)
    val = order[: sizes[1]]
    train = order[sizes[1] : sizes[1] + sizes[0]]
    test = _subset(test_y, sizes[2], rng)
    images = {"train": train_x[train], "val": train_x[val], "test": test_x[test]}
    scaling = _channel_stats(images["train"])
    record = {
        "standardization": scaling.to_dict(),
        "target_scale": None,
        "class_names": list(STANDARD_SETS[name].class_names),
        "features": [],
    }
    x = {split: _standardized(images.pop(split), scaling) for split in ("train", "val", "test")}
    return Splits(
        x["train"], train_y[train], x["val"], train_y[val], x["test"], test_y[test],
        preprocessing=record,
    )  # fmt: skip


def standard_builder(name: str):
    """The ``DatasetSpec.build`` of standard set ``name``."""

    def build(sizes: tuple[int, int, int], seed: int, **options: object) -> Splits:
        return load_standard(name, sizes, seed, **options)  # type: ignore[arg-type]

    build.__doc__ = f"{name} from its files (see :mod:`resode.data.standard`)."
    return build
