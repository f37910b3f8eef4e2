"""Generated segmentation images (seeded, no downloads): geometric shapes and coloured-cap bars.

Both generators take a count, a NumPy ``Generator`` and the image side ``size`` (pixels) and
return x of shape (count, channels, size, size), float32, and per-pixel labels of shape
(count, size, size), int64, label 0 = background. Lengths are given for size 32 and scale
with size / 32.
"""

from __future__ import annotations

import numpy as np

from ..errors import ResodeError

SHAPE_CLASSES = ("background", "disk", "ellipse", "rectangle", "triangle")
BAR_CLASSES = ("background", "red", "green", "blue")
MIN_IMAGE_SIZE = 16
MAX_IMAGE_SIZE = 256
MAX_SHAPES = 4
MAX_BARS = 4
PLACEMENT_TRIES = 30
NOISE = 0.03
BAR_GRAY = 0.5
BAR_BACKGROUND = 0.1
BAR_WIDTH = 2
CAP_HIGH, CAP_LOW = 0.95, 0.1  # a cap's own channel and its other two channels


def check_image_size(name: str, value: object) -> int:
    """Return ``value`` if it is an integer side length in [16, 256]."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ResodeError(f"{name} must be an integer in [16, 256], got {value!r}")
    if not MIN_IMAGE_SIZE <= value <= MAX_IMAGE_SIZE:
        raise ResodeError(f"{name} must be an integer in [16, 256], got {value}")
    return int(value)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates: rows (1, size, 1) and columns (1, 1, size), in pixels."""
    centres = np.arange(size) + 0.5
    return centres[None, :, None], centres[None, None, :]


