"""Validated Butcher tableaus for explicit Runge–Kutta methods and their stability functions.

A tableau (A, b, c) defines the step

    k_i     = f(t_l + c_i h, Y_l + h Σ_j a_ij k_j),   i = 1..s
    Y_{l+1} = Y_l + h Σ_i b_i k_i

and, applied to y' = λy, the stability function R(z) = 1 + z bᵀ(I − zA)⁻¹𝟙 with z = hλ.
For an explicit method A is strictly lower triangular, hence nilpotent, and R is the
polynomial 1 + Σ_{k=0}^{s-1} bᵀA^k𝟙 z^{k+1}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

Z = TypeVar("Z")

_TOL = 1e-12


@dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge–Kutta method: ``a`` (s×s, strictly lower triangular), ``b``, ``c``."""

    name: str
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]
    order: int
    stability_polynomial: tuple[float, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        a = np.asarray(self.a, dtype=np.float64)
        b = np.asarray(self.b, dtype=np.float64)
        c = np.asarray(self.c, dtype=np.float64)
        s = len(b)
        if s < 1 or a.shape != (s, s) or c.shape != (s,):
            raise ValueError(f"tableau {self.name!r}: a must be {s}x{s} and c of length {s}")
        if np.any(np.abs(np.triu(a)) > _TOL):
            raise ValueError(f"tableau {self.name!r}: a must be strictly lower triangular")
        if np.any(np.abs(a.sum(axis=1) - c) > 1e-10):
            raise ValueError(f"tableau {self.name!r}: c_i must equal the row sums of a")
        if abs(b.sum() - 1.0) > 1e-10:
            raise ValueError(f"tableau {self.name!r}: the weights b must sum to 1")
        if self.order < 1:
            raise ValueError(f"tableau {self.name!r}: order must be >= 1")
        # R(z) = 1 + Σ_k (bᵀ A^k 𝟙) z^{k+1}, coefficients in increasing powers of z.
        coefficients = [1.0]
        power = np.ones(s)
        for _ in range(s):
            coefficients.append(float(b @ power))
            power = a @ power
        object.__setattr__(self, "stability_polynomial", tuple(coefficients))

    @property
    def stages(self) -> int:
        return len(self.b)

    def stability_function(self, z: Z) -> Z:
        """R(z) for complex ``z`` (Python number, NumPy array or torch tensor), by Horner."""
        result = z * 0 + self.stability_polynomial[-1]
        for coefficient in reversed(self.stability_polynomial[:-1]):
            result = result * z + coefficient
        return result


EULER = ButcherTableau("euler", a=((0.0,),), b=(1.0,), c=(0.0,), order=1)

HEUN = ButcherTableau(
    "heun",
    a=((0.0, 0.0), (1.0, 0.0)),
    b=(0.5, 0.5),
    c=(0.0, 1.0),
    order=2,
)

RK3 = ButcherTableau(  # Kutta's third-order method
    "rk3",
    a=((0.0, 0.0, 0.0), (0.5, 0.0, 0.0), (-1.0, 2.0, 0.0)),
    b=(1 / 6, 2 / 3, 1 / 6),
    c=(0.0, 0.5, 1.0),
    order=3,
)

RK4 = ButcherTableau(  # the classical fourth-order method
    "rk4",
    a=(
        (0.0, 0.0, 0.0, 0.0),
        (0.5, 0.0, 0.0, 0.0),
        (0.0, 0.5, 0.0, 0.0),
        (0.0, 0.0, 1.0, 0.0),
    ),
    b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
    c=(0.0, 0.5, 0.5, 1.0),
    order=4,
)
