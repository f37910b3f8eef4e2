"""Matrix-free eigenvalues: Jacobians as SciPy ``LinearOperator``s built from Jacobian–vector
and vector–Jacobian products, and the few eigenvalues a stability verdict needs.

For a row-wise map f: (batch, n) → (batch, n) and one example y ∈ ℝⁿ, ``jacobian_operator``
is v ↦ J v with J = ∂f/∂y (``rmatvec``: v ↦ Jᵀ v), never forming J. Arnoldi (``eigs``) then
finds the eigenvalues of largest real part and of largest modulus, Lanczos (``eigsh``) the
largest eigenvalue of the symmetric part (J + Jᵀ)/2. Cost: a few dozen products per example
and step, so any unit size works (the 32×32 image networks included). Shapes: y (batch, n…).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs, eigsh

from ..errors import ResodeError
from ..integrators.base import at_stage_time
from ..model.normalization import require_per_example
from .spectra import TrajectorySpectra, analysis_copy

SMALL = 8
"""Up to this many unknowns the operator is formed densely (ARPACK needs k < n − 1)."""


def jacobian_operator(f: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor):
    """J = ∂f/∂y at one example ``y`` (any shape, n entries) as an n×n ``LinearOperator``;
    ``f`` maps a batch of one (1, *y.shape) to a batch of one."""
    shape, n = y.shape, y.numel()

    def one(row: torch.Tensor) -> torch.Tensor:
        return f(row.reshape(1, *shape)).reshape(-1)

    row = y.reshape(-1)
    _, pullback = torch.func.vjp(one, row)

    def as_tensor(v) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(v).reshape(-1), dtype=y.dtype).to(y.device)

    def matvec(v):
        return torch.func.jvp(one, (row,), (as_tensor(v),))[1].cpu().numpy()

    def rmatvec(v):
        return pullback(as_tensor(v))[0].cpu().numpy()

    return LinearOperator((n, n), matvec=matvec, rmatvec=rmatvec, dtype=np.float64)


def dense(operator: LinearOperator) -> np.ndarray:
    """The operator as an n×n array (n products; for small n and tests)."""
    return operator.matmat(np.eye(operator.shape[0]))


LOOSE = 1e-6
SYMMETRIC_ITERATIONS = 1000
"""Lanczos restarts (of 96 vectors) allowed for an extreme eigenvalue of a symmetric part: a
dense cluster there, as at either end of a convolution's −KᵀDK, converges slowly; ARPACK
stops as soon as it has converged."""


def symmetric_part_max(operator: LinearOperator, tol: float = 1e-10) -> float:
    """λ_max((A + Aᵀ)/2) by Lanczos on v ↦ ½(Av + Aᵀv) (largest magnitude, shifted where the
    most negative eigenvalue dominates)."""
    n = operator.shape[0]
    if n <= SMALL:
        matrix = dense(operator)
        return float(np.linalg.eigvalsh((matrix + matrix.T) / 2)[-1])
    half = LinearOperator(
        (n, n), matvec=lambda v: (operator.matvec(v) + operator.rmatvec(v)) / 2, dtype=np.float64
    )
    # Largest magnitude first: ARPACK's test ‖r‖ ≤ tol·|λ| fails for a top eigenvalue ≈ 0
    # (a parabolic J), so where λ_min dominates, λ_max = μ_max(S + |λ_min| I) − |λ_min|.
    extreme = _largest_magnitude(half, tol)
    if extreme >= 0:
        return extreme
    shift = -extreme
    shifted = LinearOperator((n, n), matvec=lambda v: half.matvec(v) + shift * v, dtype=np.float64)
    return _largest_magnitude(shifted, tol) - shift


def _largest_magnitude(operator: LinearOperator, tol: float) -> float:
    """The eigenvalue of largest |λ| of a symmetric operator; to ``LOOSE`` relative accuracy
    where a dense cluster there (the top of a convolution's spectrum) stalls ``tol``."""
    for accuracy in (tol, LOOSE):
        try:
            found = _arpack(eigsh, operator, 1, "LM", accuracy, SYMMETRIC_ITERATIONS, ncv=96)
            return float(found.real[0])
        except ResodeError:
            failure = f"Lanczos did not converge to {LOOSE:g} (n = {operator.shape[0]})"
    raise ResodeError(failure)


def extreme_eigenvalues(operator: LinearOperator, k: int = 3, tol: float = 1e-8) -> np.ndarray:
    """The k eigenvalues of largest real part and the k of largest modulus (Arnoldi), complex.

    Where Arnoldi cannot separate the real parts (a spectrum on the imaginary axis, all real
    parts equal) the eigenvalues of largest modulus stand in for the rightmost ones."""
    n = operator.shape[0]
    if n <= SMALL + k:
        return np.linalg.eigvals(dense(operator)).astype(np.complex128)
    largest = _arpack(eigs, operator, k, "LM", tol)
    try:
        rightmost = _arpack(eigs, operator, k, "LR", tol)
    except ResodeError:  # real parts not separable (e.g. all on the imaginary axis)
        rightmost = largest
    return np.concatenate([rightmost, largest]).astype(np.complex128)


def _arpack(
    solver, operator, k: int, which: str, tol: float, maxiter: int = 60, ncv: int = 24
) -> np.ndarray:
    n = operator.shape[0]
    start = np.random.default_rng(0).standard_normal(n)
    options = dict(ncv=min(n - 1, max(2 * k + 1, ncv)), maxiter=maxiter)
    try:
        return solver(
            operator, k=k, which=which, tol=tol, v0=start, return_eigenvectors=False, **options
        )
    except ArpackNoConvergence as failure:  # keep what converged, else give up loudly
        if len(failure.eigenvalues):
            return np.asarray(failure.eigenvalues)
        raise ResodeError(f"Arnoldi/Lanczos did not converge ({which}, n = {n})") from None


def field_row_map(field, parameters) -> Callable[[torch.Tensor], torch.Tensor]:
    """The dynamics f(·, θ) at one stage as a map of batches (θ at the stage's own time)."""
    require_per_example(field, "Jacobian")
    p = at_stage_time(parameters)
    return lambda y: field(y, p)


def iterative_spectra(block, y0: torch.Tensor, k: int = 3) -> TrajectorySpectra:
    """The extreme eigenvalues of J along the trajectories (k of largest real part, k of
    largest modulus per step and example), matrix-free: (steps, batch, 2k), complex128."""
    analysed, y0 = analysis_copy(block, y0)
    analysed.requires_grad_(False)
    with torch.no_grad():
        states = analysed.trajectory(y0)[:-1]
    rows = []
    for y, stage in zip(states, analysed.stage_parameters()):
        f = field_row_map(analysed.dynamics, stage[0])
        found = [extreme_eigenvalues(jacobian_operator(f, example), k) for example in y]
        width = max(len(values) for values in found)
        padded = [np.pad(v, (0, width - len(v)), mode="edge") for v in found]
        rows.append(torch.as_tensor(np.stack(padded)))
    return TrajectorySpectra(torch.stack(rows), block.h, block.T)
