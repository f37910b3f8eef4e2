"""``resode robustness RUN``: accuracy under attack, certified accuracy and the Lipschitz
constant of a classification run, written into the run as ``robustness.json`` and
``robustness.png``.

ε is measured in the inputs as the user gives them (pixels in [0, 1], a table's features in
their units): the attacks perturb x ↦ f(standardize(x)), and images whose pixels lie in
[0, 1] stay in that box. The certificate is in L2: an example is certified at radius ε when
margin / (√2 L) ≥ ε, L the certified upper bound of the Lipschitz constant
(:mod:`resode.analysis.lipschitz`); for L∞ radii the L∞ ball of radius ε lies in the L2 ball
of radius ε√d (d inputs per example), so an example is certified at ε√d. Beside L stands the
largest ratio ‖f(x + δ) − f(x)‖ / ‖δ‖ the attacks and an ascent found, a lower bound: the
true constant lies between the two.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from ..analysis.lipschitz import certified_accuracy, lipschitz_bound
from ..analysis.robustness import (
    NORMS,
    check_radii,
    lipschitz_lower_bound,
    parse_attack,
    robustness_curves,
)
from ..data.units import UserUnits
from ..errors import ResodeError, check_choice, check_int
from ..storage import write_json
from ..training.state import read_config
from .layout import ROBUSTNESS, ROBUSTNESS_FIGURE
from .load import SPLITS, load_run, require_run, stored_model

DEFAULT_ATTACKS = ("pgd", "fgsm", "noise")
DEFAULT_SHARES = (0.02, 0.05, 0.1)
"""Default radii: these shares of the median input size in the chosen norm (‖x‖₂ or max|x|)."""


def default_radii(x: torch.Tensor, norm: str) -> list[float]:
    """0 and :data:`DEFAULT_SHARES` of the median size of the inputs x (user units), each to
    two significant digits."""
    flat = x.flatten(1).double()
    size = flat.norm(dim=1) if norm == "l2" else flat.abs().amax(dim=1)
    typical = float(size.median())
    if not typical > 0:
        raise ResodeError("the inputs are all zero: give the radii with --eps")
    return [0.0] + [float(f"{share * typical:.2g}") for share in DEFAULT_SHARES]


def robustness_of_run(
    run: str | Path,
    out: str | Path | None = None,
    eps=None,
    norm: str = "l2",
    attacks=DEFAULT_ATTACKS,
    split: str = "test",
    samples: int | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> dict:
    """Robustness of a classification run on ``split`` (up to ``samples`` examples) under
    each attack (:func:`~resode.analysis.robustness.parse_attack` specs) at the radii ``eps``
    (default :func:`default_radii`) in ``norm``; writes ``robustness.json`` and
    ``robustness.png`` into ``out`` (default: the run directory) and returns the report."""
    run = require_run(run)
    check_choice("norm", norm, NORMS)
    check_choice("split", split, SPLITS)
    chosen = [parse_attack(spec, norm) for spec in _listed(attacks)]
    destination = Path(run) if out is None else Path(out)
    if destination.exists() and not destination.is_dir():
        raise ResodeError(f"--out {destination} is a file; give a folder")
    task = stored_model(run)["task"]
    if task != "classification":
        raise ResodeError(f"resode robustness applies to classification runs; {run} is {task}")
    model, dataset = load_run(run, device, per_example="robustness")
    model.requires_grad_(False)
    x, y = dataset.split(split)
    if samples is not None:
        x, y = x[: check_int("samples", samples)], y[: check_int("samples", samples)]
    units = UserUnits.of(dataset)
    user = units.to_user(x)
    radii = default_radii(user, norm) if eps is None else check_radii(eps)
    attacked = units.wrap(model)
    started = time.perf_counter()
    curves = robustness_curves(attacked, user, y, chosen, radii, bounds=units.box, seed=seed)
    attack_seconds = time.perf_counter() - started
    lower = lipschitz_lower_bound(attacked, user, curves=curves, seed=seed)
    report = {
        "run": str(run),
        "split": split,
        "examples": len(x),
        "norm": norm,
        "eps": radii,
        "units": "standardized inside the attacked map" if units.standardization else "as given",
        "box": None if units.box is None else list(units.box),
        "clean_accuracy": curves[0].accuracy[radii.index(0.0)] if 0.0 in radii else None,
        "attacks": [curve.to_dict() for curve in curves],
        "attack_seconds": attack_seconds,
        **_certificate(model, dataset, units, x, y, radii, norm, lower),
    }
    destination.mkdir(parents=True, exist_ok=True)
    write_json(destination / ROBUSTNESS, report)
    from ..plots import plot_robustness

    plot_robustness(report, _title(run), destination / ROBUSTNESS_FIGURE)
    return report


def _certificate(model, dataset, units, x, y, radii, norm, lower) -> dict:
    """The Lipschitz bounds and the certified accuracy at the radii (L∞ radii through the
    L2 ball of radius ε√d that holds their ball)."""
    bound = lipschitz_bound(model, dataset.input_shape, scale=units.scales())
    dimension = math.prod(dataset.input_shape)
    l2_radii = radii if norm == "l2" else [r * math.sqrt(dimension) for r in radii]
    certified = certified_accuracy(model, x, y, l2_radii, bound) if bound.finite else None
    return {
        "lipschitz": {
            "upper_bound": bound.value if bound.finite else None,
            "reason": bound.reason or None,
            "lower_bound": lower.value,
            "lower_bound_found": lower.to_dict(),
            "factors": [factor.to_dict() for factor in bound.factors],
        },
        "certified_accuracy": None if certified is None else list(certified.accuracy),
        "certified_radius_median": None if certified is None else float(certified.radii.median()),
        "certified_eps_l2": l2_radii,
    }


def _listed(attacks) -> list[str]:
    if isinstance(attacks, str):
        attacks = attacks.split(",")
    chosen = [str(spec).strip() for spec in attacks if str(spec).strip()]
    if not chosen:
        raise ResodeError("give at least one attack: pgd, fgsm or noise")
    return chosen


def _title(run) -> str:
    config = read_config(run)
    what = f"{config.dynamics} + {config.integrator}"
    if config.lipschitz is not None:
        what += f", Lipschitz ≤ {config.lipschitz:g} by construction"
    return f"{config.data}: {what}, N = {config.steps}"
