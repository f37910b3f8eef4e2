"""Stability analysis of trained blocks.

- :mod:`~resode.analysis.spectra`: J = ∂f/∂Y and the step map along data trajectories;
- :mod:`~resode.analysis.regions`: those spectra against the integrators' stability regions,
  largest stable steps and advice;
- :mod:`~resode.analysis.sensitivity`: ‖∂Y_N/∂Y_0‖₂ by power iteration (any size);
- :mod:`~resode.analysis.iterative`: matrix-free Jacobians, extreme eigenvalues (Arnoldi);
- :mod:`~resode.analysis.lognorm`: μ₂(J) and the growth bound exp(Σ h μ₂);
- :mod:`~resode.analysis.lyapunov`: finite-time Lyapunov exponents of the discrete network;
- :mod:`~resode.analysis.verdict`: the verdict weighing all of that evidence, and its advice;
- :mod:`~resode.analysis.summary`: everything ``resode stability`` reports for a block;
- :mod:`~resode.analysis.diagnosis`: where and why a forward pass blows up;
- :mod:`~resode.analysis.robustness`: accuracy under PGD, FGSM and noise, and an empirical
  lower bound of the logit map's Lipschitz constant.
"""

from .iterative import iterative_spectra
from .lognorm import LogNorms, log_norms
from .lyapunov import Lyapunov, lyapunov_exponents
from .regions import advice_for, amplification, discrete_stability, is_stable, max_stable_step
from .robustness import (
    Attack,
    LipschitzEstimate,
    RobustnessCurve,
    lipschitz_lower_bound,
    parse_attack,
    perturb,
    robustness_curves,
)
from .sensitivity import Sensitivity, sensitivity
from .spectra import (
    ZERO_TOLERANCE,
    TrajectorySpectra,
    autograd_jacobian,
    classify,
    jacobian,
    step_map_spectra,
    trajectory_spectra,
)
from .summary import stability_report
from .verdict import stability_verdict

__all__ = [
    "ZERO_TOLERANCE",
    "Attack",
    "LipschitzEstimate",
    "RobustnessCurve",
    "lipschitz_lower_bound",
    "parse_attack",
    "perturb",
    "robustness_curves",
    "LogNorms",
    "Lyapunov",
    "iterative_spectra",
    "log_norms",
    "lyapunov_exponents",
    "Sensitivity",
    "TrajectorySpectra",
    "advice_for",
    "amplification",
    "autograd_jacobian",
    "classify",
    "discrete_stability",
    "is_stable",
    "jacobian",
    "max_stable_step",
    "sensitivity",
    "stability_report",
    "stability_verdict",
    "step_map_spectra",
    "trajectory_spectra",
]
