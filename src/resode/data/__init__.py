"""Datasets, generated (seeded) or bundled with installed packages (no downloads at run time),
the field's standard image sets read from their files (mnist, fashion-mnist, cifar10,
cifar100: see :mod:`.standard`), or a user's own files: ``csv:PATH``, ``npz:PATH``,
``folder:PATH`` (see :mod:`.sources`).

``load_dataset(name, seed, sizes, **options)`` returns a ``Dataset`` of torch tensors split
into train/validation/test; ``DATASETS`` maps each name to its ``DatasetSpec`` (task, input
kind, classes, default sizes, options), so ``dataset_task``/``dataset_kind`` answer without
generating anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ResodeError, check_choice, check_int
from ..tasks import TASKS
from .bundled import DIABETES_SIZE, DIGITS_SIZE, build_diabetes, build_digits, build_mnist1d
from .dataset import KINDS, Dataset, Splits, cut_splits
from .files import parse_source
from .images import BAR_CLASSES, SHAPE_CLASSES, check_image_size, make_bars, make_shapes
from .standard import STANDARD_SETS, check_data_dir, check_flag, standard_builder
from .synthetic import (
    make_circles,
    make_ellipses,
    make_peaks,
    make_peaks_regression,
    make_spirals,
)

Generator = Callable[..., tuple[np.ndarray, np.ndarray]]
Builder = Callable[..., Splits]


def generated(generate: Generator) -> Builder:
    """Builder from ``generate(count, rng, **options)``: one seeded draw, shuffled, cut in order."""

    def build(sizes: tuple[int, int, int], seed: int, **options: object) -> Splits:
        rng = np.random.default_rng(seed)
        x, y = generate(sum(sizes), rng, **options)
        order = rng.permutation(len(x))
        return cut_splits(x[order], y[order], sizes)

    return build


@dataclass(frozen=True)
class Option:
    """A dataset option: its default and a validator ``check(name, value) -> value``."""

    default: object
    check: Callable[[str, object], object]


@dataclass(frozen=True)
class DatasetSpec:
    """How to make a dataset and what it is, known without generating it.

    ``build(sizes, seed, **options)`` returns the splits; ``available`` is the number of
    examples of a bundled set of fixed size (None: generated, any size).
    """

    build: Builder
    task: str
    kind: str
    class_names: tuple[str, ...]  # empty for regression
    sizes: tuple[int, int, int]  # default train, validation, test
    options: Mapping[str, Option] = field(default_factory=dict)
    available: int | None = None

    def __post_init__(self) -> None:
        check_choice("task", self.task, TASKS)
        check_choice("kind", self.kind, KINDS)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


_SIZE = {"size": Option(32, check_image_size)}
_DIGITS = tuple(str(d) for d in range(10))
_FILES = {"data_dir": Option(None, check_data_dir), "download": Option(False, check_flag)}

DATASETS: dict[str, DatasetSpec] = {
    "peaks": DatasetSpec(
        generated(make_peaks), "classification", "vector",
        tuple(f"band {k}" for k in range(5)), (5000, 1000, 2000),
    ),
    "ellipses": DatasetSpec(
        generated(make_ellipses), "classification", "vector", ("inside", "ring"), (1000, 250, 500)
    ),
    "spirals": DatasetSpec(
        generated(make_spirals), "classification", "vector", ("spiral 0", "spiral 1"),
        (1000, 250, 500),
    ),
    "circles": DatasetSpec(
        generated(make_circles), "classification", "vector", ("inner", "outer"), (1000, 250, 500)
    ),
    "peaks-regression": DatasetSpec(
        generated(make_peaks_regression), "regression", "vector", (), (4000, 1000, 1000)
    ),
    "diabetes": DatasetSpec(
        build_diabetes, "regression", "vector", (), (310, 66, 66), available=DIABETES_SIZE
    ),
    "digits": DatasetSpec(
        build_digits, "classification", "image", _DIGITS, (1257, 180, 360), available=DIGITS_SIZE
    ),
    "mnist1d": DatasetSpec(build_mnist1d, "classification", "signal", _DIGITS, (4000, 500, 1000)),
    "shapes": DatasetSpec(
        generated(make_shapes), "segmentation", "image", SHAPE_CLASSES, (2000, 200, 400), _SIZE
    ),
    "bars": DatasetSpec(
        generated(make_bars), "segmentation", "image", BAR_CLASSES, (2000, 200, 400), _SIZE
    ),
    **{
        name: DatasetSpec(
            standard_builder(name), "classification", "image", standard.class_names,
            standard.sizes, _FILES,
        )
        for name, standard in STANDARD_SETS.items()
    },
}  # fmt: skip


def _spec(name: str, **options: object):
    """The DatasetSpec of a built-in set, or the UserData of a file source (read with
    ``options``: ``target``, ``task``); both have ``task``, ``kind`` and ``class_names``."""
    if parse_source(name) is not None:
        from .sources import describe_source

        return describe_source(name, **options)
    return DATASETS[check_dataset_name("dataset", name)]


def check_dataset_name(label: str, name: object) -> str:
    """``name`` if it is a built-in dataset or ``csv:``/``npz:``/``folder:`` PATH."""
    if isinstance(name, str) and parse_source(name) is not None:
        return name
    if not isinstance(name, str) or name not in DATASETS:
        raise ResodeError(
            f"unknown {label} {name!r}; choose one of: {', '.join(sorted(DATASETS))}, "
            "or your own data as csv:PATH, npz:PATH or folder:PATH"
        )
    return name


def dataset_task(name: str, **options: object) -> str:
    """The task of dataset ``name``: "classification", "regression" or "segmentation"."""
    return _spec(name, **options).task


def dataset_kind(name: str, **options: object) -> str:
    """The input kind of dataset ``name``: "vector", "signal" or "image"."""
    return _spec(name, **options).kind


def class_names(name: str, **options: object) -> tuple[str, ...]:
    """Names of the classes of dataset ``name`` in label order (empty for regression)."""
    return _spec(name, **options).class_names


def _check_options(name: str, spec: DatasetSpec, options: dict[str, object]) -> dict[str, object]:
    """The spec's defaults updated with ``options``, each validated; unknown names rejected."""
    for key in options:
        if key not in spec.options:
            allowed = ", ".join(sorted(spec.options)) or "none"
            raise ResodeError(f"unknown option {key!r} for dataset {name!r}; allowed: {allowed}")
    merged = {key: option.default for key, option in spec.options.items()} | options
    return {key: spec.options[key].check(key, value) for key, value in merged.items()}


