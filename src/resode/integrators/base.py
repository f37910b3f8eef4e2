"""What every integrator is: a step on a *carry* of tensors, the one step loop, its order and
its stability; and the capabilities some integrators need from a vector field.

One-step methods carry the state alone, ``(Y_l,)``. Multistep and staggered methods carry
more: the two-step leapfrog carries ``(Y_{l−1}, Y_l)``, Störmer–Verlet ``(Y_l, Z_{l−1/2})``.
Integrating N steps is

    carry = initial(field, Y0, h, p_0)                  (the start procedure)
    carry = advance(field, carry, h, p_l),  l = 0 … N−1  (:meth:`Integrator.iterate`)
    Y_N   = current(carry)

where ``p_l[i]`` holds the parameters of stage i of step l (the weights θ(t_l + c_i h) in a
block, the time t_l + c_i h for a callable f(t, y)). :meth:`Integrator.iterate` is the only
step loop in resode's library: the block's forward pass and states, every memory mode,
``integrate``, the step-map analysis and the diagnosis all run it. The one exception is an
experiment's: :func:`~resode.experiments.landscape.landscape_forward` steps forward Euler
by hand, in place and without gradients, for 101² fixed 3×3 kernels at once, where this
loop's fresh tensors per step took 1.56–1.61× its time (1.27–1.33× with a reused slope
buffer; ``benchmarks/landscape_loop.py``). A :class:`ReversibleIntegrator` also steps
backward exactly (``reverse``, ``undo_initial``), so states can be rebuilt, not stored.

Stability on the linear test equation y' = λy is ``amplification(z)``, z = hλ: the largest
root modulus of the method's characteristic polynomial (|R(z)| for a one-step method); the
step is stable where it is ≤ 1. ``max_stable_step`` turns a spectrum into the largest h.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ResodeError, tracing
from ..stop import STOP, interrupt

Carry = tuple[torch.Tensor, ...]
StepParameters = Sequence[Any]
"""One entry per stage: what the vector field needs at stage i of a step."""
VectorField = Callable[[torch.Tensor, Any], torch.Tensor]


@dataclass(frozen=True)
class Blend:
    """The parameters of a stage whose span crosses a jump of piecewise-constant weights.

    The stage's rate is the time average over its span, Σ_j w_j f(·, p_j), w_j being the
    share of the span in weight interval j (Σ w_j = 1); ``at`` is θ at the stage's own time,
    for analyses that need one Jacobian. Integrators with ``stage_spans`` receive these.
    """

    parts: tuple[tuple[float, Any], ...]
    at: Any


def stage_rate(f: Callable[[torch.Tensor, Any], torch.Tensor], y: torch.Tensor, p: Any):
    """f(y, p), or Σ_j w_j f(y, p_j) when ``p`` is a :class:`Blend`."""
    if not isinstance(p, Blend):
        return f(y, p)
    total = None
    for weight, part in p.parts:
        term = f(y, part) * weight
        total = term if total is None else total + term
    return total


def at_stage_time(p: Any) -> Any:
    """The stage parameters at the stage's own time (``p.at`` for a :class:`Blend`)."""
    return p.at if isinstance(p, Blend) else p


