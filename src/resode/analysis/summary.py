"""Everything ``resode stability`` reports for a block and a batch of initial states."""

from __future__ import annotations

import torch

from ..model.block import ODEBlock
from .lognorm import log_norms
from .lyapunov import lyapunov_exponents
from .regions import advice_for, discrete_stability
from .sensitivity import sensitivity
from .spectra import TrajectorySpectra, step_map_spectra, trajectory_spectra
from .verdict import stability_verdict


def _step_map_summary(eigenvalues: torch.Tensor, tol: float = 1e-8) -> dict[str, list]:
    """Per step: the largest |μ| and whether every μ lies on the unit circle (to ``tol``)."""
    modulus = eigenvalues.abs()
    return {
        "max_modulus": [float(v) for v in modulus.amax(dim=(1, 2))],
        "on_unit_circle": [bool(v) for v in ((modulus - 1).abs() <= tol).all(dim=2).all(dim=1)],
    }


def stability_report(
    block: ODEBlock,
    y0: torch.Tensor,
    spectra: TrajectorySpectra | None = None,
    dense: bool = True,
    matrix_free_examples: int = 8,
    lipschitz_bound: float | None = None,
) -> dict:
    """Everything ``resode stability`` reports for a block and a batch of initial states.

    Pass ``spectra`` when already computed for the same input (by :func:`trajectory_spectra`
    or, for large units, :func:`~resode.analysis.iterative.iterative_spectra` with
    ``dense=False``, which also skips the dense step-map spectra). Log-norms and Lyapunov
    exponents use the first ``matrix_free_examples`` examples.

    ``verdict`` is one sentence weighing all of it (eigenvalues, measured growth, Lyapunov
    exponents, the log-norm growth bound and ``lipschitz_bound``, a certified Lipschitz bound
    where one was computed); ``assessment`` is that verdict in parts
    (:func:`~resode.analysis.verdict.stability_verdict`: kind, decided_by, evidence, advice).
    """
    name = block.integrator.name
    spectra = trajectory_spectra(block, y0) if spectra is None else spectra
    discrete = discrete_stability(spectra, name)
    _, advice = advice_for(spectra, name, block.dynamics)
    measured = sensitivity(block, y0).summary()
    bound = log_norms(block, y0[:matrix_free_examples]).summary()
    k = min(3, y0[0].numel())  # three exponents, fewer for a narrower state
    ftle = lyapunov_exponents(block, y0[:matrix_free_examples], k=k).summary()
    assessment = stability_verdict(
        advice, measured, bound, ftle, block.spec.dynamics, lipschitz_bound
    )
    return {
        "integrator": name,
        "dynamics": block.spec.dynamics,
        "T": block.T,
        "steps": block.steps,
        "h": block.h,
        "examples": int(y0.shape[0]),
        "per_step": {
            "max_real": [float(v) for v in spectra.max_real],
            "spectral_radius": [float(v) for v in spectra.spectral_radius],
            "unstable_share": [float(v) for v in spectra.unstable_share()],
            "class": spectra.classes(),
            **discrete,
        },
        "spectrum": "dense" if dense else "matrix-free (extreme eigenvalues, Arnoldi)",
        "step_map": _step_map_summary(step_map_spectra(block, y0)) if dense else None,
        "max_stable_step": advice["max_stable_step"][name],
        "max_stable_step_by_integrator": advice["max_stable_step"],
        "steps_needed_by_integrator": advice["steps_needed"],
        "sensitivity": measured,
        "log_norm": bound,
        "lyapunov": ftle,
        "verdict": assessment["summary"],
        "assessment": assessment,
    }
