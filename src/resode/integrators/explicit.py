"""One generic explicit Runge–Kutta stepper, driven by a :class:`ButcherTableau`, and the
largest stable step of its stability polynomial.

Adding an explicit method is adding a tableau. The stepper is stateless: the vector field
and its per-stage parameters are passed in, so the same code integrates a network block
(parameters = stage weights θ(t_l + c_i h)) and any callable f(t, y) (parameters = times).

Largest stable step: for each direction e^{iφ} of the eigenvalues, the stable segment of the
ray {u e^{iφ}} ends at the first u > 0 where |R(u e^{iφ})| turns above 1; a spectrum's limit
is the smallest such u / |λ| over its eigenvalues (directions repeat, so each is solved once).

Weight jumps inside a step (piecewise-constant θ, N > M, M ∤ N): stage i stands for the span
:func:`quadrature_spans` gives it, a piece of the step of length b_i around c_i, and its rate
is blended over the weight sets that span crosses (:mod:`~resode.integrators.stages`). The
blended step integrates σf_1 + (1 − σ)f_2 exactly to first order for a jump at t_l + σh, so
its local error is O(h²) instead of O(h) and the method keeps order min(p, 2) at a fixed grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .base import Carry, Integrator, VectorField, stage_rate
from .tableau import ButcherTableau


class ExplicitRungeKutta(Integrator):
    """Y_{l+1} = Y_l + h Σ_i b_i k_i with k_i = f(Y_l + h Σ_j a_ij k_j; p_i)."""

    def __init__(self, tableau: ButcherTableau) -> None:
        self.tableau = tableau
        # Only the nonzero coefficients are applied, each as one fused ``add(alpha=...)``.
        self._stage_terms = tuple(
            tuple((j, a_ij) for j, a_ij in enumerate(row[:i]) if a_ij != 0.0)
            for i, row in enumerate(tableau.a)
        )
        self._update_terms = tuple((i, b_i) for i, b_i in enumerate(tableau.b) if b_i != 0.0)
        self.stage_spans = quadrature_spans(tableau)

    @property
    def name(self) -> str:
        return self.tableau.name

    @property
    def order(self) -> int:
        return self.tableau.order

    @property
    def stage_offsets(self) -> tuple[float, ...]:
        """The c_i: stage i is evaluated at t_l + c_i h."""
        return self.tableau.c

    def stability_function(self, z):
        """R(z) = 1 + z bᵀ(I − zA)⁻¹𝟙 on complex numbers, arrays or tensors."""
        return self.tableau.stability_function(z)

    def amplification(self, z):
        """|R(z)|."""
        return np.abs(self.tableau.stability_function(np.asarray(z, dtype=np.complex128)))

    def max_stable_step(self, eigenvalues: np.ndarray, tol: float = 1e-9) -> float:
        """Largest h with |R(sλ)| ≤ 1 for all s ∈ (0, h] and every (nonzero) λ given."""
        lam = np.asarray(eigenvalues, dtype=np.complex128).ravel()
        if lam.size == 0:
            return math.inf
        directions = np.round(lam / np.abs(lam), 12)
        unique, inverse = np.unique(directions, return_inverse=True)
        polynomial = np.asarray(self.tableau.stability_polynomial)
        limits = ray_limits(polynomial, unique, tol)[inverse] / np.abs(lam)
        return float(limits.min())

    def advance(self, field, carry: Carry, h: float, parameters: Sequence[Any]) -> Carry:
        return (self.step(field, carry[0], h, parameters),)

    def step(
        self,
        field: VectorField,
        y: torch.Tensor,
        h: float,
        stage_parameters: Sequence[Any],
    ) -> torch.Tensor:
        """One step of size ``h`` from ``y``; ``stage_parameters[i]`` is passed to stage i
        (a :class:`~resode.integrators.base.Blend`: f averaged over its weight sets)."""
        slopes: list[torch.Tensor] = []
        for terms, parameters in zip(self._stage_terms, stage_parameters):
            stage = y
            for j, a_ij in terms:
                stage = torch.add(stage, slopes[j], alpha=h * a_ij)
            slopes.append(stage_rate(field, stage, parameters))
        result = y
        for i, b_i in self._update_terms:
            result = torch.add(result, slopes[i], alpha=h * b_i)
        return result

    def __repr__(self) -> str:
        return f"ExplicitRungeKutta({self.tableau.name}, order={self.order})"


def quadrature_spans(tableau: ButcherTableau) -> tuple[tuple[float, float], ...] | None:
    """The span (a_i, b_i) of the step, in units of h, that stage i's rate stands for.

    The quadrature partition of [0, 1] in the order of the nodes: the stages at one node c
    share a piece of length Σ b_i (RK4's two stages at c = 1/2 both stand for [1/6, 5/6]); a
    stage with b_i = 0 gets the empty span (c_i, c_i), its own time. Any partition with
    Σ_i b_i u_i(σ) = σ (u_i: the share of span i before σ) makes a step across a jump of f_1
    to f_2 = f_1 + δ at t_l + σh exact to first order; its O(h²) error is then
    h² κ(σ) (δ′f_1 − f_1′δ) + O(h²δ²), κ(σ) = ∫_0^σ (τ − c(τ)) dτ with c(τ) the node of the
    piece containing τ, which this ordering keeps small (where Σ_i b_i a_ij = b_j (1 − c_j),
    as for every tableau here). None (stages at their own times) for a weight below 0.
    """
    if any(b_i < 0 for b_i in tableau.b):
        return None
    nodes = sorted({c_i for b_i, c_i in zip(tableau.b, tableau.c) if b_i > 0})
    lengths = [sum(b for b, c in zip(tableau.b, tableau.c) if c == node) for node in nodes]
    ends = [*np.cumsum(lengths[:-1]).tolist(), 1.0]  # Σ b = 1 up to rounding
    pieces = dict(zip(nodes, zip([0.0, *ends[:-1]], ends)))
    return tuple(pieces[c_i] if b_i > 0 else (c_i, c_i) for b_i, c_i in zip(tableau.b, tableau.c))


def ray_limits(polynomial: np.ndarray, directions: np.ndarray, tol: float) -> np.ndarray:
    """For each unit direction e^{iφ}: sup{u : |R(s e^{iφ})| ≤ 1 for all s ∈ (0, u]}.

    |R(u e^{iφ})|² − 1 = Σ_m c_m(φ) u^m with c_m = Σ_{j+k=m} r_j r_k cos((j − k)φ), a real
    polynomial in u; its first sign change on u > 0 ends the stable segment of the ray.
    """
    degree = len(polynomial) - 1
    phi = np.angle(directions)
    coefficients = np.zeros((len(directions), 2 * degree + 1))
    for j in range(degree + 1):
        for k in range(degree + 1):
            coefficients[:, j + k] += polynomial[j] * polynomial[k] * np.cos((j - k) * phi)
    coefficients[:, 0] -= 1.0  # p(u) = |R|² − 1, p(0) = 0
    coefficients[np.abs(coefficients) <= tol] = 0.0
    limits = np.full(len(directions), np.inf)
    nonzero = coefficients != 0
    lowest = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), -1)  # -1: |R| ≡ 1
    rows = np.arange(len(directions))
    leading = coefficients[rows, np.maximum(lowest, 0)]
    limits[(lowest >= 0) & (leading > 0)] = 0.0  # |R| > 1 for every small u
    for m in np.unique(lowest[(lowest >= 0) & (leading < 0)]):
        group = np.flatnonzero((lowest == m) & (leading < 0))
        limits[group] = _first_upcrossing(coefficients[group, m:], coefficients[group])
    return limits


def _first_upcrossing(reduced: np.ndarray, full: np.ndarray) -> np.ndarray:
    """Smallest u > 0 where Σ full_m u^m turns positive; roots from ``reduced`` (batched)."""
    degree = reduced.shape[1] - 1
    result = np.full(len(reduced), np.inf)
    if degree < 1:
        return result
    companion = np.zeros((len(reduced), degree, degree))
    companion[:, 1:, :-1] = np.eye(degree - 1)
    companion[:, :, -1] = -reduced[:, :-1] / reduced[:, -1:]
    roots = np.linalg.eigvals(companion)
    real = np.abs(roots.imag) <= 1e-7 * np.maximum(1.0, np.abs(roots))
    candidates = np.where(real & (roots.real > 1e-12), roots.real, np.inf)
    beyond = np.where(np.isfinite(candidates), candidates * (1 + 1e-6), 0.0)
    powers = beyond[..., None] ** np.arange(full.shape[1])
    turns_positive = (powers * full[:, None, :]).sum(axis=-1) > 0
    return np.where(turns_positive, candidates, np.inf).min(axis=1)