def _check_sizes(name: str, spec: DatasetSpec, sizes: object) -> tuple[int, int, int]:
    if sizes is None:
        return spec.sizes
    if not isinstance(sizes, tuple | list) or len(sizes) != 3:
        raise ResodeError(f"sizes must be (train, val, test) counts, got {sizes!r}")
    checked = tuple(check_int(f"{s} size", n) for s, n in zip(("train", "val", "test"), sizes))
    if spec.available is not None and sum(checked) > spec.available:
        total = sum(checked)
        raise ResodeError(f"dataset {name!r} has {spec.available} examples; sizes ask for {total}")
    return checked  # type: ignore[return-value]


def _tensor(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """``array`` as a tensor: a copy, since arrays from a builder may be read-only cached
    views, unless the builder made it anew (writable, owning its C-contiguous data)."""
    numpy_dtype = np.float32 if dtype == torch.float32 else np.int64
    own = array.flags.writeable and array.flags.owndata and array.flags.c_contiguous
    if own and array.dtype == numpy_dtype:
        return torch.from_numpy(array)
    return torch.from_numpy(np.array(array, dtype=numpy_dtype, copy=True))


def load_dataset(
    name: str,
    seed: int = 0,
    sizes: tuple[int, int, int] | None = None,
    **options: object,
) -> Dataset:
    """Dataset ``name`` made with ``seed``; ``sizes`` = (train, val, test) counts.

    Generated sets accept any sizes; bundled sets of fixed size (diabetes, digits) take their
    splits from one seeded permutation and reject sizes that add up to more than they hold.
    ``options`` are dataset-specific (``size``: image side for shapes and bars, 16–256;
    ``data_dir``, ``download``: where the files of mnist, fashion-mnist, cifar10 and cifar100
    are, and whether to fetch them; see :mod:`.standard`).
    Inputs are float32; class labels int64; regression targets float32 (count, k).
    A file source (``csv:PATH`` …) takes ``target``, ``task`` and ``preprocessing`` (as a
    run stored it) and has the sizes of its files (see :func:`.sources.load_source`).
    """
    seed = check_int("seed", int(seed) if isinstance(seed, np.integer) else seed, minimum=0)
    if parse_source(name) is not None:
        from .sources import load_source

        if sizes is not None:
            raise ResodeError(f"the sizes of {name} are those of its files; give no sizes")
        return load_source(name, seed, **options)  # type: ignore[arg-type]
    spec = _spec(name)
    counts = _check_sizes(name, spec, sizes)
    splits = spec.build(counts, seed, **_check_options(name, spec, options))
    target = torch.float32 if spec.task == "regression" else torch.int64
    tensors = {}
    for split in ("train", "val", "test"):
        tensors[f"x_{split}"] = _tensor(getattr(splits, f"x_{split}"), torch.float32)
        tensors[f"y_{split}"] = _tensor(getattr(splits, f"y_{split}"), target)
    return Dataset(
        name, spec.task, spec.num_classes, kind=spec.kind, target_scale=splits.target_scale,
        class_names=spec.class_names, preprocessing=splits.preprocessing, **tensors,
    )  # fmt: skip


__all__ = [
    "DATASETS",
    "STANDARD_SETS",
    "Dataset",
    "DatasetSpec",
    "check_dataset_name",
    "class_names",
    "dataset_kind",
    "dataset_task",
    "load_dataset",
]
