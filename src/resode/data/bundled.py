"""Datasets shipped with installed packages (no downloads): diabetes, digits, mnist1d.

scikit-learn's ``load_diabetes`` and ``load_digits`` read files bundled with scikit-learn;
mnist1d is made by the ``mnist1d`` package's procedural generator (``make_dataset``), never by
its download path. Each builder takes (train, val, test) sizes and a seed and returns Splits.
"""

from __future__ import annotations

import math
import random
from functools import lru_cache

import numpy as np

from ..errors import ResodeError
from .dataset import Splits, cut_splits, stratified_order

DIABETES_SIZE = 442
DIGITS_SIZE = 1797
MNIST1D_LENGTH = 40
MNIST1D_CLASSES = 10


def _read_only(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for array in arrays:
        array.setflags(write=False)
    return arrays


@lru_cache(maxsize=1)
def _diabetes_arrays() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_diabetes

    data = load_diabetes(scaled=False)
    return _read_only(data.data.astype(np.float64), data.target.astype(np.float64))


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return _read_only(
        (data.images / 16.0).astype(np.float32)[:, None], data.target.astype(np.int64)
    )


def build_diabetes(sizes: tuple[int, int, int], seed: int) -> Splits:
    """scikit-learn's diabetes: 442 patients, 10 raw features → disease progression one year on.

    x (count, 10), target (count, 1). Split: a permutation seeded by ``seed``, cut in order
    (default 310/66/66). Features and target are standardized, z = (v − μ)/σ, with μ, σ
    (population std) of the TRAIN split only; ``target_scale`` = (μ, σ) of the raw target
    (values ≈ 25–346), so original units are y · σ + μ.
    """
    features, target = _diabetes_arrays()
    order = np.random.default_rng(seed).permutation(DIABETES_SIZE)[: sum(sizes)]
    features, target = features[order], target[order]
    train = slice(0, sizes[0])
    mean, std = features[train].mean(0), features[train].std(0)
    target_mean, target_std = float(target[train].mean()), float(target[train].std())
    return cut_splits(
        (features - mean) / std,
        ((target - target_mean) / target_std)[:, None],
        sizes,
        (target_mean, target_std),
    )


def build_digits(sizes: tuple[int, int, int], seed: int) -> Splits:
    """scikit-learn's 8×8 handwritten digits: 1797 images, x (count, 1, 8, 8) = pixel / 16 ∈ [0, 1].

    Labels 0 … 9. Split: stratified and seeded (default 1257/180/360): a permutation in which
    every prefix holds each digit in proportion (``stratified_order``) is cut in order, and
    each split is then shuffled.
    """
    images, labels = _digits_arrays()
    rng = np.random.default_rng(seed)
    order = stratified_order(labels, rng)
    start, parts = 0, []
    for size in sizes:
        parts.append(order[start : start + size][rng.permutation(size)])
        start += size
    order = np.concatenate(parts)
    return cut_splits(images[order], labels[order], sizes)


@lru_cache(maxsize=4)
def _mnist1d_arrays(seed: int, num_samples: int) -> tuple[np.ndarray, ...]:
    """mnist1d's ``make_dataset`` with ``num_samples`` and ``seed``; all samples, shuffled.

    ``make_dataset`` seeds Python's and NumPy's global RNGs; their states are restored after.
    It does no I/O (unlike ``get_dataset``, which may download or write a pickle).
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, 1.0, seed
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    return _read_only(data["x"].astype(np.float32)[:, None], data["y"].astype(np.int64))


def build_mnist1d(sizes: tuple[int, int, int], seed: int) -> Splits:
    """MNIST-1D (Greydanus 2020): 10 digit templates as 1-D signals, x (count, 1, 40), labels 0 … 9.

    Generated procedurally by ``mnist1d.data.make_dataset`` with the package's default
    arguments except ``num_samples`` = train + val + test rounded up to a multiple of 10 (5500
    by default) and ``seed`` = our seed (the package's own default would be 42). Each template
    is padded, scaled, translated, sheared and given correlated and i.i.d. noise; the package
    standardizes all samples with one global mean and std. Its shuffled output is cut in
    order: 4000 train, 500 val, 1000 test by default. Cached in memory per (seed, count).
    """
    if seed >= 2**32:
        raise ResodeError(f"seed for mnist1d must be < 2**32, got {seed}")
    num_samples = MNIST1D_CLASSES * math.ceil(sum(sizes) / MNIST1D_CLASSES)
    x, labels = _mnist1d_arrays(seed, num_samples)
    return cut_splits(x, labels, sizes)
