"""The stability verdict: what all the evidence about a block says together, in one sentence.

Five kinds of evidence, each with what it can and cannot show:

- ``eigenvalues``: every h·λ of the frozen Jacobians J_l inside the integrator's region
  (:func:`~resode.analysis.regions.advice_for`). Says whether the *discretization* is stable
  for the frozen spectrum; nothing about whether the ODE amplifies (antisymmetric K has
  Re λ = 0, yet J = diag(σ')K is not normal) nor, with J depending on time, about the flow.
- ``measured_growth``: max over examples of ‖∂Y_N/∂Y_0‖₂ and of ‖ΔY_N‖/‖ΔY_0‖
  (:mod:`.sensitivity`). Above ``1 + GROWTH_TOL`` it shows that perturbations of these
  samples grow; at most that, it shows nothing beyond the samples.
- ``lyapunov``: the leading finite-time exponent λ₁ (:mod:`.lyapunov`); perturbations grow
  like e^{λ₁T}, "amplifies" when λ₁T > ``AMPLIFIES`` = log 2 (at least doubled).
- ``growth_bound``: exp(Σ_l h μ₂(J_l)) (:mod:`.lognorm`), a guarantee for the flow along the
  sampled trajectories: ≤ 1 (+ ``BOUND_TOL``, rounding) means non-expansive; a large value
  guarantees nothing (it may be pessimistic).
- ``lipschitz`` (only when given): a certified upper bound L of the Lipschitz constant
  (of the block or of the whole network); L ≤ 1 (+ ``BOUND_TOL``) proves non-expansive.

Precedence, first match decides (``decided_by``):

1. L ≤ 1 → ``non-expansive``: a proof beats everything measured.
2. some h·λ outside the region → ``unstable``, decided by the eigenvalues; the advice is on
   the steps (more steps, another integrator), as a discretization problem comes first.
3. measured growth > 1 + ``GROWTH_TOL`` → ``expansive`` (the samples show it).
4. λ₁T > log 2 → ``expansive`` (the Lyapunov exponents show it).
5. growth bound ≤ 1 → ``non-expansive``, guaranteed for the flow.
6. otherwise ``stable``: inside the region and no growth on these samples, no guarantee.

For ``expansive`` the advice depends on the growth bound: when it is ≤ 1 the flow does not
expand and the discretization does, so more steps help; otherwise a smaller h does not remove
the growth, the ODE itself amplifies: change the dynamics, regularize, or bound the network.
"""

from __future__ import annotations

import math

GROWTH_TOL = 0.05
"""A measured growth up to 1 + GROWTH_TOL counts as not growing (``non-expansive``)."""
AMPLIFIES = math.log(2.0)
"""λ₁T above this (perturbations at least doubled over T) counts as amplifying."""
BOUND_TOL = 1e-6
"""A bound (growth bound, certified Lipschitz bound) up to 1 + BOUND_TOL counts as ≤ 1."""

NAMES = {
    "eigenvalues": "the eigenvalues",
    "measured_growth": "the measured growth",
    "lyapunov": "the Lyapunov exponents",
    "growth_bound": "the growth bound",
    "lipschitz": "the certified Lipschitz bound",
}

DYNAMICS_ADVICE = {
    "antisymmetric": "damping (--gamma > 0) or parabolic dynamics",
    "parabolic": "a smaller T",
}


def _number(value) -> float:
    """A float; nan (a blown-up measurement) counts as unbounded growth."""
    value = float(value)
    return math.inf if math.isnan(value) else value


def _evidence(eigenvalues, sensitivity, log_norm, lyapunov, lipschitz_bound) -> dict:
    """One entry per kind of evidence: name, what it says, its value and a detail."""
    measured = max(_number(sensitivity["singular_value_max"]), _number(sensitivity["growth_max"]))
    lam, T = _number(lyapunov["max"][0]), float(lyapunov["T"])
    bound = _number(log_norm["growth_bound_max"])
    if lam * T > AMPLIFIES:
        lyapunov_says = "amplifies"
    else:
        lyapunov_says = "grows" if lam > 0 else "contracts"
    items = [
        ("eigenvalues", "stable" if eigenvalues["inside"] else "unstable",
         eigenvalues["max_stable_step"][eigenvalues["integrator"]], eigenvalues["finding"]),
        ("measured_growth", "expansive" if measured > 1 + GROWTH_TOL else "non-expansive",
         measured, f"‖∂Y_N/∂Y_0‖₂ up to {_number(sensitivity['singular_value_max']):.3g}, "
         f"a random perturbation ×{_number(sensitivity['growth_max']):.3g}"),
        ("lyapunov", lyapunov_says, lam,
         f"λ₁ = {lam:.3g}: perturbations ×e^(λ₁T) = {math.exp(min(lam * T, 700)):.3g} "
         f"over T = {T:g}"),
        ("growth_bound", "non-expansive" if bound <= 1 + BOUND_TOL else "no guarantee", bound,
         f"exp(Σ h μ₂(J)) = {bound:.3g} for the flow"),
    ]  # fmt: skip
    if lipschitz_bound is not None:
        L = _number(lipschitz_bound)
        says = "non-expansive" if L <= 1 + BOUND_TOL else "no guarantee"
        items.append(("lipschitz", says, L, f"certified Lipschitz bound L = {L:.4g}"))
    return {
        name: {"name": name, "says": says, "value": value, "detail": detail}
        for name, says, value, detail in items
    }


