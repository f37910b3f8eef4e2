"""Generated 2-D datasets (seeded, no downloads): peaks, ellipses, spirals, circles, and the
peaks surface as a regression target.

Each generator takes a count and a NumPy ``Generator`` and returns ``(x, targets)`` with
x of shape (count, 2), float64; the classification sets give integer labels of shape (count,),
classes balanced, and ``make_peaks_regression`` gives float64 targets of shape (count, 1).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

PEAKS_CLASSES = 5
PEAKS_BOX = 3.0


def peaks(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """z = 3(1−x)² e^{−x²−(y+1)²} − 10(x/5 − x³ − y⁵) e^{−x²−y²} − ⅓ e^{−(x+1)²−y²}."""
    return (
        3 * (1 - x) ** 2 * np.exp(-(x**2) - (y + 1) ** 2)
        - 10 * (x / 5 - x**3 - y**5) * np.exp(-(x**2) - y**2)
        - np.exp(-((x + 1) ** 2) - y**2) / 3
    )


@lru_cache(maxsize=1)
def peaks_range() -> tuple[float, float]:
    """min and max of the peaks surface over [−3, 3]² (on a 1201² grid)."""
    s = np.linspace(-PEAKS_BOX, PEAKS_BOX, 1201)
    z = peaks(*np.meshgrid(s, s))
    return float(z.min()), float(z.max())


def peaks_class(points: np.ndarray) -> np.ndarray:
    """Level band (0 … 4) of the peaks surface: 5 equal-width bands between its min and max."""
    low, high = peaks_range()
    z = peaks(points[:, 0], points[:, 1])
    band = np.floor((z - low) / (high - low) * PEAKS_CLASSES).astype(np.int64)
    return np.clip(band, 0, PEAKS_CLASSES - 1)


def _balanced(count: int, classes: int, sample_class) -> tuple[np.ndarray, np.ndarray]:
    """Split ``count`` as evenly as possible over classes and draw each class's points."""
    per_class = [count // classes + (k < count % classes) for k in range(classes)]
    xs = [sample_class(k, m) for k, m in enumerate(per_class)]
    labels = np.concatenate([np.full(m, k, dtype=np.int64) for k, m in enumerate(per_class)])
    return np.concatenate(xs), labels


def make_peaks(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points in [−3, 3]², labelled by the level band of peaks; equal points per class."""
    per_class = [count // PEAKS_CLASSES + (k < count % PEAKS_CLASSES) for k in range(PEAKS_CLASSES)]
    chosen: list[list[np.ndarray]] = [[] for _ in range(PEAKS_CLASSES)]
    have = np.zeros(PEAKS_CLASSES, dtype=np.int64)
    while np.any(have < per_class):
        candidates = rng.uniform(-PEAKS_BOX, PEAKS_BOX, size=(max(4 * count, 4096), 2))
        labels = peaks_class(candidates)
        for k in range(PEAKS_CLASSES):
            take = candidates[labels == k][: per_class[k] - have[k]]
            chosen[k].append(take)
            have[k] += len(take)
    x = np.concatenate([np.concatenate(c) for c in chosen])
    labels = np.concatenate([np.full(m, k, dtype=np.int64) for k, m in enumerate(per_class)])
    return x, labels


def make_ellipses(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Class 0: inside the ellipse r ≤ 1; class 1: the ring 1 ≤ r ≤ 2; y scaled by 0.4."""

    def sample(k: int, m: int) -> np.ndarray:
        inner, outer = (0.0, 1.0) if k == 0 else (1.0, 2.0)
        r = np.sqrt(rng.uniform(inner**2, outer**2, m))  # uniform in area
        phi = rng.uniform(0, 2 * np.pi, m)
        return np.stack([r * np.cos(phi), 0.4 * r * np.sin(phi)], axis=1)

    return _balanced(count, 2, sample)


def make_spirals(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals of 1.5 turns (r = s, φ = 3πs + kπ), noise 0.02."""

    def sample(k: int, m: int) -> np.ndarray:
        s = np.sqrt(rng.uniform(0.0025, 1, m))
        phi = 3 * np.pi * s + k * np.pi
        points = np.stack([s * np.cos(phi), s * np.sin(phi)], axis=1)
        return points + 0.02 * rng.standard_normal((m, 2))

    return _balanced(count, 2, sample)


def make_circles(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric noisy circles: radius 0.5 (class 0) and 1 (class 1), noise 0.08."""

    def sample(k: int, m: int) -> np.ndarray:
        radius = 0.5 if k == 0 else 1.0
        phi = rng.uniform(0, 2 * np.pi, m)
        points = radius * np.stack([np.cos(phi), np.sin(phi)], axis=1)
        return points + 0.08 * rng.standard_normal((m, 2))

    return _balanced(count, 2, sample)


def make_peaks_regression(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points in [−3, 3]² (count, 2) and their peaks value z(x, y) as target (count, 1)."""
    x = rng.uniform(-PEAKS_BOX, PEAKS_BOX, size=(count, 2))
    return x, peaks(x[:, 0], x[:, 1])[:, None]
