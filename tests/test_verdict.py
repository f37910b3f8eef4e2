"""The stability verdict weighs eigenvalues, measured growth, Lyapunov exponents, the log-norm
growth bound and a certified Lipschitz bound, and names the evidence that decided."""

import numpy as np
import pytest
import torch

from resode import ODEBlock
from resode.analysis import stability_report
from resode.analysis.verdict import GROWTH_TOL, stability_verdict


def _linear_block(K: torch.Tensor, **options) -> ODEBlock:
    """Y' = K Y (identity activation, zero bias) with the same K at every step, float64."""
    block = ODEBlock(K.shape[0], dynamics="standard", activation="identity", **options).double()
    with torch.no_grad():
        block.dynamics.weight.values.copy_(K.expand_as(block.dynamics.weight.values))
        block.dynamics.bias.values.zero_()
    return block


@pytest.fixture(scope="module")
def parabolic():
    """A contractive parabolic block, f = −Kᵀσ(KY + b), forward Euler with a small step."""
    torch.manual_seed(0)
    block = ODEBlock(6, T=2.0, steps=8, dynamics="parabolic", integrator="euler", init_std=0.5)
    y0 = torch.randn(16, 6, dtype=torch.float64)
    return block.double(), y0


def test_eigen_stable_but_measurably_expansive_block_is_called_expansive():
    """Non-normal K: both eigenvalues are −0.1 (h·λ deep inside RK4's region), yet
    ‖R(hK)^N‖₂ = 13.4: the verdict says expansive, decided by the measured growth."""
    K = torch.tensor([[-0.1, 5.0], [0.0, -0.1]], dtype=torch.float64)
    block = _linear_block(K, T=4.0, steps=8, integrator="rk4")
    report = stability_report(block, torch.randn(16, 2, dtype=torch.float64))
    assessment = report["assessment"]
    says = {item["name"]: item["says"] for item in assessment["evidence"]}
    assert says == {
        "eigenvalues": "stable",
        "measured_growth": "expansive",
        "lyapunov": "amplifies",
        "growth_bound": "no guarantee",
    }
    assert assessment["kind"] == "expansive" and assessment["decided_by"] == "measured_growth"
    hK = 0.5 * K.numpy()  # RK4's step is the degree-4 Taylor polynomial R(hK) for linear f
    R = sum(np.linalg.matrix_power(hK, j) / np.prod(range(1, j + 1)) for j in range(5))
    exact = np.linalg.norm(np.linalg.matrix_power(R, 8), 2)
    measured = next(i for i in assessment["evidence"] if i["name"] == "measured_growth")
    assert measured["value"] == pytest.approx(exact, rel=1e-6) and exact > 10
    assert report["verdict"] == assessment["summary"]
    assert report["verdict"].startswith("expansive: eigenvalues say stable (h = 0.5 ≤")
    assert f"grow ×{exact:.3g} (measured)" in report["verdict"]
    assert report["verdict"].endswith("decided by the measured growth")
    assert "smaller h does not remove it" in assessment["advice"]
    assert "--lipschitz 1" in assessment["advice"]


def test_contractive_parabolic_block_is_non_expansive_by_the_growth_bound(parabolic):
    report = stability_report(*parabolic)
    assessment = report["assessment"]
    says = {item["name"]: item["says"] for item in assessment["evidence"]}
    assert says["eigenvalues"] == "stable" and says["lyapunov"] == "contracts"
    assert says["measured_growth"] == says["growth_bound"] == "non-expansive"
    assert report["log_norm"]["growth_bound_max"] <= 1
    assert assessment["kind"] == "non-expansive" and assessment["decided_by"] == "growth_bound"
    assert report["verdict"].startswith("non-expansive: exp(Σ h μ₂) = ")
    assert report["verdict"].endswith("decided by the growth bound")
    assert assessment["advice"] == ""


def test_a_certified_bound_at_most_one_decides_and_a_larger_one_does_not(parabolic):
    certified = stability_report(*parabolic, lipschitz_bound=0.9)["assessment"]
    assert certified["kind"] == "non-expansive" and certified["decided_by"] == "lipschitz"
    assert "certified Lipschitz bound L = 0.9 ≤ 1" in certified["summary"]
    loose = stability_report(*parabolic, lipschitz_bound=3.0)["assessment"]
    assert loose["decided_by"] == "growth_bound"
    lipschitz = next(i for i in loose["evidence"] if i["name"] == "lipschitz")
    assert (lipschitz["says"], lipschitz["value"]) == ("no guarantee", 3.0)


def _parts(inside=True, measured=0.9, lam=-0.1, bound=0.8):
    """Synthetic evidence: what advice_for and the three summaries would give."""
    eigenvalues = {
        "inside": inside,
        "integrator": "rk4",
        "max_stable_step": {"rk4": 0.7},
        "finding": "h = 0.5 ≤ largest stable step 0.7 of rk4" if inside else "h = 0.5 > 0.3",
        "advice": "" if inside else "use ≥ 14 steps with rk4",
    }
    sensitivity = {"singular_value_max": measured, "growth_max": measured / 2}
    return eigenvalues, sensitivity, {"growth_bound_max": bound}, {"max": [lam], "T": 4.0}


@pytest.mark.parametrize(
    ("parts", "lipschitz", "kind", "decided_by"),
    [
        (_parts(False, measured=50.0, lam=1.0, bound=1e3), 0.99, "non-expansive", "lipschitz"),
        (_parts(inside=False, measured=0.9), None, "unstable", "eigenvalues"),
        (_parts(inside=False, measured=50.0, bound=0.5), 2.0, "unstable", "eigenvalues"),
        (_parts(measured=1 + 2 * GROWTH_TOL, bound=5.0), None, "expansive", "measured_growth"),
        (_parts(measured=1 + GROWTH_TOL / 2, lam=0.2, bound=5.0), None, "expansive", "lyapunov"),
        (_parts(measured=1 + GROWTH_TOL / 2, lam=0.1, bound=5), None, "stable", "measured_growth"),
        (_parts(measured=float("nan")), None, "expansive", "measured_growth"),
        (_parts(), None, "non-expansive", "growth_bound"),
    ],
)  # fmt: skip
def test_precedence(parts, lipschitz, kind, decided_by):
    verdict = stability_verdict(*parts, dynamics="antisymmetric", lipschitz_bound=lipschitz)
    assert (verdict["kind"], verdict["decided_by"]) == (kind, decided_by)
    assert verdict["summary"].startswith(f"{kind}: ")
    if kind == "unstable":
        assert verdict["advice"] == "use ≥ 14 steps with rk4"


def test_expansive_discretization_of_a_non_expansive_flow_advises_more_steps():
    verdict = stability_verdict(*_parts(measured=1.5, bound=0.9))
    assert verdict["kind"] == "expansive" and "use more steps" in verdict["advice"]
