"""Error types and the small validators every public entry point uses.

Every message is one line that says what was wrong and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


class ResodeError(ValueError):
    """Bad input or configuration (an unknown name, an out-of-range value, a wrong shape)."""


class TrainingDivergedError(RuntimeError):
    """Training produced a non-finite loss; the last good checkpoint is left untouched."""


class RunDirectoryError(ResodeError):
    """A run directory is missing, incomplete or corrupt."""


def check_choice(kind: str, value: str, valid: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``valid``, else raise naming the valid choices."""
    valid = sorted(valid)
    if not isinstance(value, str) or value not in valid:
        raise ResodeError(f"unknown {kind} {value!r}; choose one of: {', '.join(valid)}")
    return value


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ResodeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ResodeError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as a float if it is finite and > 0."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ResodeError(f"{name} must be a positive number, got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise ResodeError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def check_nonnegative(name: str, value: object) -> float:
    """Return ``value`` as a float if it is finite and >= 0."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ResodeError(f"{name} must be a number >= 0, got {value!r}") from None
    if not (math.isfinite(number) and number >= 0):
        raise ResodeError(f"{name} must be a finite number >= 0, got {value!r}")
    return number