class SplitField(ABC):
    """A field on a pair: Y' = f_Y(Z), Z' = f_Z(Y), the state being [Y, Z] along dim 1."""

    description = "split"

    @abstractmethod
    def split_state(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Y, Z) from the state [Y, Z]."""

    @abstractmethod
    def position_rate(self, z: torch.Tensor, p: Any) -> torch.Tensor:
        """f_Y(Z) at the stage parameters ``p``."""

    @abstractmethod
    def momentum_rate(self, y: torch.Tensor, p: Any) -> torch.Tensor:
        """f_Z(Y) at the stage parameters ``p``."""


class ImplicitField(ABC):
    """A field −L Y + g(Y) with L symmetric positive definite, solvable implicitly."""

    description = "implicit"

    @abstractmethod
    def explicit_rate(self, y: torch.Tensor, p: Any) -> torch.Tensor:
        """g(Y), the part an IMEX step treats explicitly."""

    @abstractmethod
    def implicit_solve(self, r: torch.Tensor, h: float, p: Any) -> torch.Tensor:
        """(I + hL)⁻¹ r, exactly."""

    @abstractmethod
    def reaction_jacobian(self, y: torch.Tensor, p: Any) -> torch.Tensor:
        """∂g/∂Y per example, shape (batch, n, n): the spectrum an IMEX step is judged on."""


class Integrator(ABC):
    """A time integrator; subclasses set ``name``, ``order``, ``stage_offsets`` and implement
    :meth:`advance`, :meth:`amplification` and :meth:`max_stable_step`."""

    name: str = ""
    order: int = 1
    stage_offsets: tuple[float, ...] = (0.0,)
    stage_spans: tuple[tuple[float, float], ...] | None = None
    """Per stage, the (a, b) of the span [t_l + a h, t_l + b h] its rate stands for: Verlet's
    kick and drift, the leapfrog's jump, a Runge–Kutta stage's piece of the quadrature
    (a = b: the stage's own time). Where piecewise-constant weights jump inside a span
    (N > M), the rate is blended over the weight sets (:class:`Blend`), so a step across a
    jump is exact to first order and the method keeps order min(p, 2) at a fixed weight grid
    (:mod:`~resode.integrators.stages`). None: stages at their own times."""
    needs: type | None = None
    """The capability the vector field must have (:class:`SplitField`, :class:`ImplicitField`)."""
    stability_on_explicit_part: bool = False
    """Judged on the spectrum of the explicit part of an :class:`ImplicitField` (IMEX)."""
    no_stability_function: str = ""
    """Why the method has no single R(z) (empty when it has one)."""
    discretizes_ode: bool = True
    """False for the plain network's layer map, which has no step size, order or region."""

    @property
    def reversible(self) -> bool:
        """Whether steps can be undone exactly (a :class:`ReversibleIntegrator`)."""
        return isinstance(self, ReversibleIntegrator)

    def supports(self, field) -> bool:
        """Whether this integrator can step ``field`` (a class or an instance; None: any
        first-order field)."""
        if self.needs is None:
            return True
        if field is None:
            return False
        return issubclass(field if isinstance(field, type) else type(field), self.needs)

    def initial(self, field, y0: torch.Tensor, h: float, parameters: StepParameters) -> Carry:
        """The carry at step 0 (``parameters`` are those of step 0)."""
        return (y0,)

    @abstractmethod
    def advance(self, field, carry: Carry, h: float, parameters: StepParameters) -> Carry:
        """carry_l → carry_{l+1} with the stage parameters of step l."""

    def current(self, carry: Carry) -> torch.Tensor:
        """The state Y_l a carry stands for."""
        return carry[-1]

    def iterate(
        self, field, carry: Carry, h: float, steps: Sequence[StepParameters]
    ) -> Iterator[Carry]:
        """The step loop: from ``carry``, one step per entry of ``steps``, yielding each new
        carry (carry_{l+1} after step l). A stop requested during training ends it between
        two steps (:mod:`resode.stop`)."""
        for parameters in steps:
            if STOP.pending and not tracing():
                interrupt()
            carry = self.advance(field, carry, h, parameters)
            yield carry

    def run(self, field, carry: Carry, h: float, steps: Sequence[StepParameters]) -> Carry:
        """The carry after all of ``steps`` (:meth:`iterate` to the end)."""
        last = carry
        for last in self.iterate(field, carry, h, steps):  # noqa: B007 - only the last counts
            pass
        return last

    def solve(self, field, y0: torch.Tensor, h: float, steps: Sequence[StepParameters]):
        """Y_N from Y_0: start, run every step, read the state."""
        return self.current(self.run(field, self.initial(field, y0, h, steps[0]), h, steps))

    @abstractmethod
    def amplification(self, z):
        """Largest root modulus of the characteristic polynomial at z = hλ (NumPy/complex)."""

    def stability_function(self, z):
        """R(z) where the method has one (one-step methods); else see :meth:`amplification`."""
        raise ResodeError(
            f"integrator {self.name!r} has no single stability function R(z): "
            f"{self.no_stability_function}; use amplification(z)"
        )

    @abstractmethod
    def max_stable_step(self, eigenvalues: np.ndarray, tol: float = 1e-9) -> float:
        """Largest h with every hλ in the stability region (λ: a complex array, nonzero)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, order={self.order})"


class ReversibleIntegrator(Integrator):
    """An integrator whose step can be undone exactly: carry_{l+1} → carry_l."""

    @abstractmethod
    def reverse(self, field, carry: Carry, h: float, parameters: StepParameters) -> Carry:
        """carry_{l+1} → carry_l."""

    @abstractmethod
    def undo_initial(self, field, carry: Carry, h: float, parameters: StepParameters):
        """carry_0 → Y0."""

    def reverse_and_redo(
        self, field, carry: Carry, h: float, parameters: StepParameters
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
