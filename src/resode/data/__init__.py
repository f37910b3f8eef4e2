"""Datasets, generated and seeded (no downloads), split into train/validation/test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import check_choice, check_int
from .synthetic import make_circles, make_ellipses, make_peaks, make_spirals


@dataclass(frozen=True)
class DatasetSpec:
    """How to make a dataset: generator, task, class count and default split sizes."""

    generate: Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    task: str
    num_classes: int
    sizes: tuple[int, int, int]  # train, validation, test


DATASETS: dict[str, DatasetSpec] = {
    "peaks": DatasetSpec(make_peaks, "classification", 5, (5000, 1000, 2000)),
    "ellipses": DatasetSpec(make_ellipses, "classification", 2, (1000, 250, 500)),
    "spirals": DatasetSpec(make_spirals, "classification", 2, (1000, 250, 500)),
    "circles": DatasetSpec(make_circles, "classification", 2, (1000, 250, 500)),
}


@dataclass
class Dataset:
    """Tensors of one dataset: x of shape (count, features), targets (count,) or (count, k)."""

    name: str
    task: str
    num_classes: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def in_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def out_features(self) -> int:
        return self.num_classes if self.task == "classification" else self.y_train.shape[1]

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of ``train``, ``val`` or ``test``."""
        check_choice("split", name, ("train", "val", "test"))
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> Dataset:
        moved = {}
        for split in ("train", "val", "test"):
            x, y = self.split(split)
            moved[f"x_{split}"] = x.to(device=device, dtype=dtype)
            moved[f"y_{split}"] = (
                y.to(device) if self.task == "classification" else y.to(device=device, dtype=dtype)
            )
        return Dataset(self.name, self.task, self.num_classes, **moved)


def load_dataset(
    name: str,
    seed: int = 0,
    sizes: tuple[int, int, int] | None = None,
) -> Dataset:
    """Generate dataset ``name`` with a seeded RNG; ``sizes`` = (train, val, test) counts."""
    spec = DATASETS[check_choice("dataset", name, DATASETS)]
    sizes = spec.sizes if sizes is None else sizes
    n_train, n_val, n_test = (
        check_int(f"{s} size", n) for s, n in zip(("train", "val", "test"), sizes)
    )
    rng = np.random.default_rng(seed)
    x, labels = spec.generate(n_train + n_val + n_test, rng)
    order = rng.permutation(len(x))
    x = torch.from_numpy(x[order]).to(torch.float32)
    labels = torch.from_numpy(labels[order])
    cut = (n_train, n_train + n_val)
    return Dataset(
        name,
        spec.task,
        spec.num_classes,
        x[: cut[0]],
        labels[: cut[0]],
        x[cut[0] : cut[1]],
        labels[cut[0] : cut[1]],
        x[cut[1] :],
        labels[cut[1] :],
    )


__all__ = ["DATASETS", "Dataset", "load_dataset"]
