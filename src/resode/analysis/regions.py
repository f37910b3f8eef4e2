"""Stability regions of the integrators applied to spectra: amplification, safe steps, advice.

A step of size h is stable when every hλ lies in the integrator's region, where the
amplification (|R(z)| for a one-step method) is ≤ 1. Each integrator knows its own region
and largest stable step (:mod:`resode.integrators`); here they are applied to spectra.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import ResodeError
from ..integrators import Integrator, get_integrator, ode_integrators_for

if TYPE_CHECKING:
    from .spectra import TrajectorySpectra


def as_integrator(integrator) -> Integrator:
    if isinstance(integrator, str):
        return get_integrator(integrator)
    if not isinstance(integrator, Integrator):
        raise ResodeError(
            f"integrator must be a name or an Integrator, got {type(integrator).__name__}"
        )
    return integrator


def amplification(integrator, z) -> np.ndarray:
    """|R(z)| (largest root modulus for multistep methods) at complex z = hλ, as NumPy."""
    if isinstance(z, torch.Tensor):
        z = z.detach().cpu().numpy()
    return np.asarray(as_integrator(integrator).amplification(np.asarray(z)))


def is_stable(integrator, z, tol: float = 1e-12):
    """hλ = z in the stability region (amplification ≤ 1 + tol), elementwise.

    Returns a bool (scalar z), a NumPy array or, for a tensor z, a bool tensor.
    """
    inside = amplification(integrator, z) <= 1 + tol
    if isinstance(z, torch.Tensor):
        return torch.as_tensor(inside)
    return bool(inside) if np.ndim(inside) == 0 else inside


def max_stable_step(integrator, eigenvalues, tol: float = 1e-9) -> float:
    """Largest h with |R(sλ)| ≤ 1 for all s ∈ (0, h] and all given λ.

    Real parts and magnitudes below tol·max|λ| count as zero (rounding of the eigensolver).

    0 when no h > 0 works (e.g. forward Euler with purely imaginary λ), ∞ when all do
    (e.g. λ = 0 only). Forward Euler, λ = −3: 2/3. RK4, λ = i: 2√2.
    """
    integrator = as_integrator(integrator)
    try:
        values = (
            eigenvalues.detach().cpu() if isinstance(eigenvalues, torch.Tensor) else eigenvalues
        )
        lam = np.asarray(values, dtype=np.complex128).ravel()
    except (TypeError, ValueError, RuntimeError):
        raise ResodeError(
            "eigenvalues must be a number, a sequence or an array of numbers"
        ) from None
    if not np.isfinite(lam).all():
        raise ResodeError("eigenvalues contain non-finite values (nan or inf)")
    # Eigenvalues are computed to about tol·max|λ|: snap real parts and magnitudes below it.
    floor = tol * float(np.abs(lam).max(initial=0.0))
    lam = np.where(np.abs(lam.real) <= floor, 1j * lam.imag, lam)
    lam = lam[np.abs(lam) > floor]
    if lam.size == 0:
        return math.inf
    return float(integrator.max_stable_step(lam, tol))


def discrete_stability(spectra: TrajectorySpectra, integrator) -> dict[str, list]:
    """Per step: is every hλ inside the region, and the amplification max |R(hλ)|.

    For IMEX methods λ are those of the explicit part; the implicit part only damps (≤ 1).
    """
    factors = amplification(integrator, spectra.h * spectra.for_integrator(integrator))
    factors = factors.max(axis=(1, 2))
    return {
        "inside_region": [bool(a <= 1 + 1e-9) for a in factors],
        "amplification": [float(a) for a in factors],
    }


def advice_for(spectra: TrajectorySpectra, integrator_name: str, dynamics=None) -> tuple[str, dict]:
    """What the frozen eigenvalues say, and concrete advice on the steps, for a trained block.

    Compares every integrator that applies to ``dynamics`` (all first-order ones if None).
    Returns the one-line eigenvalue verdict (``"stable: …"`` or ``"unstable: …; use …"``) and
    a dict: ``max_stable_step`` and ``steps_needed`` per integrator, ``inside`` (h ≤ the
    largest stable step of ``integrator_name``), ``finding`` (the verdict without its label
    and advice), ``advice`` (what to change, "" when nothing), ``ode_unstable`` (Re λ > 0 at
    some step), ``integrator`` and ``h``. The verdict weighing all evidence is
    :func:`~resode.analysis.verdict.stability_verdict`.
    """
    candidates = ode_integrators_for(dynamics)
    if integrator_name not in candidates:
        candidates.append(integrator_name)
    safe = {
        name: max_stable_step(name, spectra.for_integrator(name).reshape(-1)) for name in candidates
    }
    steps_needed = {
        name: (math.ceil(spectra.T / h) if h > 0 and math.isfinite(h) else (1 if h else None))
        for name, h in safe.items()
    }
    current, h = safe[integrator_name], spectra.h
    advice = []
    if h <= current:
        finding = f"h = {h:.4g} ≤ largest stable step {current:.4g} of {integrator_name}"
    elif current > 0:
        finding = f"h = {h:.4g} > largest stable step {current:.4g}"
        advice.append(f"use ≥ {steps_needed[integrator_name]} steps with {integrator_name}")
    else:
        finding = f"no step size makes {integrator_name} stable for this spectrum"
        options = [f"{n} with ≥ {k} steps" for n, k in steps_needed.items() if k]
        advice += [f"use {' or '.join(options)}"] if options else []
    ode_unstable = "unstable" in spectra.classes()
    if ode_unstable:
        advice.append("the ODE itself has Re λ > 0: use antisymmetric or parabolic dynamics")
    label = "stable" if h <= current else "unstable"
    verdict = "; ".join([f"{label}: {finding}", *advice])
    return verdict, {
        "max_stable_step": safe,
        "steps_needed": steps_needed,
        "inside": h <= current,
        "finding": finding,
        "advice": "; ".join(advice),
        "ode_unstable": ode_unstable,
        "integrator": integrator_name,
        "h": h,
    }