def _decide(evidence: dict) -> tuple[str, str]:
    """The verdict's kind and the evidence that decided it (the precedence above)."""
    if evidence.get("lipschitz", {}).get("says") == "non-expansive":
        return "non-expansive", "lipschitz"
    if evidence["eigenvalues"]["says"] == "unstable":
        return "unstable", "eigenvalues"
    if evidence["measured_growth"]["says"] == "expansive":
        return "expansive", "measured_growth"
    if evidence["lyapunov"]["says"] == "amplifies":
        return "expansive", "lyapunov"
    if evidence["growth_bound"]["says"] == "non-expansive":
        return "non-expansive", "growth_bound"
    return "stable", "measured_growth"


def _summary(kind: str, decided_by: str, evidence: dict, finding: str, T: float) -> str:
    """One sentence: the kind, the evidence for it, what else speaks, and the decider."""
    measured = evidence["measured_growth"]["value"]
    lam, bound = evidence["lyapunov"]["value"], evidence["growth_bound"]["value"]
    grows = f"perturbations grow ×{measured:.3g} (measured)"
    changed = f"perturbations ×{measured:.3g} (measured)"
    if kind == "unstable":
        text = f"{finding}, {grows if measured > 1 + GROWTH_TOL else changed}"
    elif kind == "expansive":
        reasons = [grows] if decided_by == "measured_growth" else []
        if lam > 0:
            times = f", ×{math.exp(min(lam * T, 700)):.3g} over T = {T:g}"
            reasons.append(f"λ₁ = {lam:.2g} > 0" + (times if decided_by == "lyapunov" else ""))
        text = f"eigenvalues say stable ({finding}), but {' and '.join(reasons)}"
    elif decided_by == "lipschitz":
        text = f"{evidence['lipschitz']['detail']} ≤ 1; {changed}, {finding}"
    elif kind == "non-expansive":
        text = f"exp(Σ h μ₂) = {bound:.3g} ≤ 1 guarantees it for the flow; {changed}, {finding}"
    else:
        text = (
            f"eigenvalues say stable ({finding}) and perturbations do not grow on these samples "
            f"(×{measured:.3g} measured), but exp(Σ h μ₂) = {bound:.3g} guarantees nothing"
        )
    return f"{kind}: {text}; decided by {NAMES[decided_by]}"


def _advice(kind: str, evidence: dict, eigenvalues: dict, dynamics: str | None) -> str:
    """What to change: the steps for a discretization problem, the ODE for an expansive one."""
    if kind == "unstable":
        return eigenvalues["advice"]
    if kind == "non-expansive":
        return ""
    if kind == "stable":
        return "none needed on these samples; for a guarantee, parabolic dynamics or --lipschitz 1"
    if evidence["growth_bound"]["says"] == "non-expansive":
        return (
            "the flow is non-expansive (growth bound ≤ 1) and the discrete network is not: "
            "use more steps (a smaller h) or another integrator"
        )
    change = DYNAMICS_ADVICE.get(dynamics, "antisymmetric (with --gamma > 0) or parabolic dynamics")
    return (
        "a smaller h does not remove it, the ODE itself expands: use "
        f"{change}, more --weight-decay or --smoothness, or the non-expansive option --lipschitz 1"
    )


def stability_verdict(
    eigenvalues: dict,
    sensitivity: dict,
    log_norm: dict,
    lyapunov: dict,
    dynamics: str | None = None,
    lipschitz_bound: float | None = None,
) -> dict:
    """Weigh all evidence about a block (the module docstring gives thresholds and precedence).

    ``eigenvalues`` is the dict of :func:`~resode.analysis.regions.advice_for`; ``sensitivity``,
    ``log_norm`` and ``lyapunov`` are the ``summary()`` of :func:`.sensitivity`,
    :func:`.log_norms` and :func:`.lyapunov_exponents`; ``lipschitz_bound`` is a certified
    upper bound of the Lipschitz constant, where one was computed. Returns ``kind``
    (``non-expansive`` | ``stable`` | ``expansive`` | ``unstable``), ``summary`` (one
    sentence), ``decided_by`` (an evidence name), ``evidence`` (a list of ``name``, ``says``,
    ``value``, ``detail``), ``advice`` ("" when nothing to change) and the ``thresholds``.
    """
    evidence = _evidence(eigenvalues, sensitivity, log_norm, lyapunov, lipschitz_bound)
    kind, decided_by = _decide(evidence)
    summary = _summary(kind, decided_by, evidence, eigenvalues["finding"], float(lyapunov["T"]))
    return {
        "kind": kind,
        "summary": summary,
        "decided_by": decided_by,
        "evidence": list(evidence.values()),
        "advice": _advice(kind, evidence, eigenvalues, dynamics),
        "thresholds": {
            "growth_tol": GROWTH_TOL,
            "amplifies_lambda1_T": AMPLIFIES,
            "bound_tol": BOUND_TOL,
        },
    }
