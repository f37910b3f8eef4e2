"""What every integrator offers: a step on a *carry* of tensors, its order and its stability.

One-step methods carry the state alone, ``(Y_l,)``. Multistep and staggered methods carry
more: the two-step leapfrog carries ``(Y_{l−1}, Y_l)``, Störmer–Verlet ``(Y_l, Z_{l−1/2})``.
A block integrates N steps as

    carry = initial(field, Y0, h, p_0)                  (the start procedure)
    carry = advance(field, carry, h, p_l),  l = 0 … N−1
    Y_N   = current(carry)

where ``p_l[i]`` holds the weights θ(t_l + c_i h) for stage offset c_i. A *reversible*
integrator also provides ``reverse`` (carry_{l+1} → carry_l) and ``undo_initial`` (carry_0 →
Y0), which lets a block rebuild the states backward instead of storing them.

Stability of the linear test equation y' = λy is described by ``amplification(z)``, z = hλ:
the largest modulus of the roots of the method's characteristic polynomial (|R(z)| for a
one-step method). The step is stable where it is ≤ 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ResodeError

Carry = tuple[torch.Tensor, ...]
VectorField = Callable[[torch.Tensor, Any], torch.Tensor]


class Integrator:
    """Base class; subclasses set ``name``, ``order``, ``stage_offsets`` and implement advance."""

    name: str = ""
    order: int = 1
    stage_offsets: tuple[float, ...] = (0.0,)
    reversible: bool = False
    requires: str | None = None
    """A capability the dynamics must have (``"split"``, ``"implicit"``), or None."""

    def supports(self, dynamics) -> bool:
        return self.requires is None or bool(getattr(dynamics, self.requires, False))

    def initial(self, field, y0: torch.Tensor, h: float, parameters: Sequence[Any]) -> Carry:
        """The carry at step 0 (``parameters`` are those of step 0)."""
        return (y0,)

    def advance(self, field, carry: Carry, h: float, parameters: Sequence[Any]) -> Carry:
        raise NotImplementedError

    def current(self, carry: Carry) -> torch.Tensor:
        """The state Y_l a carry stands for."""
        return carry[-1]

    def reverse(self, field, carry: Carry, h: float, parameters: Sequence[Any]) -> Carry:
        """carry_{l+1} → carry_l (reversible integrators only)."""
        raise ResodeError(f"integrator {self.name!r} is not reversible")

    def reverse_and_redo(
        self, field, carry: Carry, h: float, parameters: Sequence[Any]
    ) -> tuple[Carry, Carry]:
        """carry_{l+1} → (carry_l as leaves requiring grad, carry_{l+1} recomputed from them
        with a graph), for the reversible backward pass. Default: an exact reverse step
        without a graph, then the step again; a method may share evaluations between both."""
        with torch.no_grad():
            previous = self.reverse(field, carry, h, parameters)
        inputs = tuple(x.detach().requires_grad_() for x in previous)
        return inputs, self.advance(field, inputs, h, parameters)

    def backward_step(
        self, field, carry: Carry, grads: Carry, h: float, parameters, leaves: Sequence
    ) -> tuple[Carry, Carry, tuple]:
        """One step of the reversible backward pass: from carry_{l+1} and ∂L/∂carry_{l+1}
        to (carry_l, ∂L/∂carry_l, ∂L/∂leaves), ``parameters`` being built from ``leaves``."""
        with torch.enable_grad():
            inputs, outputs = self.reverse_and_redo(field, carry, h, parameters)
            result = torch.autograd.grad(outputs, (*inputs, *leaves), grads, allow_unused=True)
        input_grads = tuple(
            torch.zeros_like(x) if g is None else g for x, g in zip(inputs, result[: len(inputs)])
        )
        return tuple(x.detach() for x in inputs), input_grads, result[len(inputs) :]

    def undo_initial(self, field, carry: Carry, h: float, parameters: Sequence[Any]):
        """carry_0 → Y0 (reversible integrators only)."""
        raise ResodeError(f"integrator {self.name!r} is not reversible")

    def amplification(self, z):
        """Largest root modulus of the characteristic polynomial at z = hλ (NumPy/complex)."""
        raise NotImplementedError

    def stability_function(self, z):
        """R(z) where the method has one (one-step methods); else see :meth:`amplification`."""
        raise ResodeError(
            f"integrator {self.name!r} is a multistep method: it has no single R(z); "
            "use amplification(z)"
        )

    def max_stable_step(self, eigenvalues: np.ndarray, tol: float = 1e-9) -> float:
        """Largest h with every hλ in the stability region (λ: complex array, cleaned)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, order={self.order})"


def imaginary_segment_step(eigenvalues: np.ndarray, radius: float, tol: float) -> float:
    """Largest h with h·λ on the imaginary segment |z| < radius for all λ.

    Methods stable only on such a segment (leapfrog, Verlet) have no stable step as soon as
    one λ leaves the imaginary axis (|Re λ| above tol·max|λ|).
    """
    if eigenvalues.size == 0:
        return math.inf
    scale = float(np.abs(eigenvalues).max())
    if scale == 0.0:
        return math.inf
    if np.any(np.abs(eigenvalues.real) > tol * scale):
        return 0.0
    return radius / scale


def largest_root_modulus(coefficients: list) -> np.ndarray:
    """max |ξ| over the roots of a ξ² + b ξ + c = 0, elementwise (a, b, c arrays or numbers)."""
    a, b, c = (np.asarray(v, dtype=np.complex128) for v in coefficients)
    root = np.sqrt(b * b - 4 * a * c)
    return np.maximum(np.abs((-b + root) / (2 * a)), np.abs((-b - root) / (2 * a)))
