"""Error types and the small validators every public entry point uses.

Every message is one line that says what was wrong and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch


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
    return _finite_number(name, value, "> 0", lambda number: number > 0)


def check_nonnegative(name: str, value: object) -> float:
    """Return ``value`` as a float if it is finite and >= 0."""
    return _finite_number(name, value, ">= 0", lambda number: number >= 0)


def _finite_number(name: str, value: object, bound: str, inside: Callable[[float], bool]):
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        kind = "a positive number" if bound == "> 0" else f"a number {bound}"
        raise ResodeError(f"{name} must be {kind}, got {value!r}") from None
    if not (math.isfinite(number) and inside(number)):
        raise ResodeError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


def check_odd(name: str, value: object) -> int:
    """Return ``value`` if it is an odd integer >= 1 (a kernel side)."""
    check_int(name, value)
    if value % 2 == 0:  # type: ignore[operator]
        raise ResodeError(f"{name} must be odd (3, 5, …), got {value}")
    return value  # type: ignore[return-value]


def tracing() -> bool:
    """Whether torch.export, torch.compile or torch.jit.trace is recording the code now."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing()


def check_tensor(
    value: object,
    name: str = "input",
    *,
    shape: Callable[[tuple[int, ...]], str | None] | None = None,
    like: torch.Tensor | None = None,
    complex_ok: bool = False,
) -> torch.Tensor:
    """The one check of a tensor handed to resode: a ``torch.Tensor``; of a shape ``shape``
    accepts (it returns the error message, or None); floating point (or complex with
    ``complex_ok``); of the dtype and device of ``like``; finite (not while a graph is
    traced: that check depends on the data). Returns ``value``."""
    if not isinstance(value, torch.Tensor):
        raise ResodeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    problem = shape(tuple(value.shape)) if shape is not None else None
    if problem:
        raise ResodeError(problem)
    if not (value.is_floating_point() or (complex_ok and value.is_complex())):
        kind = "floating-point or complex" if complex_ok else "floating-point"
        raise ResodeError(f"{name} must be a {kind} tensor, got {value.dtype}")
    if like is not None and (value.dtype != like.dtype or value.device != like.device):
        raise ResodeError(
            f"{name} is {value.dtype} on {value.device}; the network is {like.dtype} on "
            f"{like.device}: convert one with .to()"
        )
    if not tracing() and not bool(torch.isfinite(value).all()):
        raise ResodeError(f"{name} contains non-finite values (nan or inf)")
    return value
