"""The ``Dataset`` container (tensors of a train/validation/test split) and split helpers."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..errors import ResodeError, check_choice

KINDS = ("vector", "signal", "image")


@dataclass(frozen=True)
class Splits:
    """NumPy arrays of the three splits as a builder returns them, before they become tensors.

    ``target_scale`` = (mean, std) when regression targets were standardized, else None;
    ``preprocessing`` records how inputs were standardized where a run must store it (see
    :attr:`Dataset.preprocessing`), else None.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    target_scale: tuple[float, float] | None = None
    preprocessing: dict | None = None


def cut_splits(
    x: np.ndarray,
    y: np.ndarray,
    sizes: tuple[int, int, int],
    target_scale: tuple[float, float] | None = None,
) -> Splits:
    """Consecutive slices of (x, y): ``sizes[0]`` for train, the next ``sizes[1]`` for val, …"""
    a, b, c = sizes
    train, val, test = slice(0, a), slice(a, a + b), slice(a + b, a + b + c)
    return Splits(x[train], y[train], x[val], y[val], x[test], y[test], target_scale)


def stratified_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A seeded permutation in which every prefix holds each class in proportion (±1 example).

    Class c's members, in random order, get keys (i + ½)/n_c, i = 0 … n_c − 1; sorting by key
    interleaves the classes evenly, so consecutive slices of the result are stratified splits.
    """
    order = rng.permutation(len(labels))
    shuffled = labels[order]
    keys = np.empty(len(labels))
    for label in np.unique(shuffled):
        members = np.flatnonzero(shuffled == label)
        keys[members] = (np.arange(len(members)) + 0.5) / len(members)
    return order[np.argsort(keys, kind="stable")]


@dataclass
class Dataset:
    """Tensors of one dataset, batch first, split into train, validation (``val``) and test.

    kind "vector": x (count, features); "signal": x (count, channels, length); "image":
    x (count, channels, height, width). Targets: classification (count,) int64 in
    [0, num_classes); regression (count, k) floating (num_classes = 0); segmentation
    (count, height, width) int64 in [0, num_classes). ``target_scale`` = (mean, std) when
    regression targets were standardized (original units: y · std + mean), else None.
    ``class_names`` names the labels in order (empty: unnamed, or regression);
    ``preprocessing`` records how the inputs were standardized, for a user's data and the
    standard image sets (mnist, cifar10, …), so prediction can do the same to new inputs
    (None: generated and bundled data, used as they are made). ``rows`` labels the examples
    of a table: {"name": the id column or "row", "train": labels, "val": …, "test": …}.
    """

    name: str
    task: str
    num_classes: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    kind: str = "vector"
    target_scale: tuple[float, float] | None = None
    class_names: tuple[str, ...] = ()
    preprocessing: dict | None = None
    rows: dict | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, x.shape[1:]: (features,), (channels, length) or (channels, H, W)."""
        return tuple(self.x_train.shape[1:])

    @property
    def in_features(self) -> int:
        """x.shape[1]: the features of a vector, the channels of a signal or an image."""
        return self.x_train.shape[1]

    @property
    def out_features(self) -> int:
        """Outputs a model needs: num_classes (classification, segmentation) or k (regression)."""
        return self.y_train.shape[1] if self.task == "regression" else self.num_classes

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of ``train``, ``val`` or ``test``."""
        check_choice("split", name, ("train", "val", "test"))
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def to(
        self,
        device: torch.device | str,
        dtype: torch.dtype = torch.float32,
        train_device: torch.device | str | None = None,
    ) -> Dataset:
        """A copy on ``device`` (the training split on ``train_device`` when given): x and
        regression targets cast to ``dtype``; labels stay int64."""
        moved = {}
        for split in ("train", "val", "test"):
            x, y = self.split(split)
            where = train_device if split == "train" and train_device is not None else device
            moved[f"x_{split}"] = x.to(device=where, dtype=dtype)
            moved[f"y_{split}"] = (
                y.to(device=where, dtype=dtype) if self.task == "regression" else y.to(where)
            )
        return replace(self, **moved)


def fold_order(
    labels_or_count: np.ndarray | int, fold: int, folds: int, seed: int, held_out: float = 0.15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) row indices of fold ``fold`` of ``folds`` (1 ≤ fold ≤ folds).

    The rows are shuffled with ``seed`` (the same for every fold) and dealt round-robin into
    the K folds, class by class when labels are given (so each class's count differs by at
    most 1 between folds, and so does each fold's size); test is fold k, and val a seeded
    share ``held_out`` of the other rows (stratified for labels). Every row lies in exactly
    one test fold of the K.
    """
    stratified = not isinstance(labels_or_count, int | np.integer)
    count = len(labels_or_count) if stratified else int(labels_or_count)
    if not 1 <= fold <= folds or folds > count:
        raise ResodeError(f"fold {fold} of {folds} does not fit {count} rows")
    rng = np.random.default_rng(seed)
    order = rng.permutation(count)
    if stratified:  # each class's rows together, in random order, the classes dealt in turn
        labels = np.asarray(labels_or_count)
        order = order[np.argsort(labels[order], kind="stable")]
    test = np.sort(order[fold - 1 :: folds])
    rest = np.setdiff1d(np.arange(count), test)
    rng = np.random.default_rng([seed, fold])  # the validation rows of this fold
    rest = rest[stratified_order(labels[rest], rng) if stratified else rng.permutation(len(rest))]
    held = max(1, round(held_out * len(rest)))
    if len(rest) - held < 1:
        raise ResodeError(f"{count} rows are too few for {folds} folds with a validation split")
    return rest[held:], rest[:held], test


def fold_splits(
    x: np.ndarray,
    y: np.ndarray,
    fold: int,
    folds: int,
    seed: int,
    stratified: bool,
    held_out: float = 0.15,
) -> tuple[dict, dict]:
    """{"train", "val", "test"} arrays of x and of y for fold ``fold`` of ``folds``
    (:func:`fold_order`; stratified by the labels y when ``stratified``)."""
    rows = fold_order(y if stratified else len(y), fold, folds, seed, held_out)
    splits = ("train", "val", "test")
    return {s: x[i] for s, i in zip(splits, rows)}, {s: y[i] for s, i in zip(splits, rows)}
