"""Which starting settings a user's own data gets: a class from the data's kind and size.

``resode train --data csv:PATH`` (``npz:``, ``folder:``) without ``--recipe`` or ``--config``
starts from the recipe ``auto-CLASS`` (a file ``auto-CLASS.toml`` beside the dataset recipes,
its settings measured with ``benchmarks/auto_settings.py``) of the data's class:

    small-table    vectors (count, d), fewer than SMALL_TABLE examples
    large-table    vectors, SMALL_TABLE examples or more
    small-images   images (count, C, H, W) of at most SMALL_IMAGE_SIDE pixels a side, or
                   fewer than FEW_IMAGES of them
    large-images   larger images, FEW_IMAGES or more
    signals        signals (count, c, L)

Only the data's kind, count and shape of one example decide, never its values. A network
halves the resolution between units, so inputs whose sides halve fewer times than a recipe has
connectors keep only the first units that fit (:func:`fit_units`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SMALL_TABLE = 2000
SMALL_IMAGE_SIDE = 32
FEW_IMAGES = 500
AUTO_PREFIX = "auto-"
CLASSES = ("small-table", "large-table", "small-images", "large-images", "signals")
EXAMPLE_DATA = {"vector": "peaks", "signal": "mnist1d", "image": "digits"}
"""A built-in dataset of each input kind: what an automatic recipe's settings are checked on
when no user's data is named."""


@dataclass(frozen=True)
class DataClass:
    """A class of data: the name of its settings (``auto-NAME``) and why, in words."""

    name: str
    reason: str


def data_class(kind: str, count: int, shape: tuple[int, ...]) -> DataClass:
    """The class of ``count`` examples of ``kind`` ("vector", "signal", "image"), each of
    ``shape`` ((d,), (c, L) or (C, H, W))."""
    if kind == "vector":
        size = "small" if count < SMALL_TABLE else "large"
        why = "" if size == "small" else f": {SMALL_TABLE} rows or more"
        return DataClass(f"{size}-table", f"{size} table ({count} rows, {shape[0]} features{why})")
    dims = "×".join(map(str, shape))
    if kind == "signal":
        return DataClass("signals", f"signals ({count} signals of {dims})")
    small_side, few = max(shape[1:]) <= SMALL_IMAGE_SIDE, count < FEW_IMAGES
    if small_side or few:
        why = f"at most {SMALL_IMAGE_SIDE}×{SMALL_IMAGE_SIDE}" if small_side else "few"
        return DataClass("small-images", f"small images ({count} images of {dims}: {why})")
    why = f"larger than {SMALL_IMAGE_SIDE}×{SMALL_IMAGE_SIDE}, {FEW_IMAGES} or more"
    return DataClass("large-images", f"large images ({count} images of {dims}: {why})")


def fit_units(settings: dict[str, Any], shape: tuple[int, ...]) -> tuple[dict[str, Any], str]:
    """``settings`` with as many of their units (``widths``, per-unit ``steps``) as inputs of
    ``shape`` (c, *sides) pass — every side halved once per connector — and a note saying so
    ("" when all fit)."""
    widths = settings.get("widths")
    if widths is None or len(shape) < 2:
        return settings, ""
    halvings = 0
    while halvings + 1 < len(widths) and not any(side % 2 ** (halvings + 1) for side in shape[1:]):
        halvings += 1
    units = halvings + 1
    if units == len(widths):
        return settings, ""
    fitted = {**settings, "widths": widths[:units]}
    if isinstance(settings.get("steps"), list):
        fitted["steps"] = settings["steps"][:units]
    sides = "×".join(map(str, shape[1:]))
    halves = {0: "cannot be halved", 1: "halves once"}.get(halvings, f"halves {halvings} times")
    return fitted, f" ({sides} {halves}: {units} of its {len(widths)} units)"