def _shape_masks(kinds: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Masks (m, size, size) of one random shape per entry of ``kinds`` (1 … 4, see SHAPE_CLASSES).

    At size 32: disk radius 4–8; ellipse semi-axes a ∈ [6, 10], b = (0.35–0.6)·a, any rotation;
    rectangle half-sides 3–7, axis-aligned or rotated (half each); triangle with circumradius
    6–10 and vertices 120° ± 29° apart. Each lies inside the image.
    """
    scale = size / 32
    m = len(kinds)
    rows, cols = _grid(size)
    masks = np.zeros((m, size, size), dtype=bool)
    for kind in range(1, len(SHAPE_CLASSES)):
        chosen = np.flatnonzero(kinds == kind)
        k = len(chosen)
        if k == 0:
            continue
        angle = rng.uniform(0, np.pi, k)
        if kind == 1:
            a = b = rng.uniform(4, 8, k) * scale
            extent = a
        elif kind == 2:
            a = rng.uniform(6, 10, k) * scale
            b = a * rng.uniform(0.35, 0.6, k)
            extent = a
        elif kind == 3:
            a, b = rng.uniform(3, 7, (2, k)) * scale
            angle = np.where(rng.random(k) < 0.5, 0.0, angle / 2)
            extent = np.hypot(a, b)
        else:
            extent = rng.uniform(6, 10, k) * scale
            a = b = extent
        cy, cx = (extent + rng.random((2, k)) * (size - 2 * extent))[..., None, None]
        dy, dx = rows - cy, cols - cx
        if kind == 4:
            phi = rng.uniform(0, 2 * np.pi, k)[:, None] + np.array([0, 2, 4]) * np.pi / 3
            phi[:, 1:] += rng.uniform(-0.5, 0.5, (k, 2))
            vy, vx = extent[:, None] * np.sin(phi), extent[:, None] * np.cos(phi)  # (k, 3)
            edges = []
            for i in range(3):
                j = (i + 1) % 3
                ey, ex = (vy[:, j] - vy[:, i])[:, None, None], (vx[:, j] - vx[:, i])[:, None, None]
                py, px = dy - vy[:, i, None, None], dx - vx[:, i, None, None]
                edges.append(ex * py - ey * px)  # cross product: the side of edge i
            edges = np.stack(edges)
            masks[chosen] = (edges >= 0).all(0) | (edges <= 0).all(0)
            continue
        cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
        u, v = (dx * cos + dy * sin) / a[:, None, None], (dy * cos - dx * sin) / b[:, None, None]
        masks[chosen] = (u**2 + v**2 <= 1) if kind < 3 else (np.abs(u) <= 1) & (np.abs(v) <= 1)
    return masks


def _grow(masks: np.ndarray) -> np.ndarray:
    """Masks (m, H, W) grown by one pixel in the four axis directions."""
    grown = masks.copy()
    grown[:, 1:] |= masks[:, :-1]
    grown[:, :-1] |= masks[:, 1:]
    grown[:, :, 1:] |= masks[:, :, :-1]
    grown[:, :, :-1] |= masks[:, :, 1:]
    return grown


def _smooth_background(count: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """(count, size, size): level 0.3–0.7 + linear gradient (≤ 0.15 from the centre) + a wave.

    The wave is A cos(2π (f · p) / size + φ) with A ≤ 0.08 and at most one period per image.
    """
    rows, cols = _grid(size)
    rows, cols = rows / size - 0.5, cols / size - 0.5
    level = rng.uniform(0.3, 0.7, count)[:, None, None]
    slope = rng.uniform(0, 0.15, count) / 0.5
    direction = rng.uniform(0, 2 * np.pi, count)
    gy, gx = (slope * np.sin(direction))[:, None, None], (slope * np.cos(direction))[:, None, None]
    fy, fx = rng.uniform(-1, 1, (2, count))[..., None, None]
    amplitude, phase = rng.uniform(0, 0.08, count), rng.uniform(0, 2 * np.pi, count)
    wave = amplitude[:, None, None] * np.cos(
        2 * np.pi * (fy * rows + fx * cols) + phase[:, None, None]
    )
    return level + gy * rows + gx * cols + wave


def draw_shapes(
    count: int, rng: np.random.Generator, size: int = 32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``make_shapes`` plus the number of shapes in each image, (count,) int64, 1 … 4."""
    wanted = rng.integers(1, MAX_SHAPES + 1, count)
    smooth = _smooth_background(count, rng, size)
    image = smooth.copy()
    labels = np.zeros((count, size, size), dtype=np.int64)
    owner = np.full((count, size, size), -1, dtype=np.int8)  # which slot shows at each pixel
    area = np.zeros((count, MAX_SHAPES), dtype=np.int64)
    for slot in range(MAX_SHAPES):
        todo = np.flatnonzero(wanted > slot)
        kinds = rng.integers(1, len(SHAPE_CLASSES), len(todo))
        for _ in range(PLACEMENT_TRIES):
            if len(todo) == 0:
                break
            masks = _shape_masks(kinds, rng, size)
            local = (smooth[todo] * masks).sum((1, 2)) / np.maximum(masks.sum((1, 2)), 1)
            contrast = rng.uniform(0.25, 0.45, len(todo)) * rng.choice([-1.0, 1.0], len(todo))
            contrast = np.where(local + contrast > 1, -np.abs(contrast), contrast)
            value = local + np.where(local + contrast < 0, np.abs(contrast), contrast)
            near = _grow(masks)
            # shapes neither overlap nor touch: each keeps its whole outline
            fits = ~((owner[todo] >= 0) & near).any((1, 2))
            placed, masks, value = todo[fits], masks[fits], value[fits]
            for target, fill in ((image, value), (labels, kinds[fits]), (owner, slot)):
                chosen = target[placed]
                fill = np.broadcast_to(np.asarray(fill)[..., None, None], masks.shape)
                chosen[masks] = fill[masks]
                target[placed] = chosen
            area[placed, slot] = masks.sum((1, 2))
            todo, kinds = todo[~fits], kinds[~fits]
    image += NOISE * rng.standard_normal(image.shape)
    return image[:, None].astype(np.float32), labels, (area > 0).sum(1)


def make_shapes(
    count: int, rng: np.random.Generator, size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """1–4 shapes per image on a smooth, noisy background: x (count, 1, size, size), labels.

    Labels: 0 background, 1 disk, 2 ellipse, 3 rectangle, 4 triangle. Shapes neither overlap
    nor touch (placement is retried, else the shape is left out), so each shows its whole
    outline.
    Background: level + gradient + low-frequency wave. Each shape is flat, 0.25–0.45 brighter
    or darker (at random) than the background under it, so geometry, not brightness, gives the
    class. Gaussian noise σ = 0.03 over all.
    """
    x, labels, _ = draw_shapes(count, rng, size)
    return x, labels


def _bar_masks(
    count: int, rng: np.random.Generator, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random bars: masks of the bar, its cap and the bar grown by 1 px, each (count, size, size).

    Length 12–28 px (at size 32), width 2, horizontal or vertical (half each); the cap covers
    the last 2 or 3 px at a random end.
    """
    scale = size / 32
    rows, cols = _grid(size)
    rows, cols = rows - 0.5, cols - 0.5  # integer pixel indices
    length = rng.integers(round(12 * scale), round(28 * scale) + 1, count)
    start = rng.integers(0, size - length + 1)  # along the bar
    side = rng.integers(0, size - BAR_WIDTH + 1, count)  # across the bar
    cap = rng.integers(2, 4, count)
    cap_start = np.where(rng.random(count) < 0.5, start, start + length - cap)
    vertical = (rng.random(count) < 0.5)[:, None, None]
    along = np.where(vertical, rows, cols)
    across = np.where(vertical, cols, rows)

    def box(low: np.ndarray, high: np.ndarray, grow: int = 0) -> np.ndarray:
        within = (along >= (low - grow)[:, None, None]) & (along < (high + grow)[:, None, None])
        beside = across >= (side - grow)[:, None, None]
        return within & beside & (across < (side + BAR_WIDTH + grow)[:, None, None])

    return (
        box(start, start + length),
        box(cap_start, cap_start + cap),
        box(start, start + length, 1),
    )


def make_bars(
    count: int, rng: np.random.Generator, size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """2–4 gray bars per image, each with a coloured cap: x (count, 3, size, size), labels.

    Bars are 2 px wide, 12–28 px long, horizontal or vertical, 0.5 gray, never touching
    (1 px apart at least), on a dark background (0.1); each has a 2×2 or 2×3 cap at one end
    coloured red, green or blue (0.95 in its channel, 0.1 in the others). Every pixel of a bar,
    cap included, is labelled with the cap's colour: 1 red, 2 green, 3 blue; background 0. The
    class must therefore travel along the bar. Gaussian noise σ = 0.03 over all channels.
    """
    wanted = rng.integers(2, MAX_BARS + 1, count)
    image = np.full((count, 3, size, size), BAR_BACKGROUND)
    labels = np.zeros((count, size, size), dtype=np.int64)
    blocked = np.zeros((count, size, size), dtype=bool)
    for slot in range(MAX_BARS):
        todo = np.flatnonzero(wanted > slot)
        tries = 0
        while len(todo) > 0 and (slot < 2 or tries < PLACEMENT_TRIES):  # two bars always fit
            tries += 1
            if tries > 100 * PLACEMENT_TRIES:  # pragma: no cover - cannot happen for size >= 16
                raise RuntimeError("could not place two bars in an image")
            bar, cap, grown = _bar_masks(len(todo), rng, size)
            colour = rng.integers(1, len(BAR_CLASSES), len(todo))
            fits = ~(bar & blocked[todo]).any((1, 2))
            placed, bar, cap, grown = todo[fits], bar[fits], cap[fits], grown[fits]
            chosen, pixels = image[placed], np.where(cap, CAP_LOW, BAR_GRAY)
            channel = colour[fits][:, None, None, None] - 1 == np.arange(3)[None, :, None, None]
            coloured = np.where(channel & cap[:, None], CAP_HIGH, pixels[:, None])
            on_bar = np.broadcast_to(bar[:, None], chosen.shape)
            chosen[on_bar] = coloured[on_bar]
            image[placed] = chosen
            chosen = labels[placed]
            chosen[bar] = np.broadcast_to(colour[fits][:, None, None], bar.shape)[bar]
            labels[placed] = chosen
            blocked[placed] |= grown
            todo = todo[~fits]
    image += NOISE * rng.standard_normal(image.shape)
    return image.astype(np.float32), labels
