"""Orders of every integrator when the weight grid M does not divide the steps N.

With constant weights and M ∤ N, θ jumps inside some steps; stages whose span crosses a jump
are blended over the weight sets (``stage_spans``), so a step across a jump has a local error
O(h²) and, with at most M − 1 such steps, the observed order is min(p, 2). With linear
weights θ has kinks inside steps: min(p, 2) as well. With M | N every method has its order p.
Measured in float64 against RK4 at N = 512 (a multiple of M: no step straddles a node).
"""

import functools
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from resode import ODEBlock
from resode.integrators import INTEGRATORS, ButcherTableau, ExplicitRungeKutta, stage_plan
from resode.integrators.base import Blend
from resode.integrators.explicit import quadrature_spans
from resode.model.dynamics import DYNAMICS

GRID = 4
DIVIDED = (8, 16, 32, 64)  # multiples of M
STRADDLED = (9, 17, 33, 65)  # N ≡ 1 (mod 4): nodes at 1/4, 1/2, 3/4 of a step at every N
ODE_METHODS = [name for name, method in INTEGRATORS.items() if method.discretizes_ode]
RUNGE_KUTTA = [n for n in ODE_METHODS if isinstance(INTEGRATORS[n], ExplicitRungeKutta)]


def _dynamics_for(name: str) -> str:
    """A dynamics the integrator steps: standard where it can, else split or implicit."""
    fitting = ("standard", "hamiltonian", "diffusion-reaction")
    return next(d for d in fitting if INTEGRATORS[name].supports(DYNAMICS[d]))


@functools.cache
def _problem(dynamics: str, interp: str):
    """Weights that differ from interval to interval, an input batch and Y_N to ~1e-12."""
    torch.manual_seed(0)
    block = ODEBlock(4, T=2.0, steps=8, dynamics=dynamics, integrator="rk4", grid=GRID,
                     interp=interp).double()  # fmt: skip
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.3 * torch.randn_like(p))
    y0 = torch.randn(3, 4, dtype=torch.float64)
    reference = ODEBlock(4, block.spec, steps=512).double()
    reference.load_state_dict(block.state_dict())
    with torch.no_grad():
        return block.spec, block.state_dict(), y0, reference(y0)


def _observed_order(name: str, interp: str, counts, integrator=None) -> float:
    spec, state, y0, exact = _problem(_dynamics_for(name), interp)
    block = ODEBlock(4, spec, integrator=name).double()
    block.load_state_dict(state)
    if integrator is not None:
        block.integrator = integrator
    errors = []
    with torch.no_grad():
        for n in counts:
            block.steps = n
            errors.append(float((block(y0) - exact).norm()))
    return -float(np.polyfit(np.log(counts), np.log(errors), 1)[0])


@pytest.mark.parametrize("name", ODE_METHODS)
@pytest.mark.parametrize("interp", ["constant", "linear"])
def test_order_at_weight_nodes_inside_steps_is_min_p_2(name, interp):
    """Measured: euler 1.03, heun 1.96, rk3 1.92, rk4 1.99, leapfrog 1.99, verlet 1.99,
    imex 0.94 (constant); 1.00, 1.98, 1.98, 1.99, 2.07, 1.98, 0.98 (linear)."""
    expected = min(INTEGRATORS[name].order, 2)
    assert abs(_observed_order(name, interp, STRADDLED) - expected) <= 0.2


@pytest.mark.parametrize("name", ODE_METHODS)
def test_order_is_p_when_the_grid_divides_the_steps(name):
    assert abs(_observed_order(name, "constant", DIVIDED) - INTEGRATORS[name].order) <= 0.2


def test_runge_kutta_without_blending_drops_to_order_one():
    """The same Heun step sampling θ at its stage times alone: order 1 (measured 1.02)."""
    unblended = ExplicitRungeKutta(INTEGRATORS["heun"].tableau)
    unblended.stage_spans = None
    assert abs(_observed_order("heun", "constant", STRADDLED, unblended) - 1.0) <= 0.2


@pytest.mark.parametrize("name", RUNGE_KUTTA)
def test_quadrature_spans_partition_the_step_around_the_nodes(name):
    """Σ_i b_i (share of span i before σ) = σ for every σ, and span i contains c_i."""
    tableau = INTEGRATORS[name].tableau
    spans = INTEGRATORS[name].stage_spans
    assert spans == quadrature_spans(tableau)
    assert all(a <= c <= b for (a, b), c in zip(spans, tableau.c))
    for sigma in np.linspace(0.05, 0.95, 19):
        before = [min(max((sigma - a) / (b - a), 0.0), 1.0) for a, b in spans]
        assert math.isclose(sum(b * u for b, u in zip(tableau.b, before)), sigma)


def test_spans_of_zero_and_negative_weights():
    """The midpoint rule's first stage (b = 0) keeps its own time; a negative weight: no
    spans (stages sampled at their times)."""
    midpoint = ButcherTableau("midpoint", a=((0, 0), (0.5, 0)), b=(0, 1), c=(0, 0.5), order=2)
    assert quadrature_spans(midpoint) == ((0, 0), (0.0, 1.0))
    plan = stage_plan(9, midpoint.c, 4, "constant", quadrature_spans(midpoint))
    blended = {i for row in plan.stage_source for i, s in enumerate(row) if plan.blend_of(s)}
    assert blended == {1}
    negative = ButcherTableau("neg", a=((0, 0), (1 / 3, 0)), b=(-0.5, 1.5), c=(0, 1 / 3), order=2)
    assert quadrature_spans(negative) is None


@pytest.mark.parametrize("name", RUNGE_KUTTA)
@pytest.mark.parametrize("steps, grid", [(8, 8), (4, 8), (16, 8)])
def test_n_le_m_or_m_dividing_n_is_unchanged_bit_for_bit(name, steps, grid):
    """No blend: the plan is the one without spans and Y_N equals the unblended step's."""
    torch.manual_seed(1)
    block = ODEBlock(5, steps=steps, grid=grid, integrator=name)
    with torch.no_grad():
        block.dynamics.weight.values.normal_(std=0.5)
    offsets, spans = block.stage_offsets, block.integrator.stage_spans
    assert block.dynamics.weight.plan(steps, offsets, spans) == stage_plan(
        steps, offsets, grid, "constant"
    )
    y0 = torch.randn(6, 5)
    blended = block(y0)
    block.integrator = ExplicitRungeKutta(block.integrator.tableau)
    block.integrator.stage_spans = None
    assert torch.equal(blended, block(y0))


def test_blend_shares_and_stage_time_weights():
    """Heun, N = 9, M = 4: a stage is blended exactly when its span holds a node; its shares
    are the span's parts in the two intervals and ``at`` is θ at the stage's own time."""
    block = ODEBlock(3, T=1.0, steps=9, grid=4, integrator="heun", dynamics="standard")
    block.requires_grad_(False)
    block.dynamics.weight.values.copy_(torch.arange(4.0).view(4, 1, 1).expand(4, 3, 3))  # K_k = k
    blends = 0
    for l, row in enumerate(block.stage_parameters()):
        for (a, b), c, p in zip(block.integrator.stage_spans, block.stage_offsets, row):
            lo, hi = (l + Fraction(a)) * 4 / 9, (l + Fraction(b)) * 4 / 9  # grid units
            node = math.floor(lo) + 1
            assert isinstance(p, Blend) == (node < hi)
            if node < hi:
                blends += 1
                shares = [float((node - lo) / (hi - lo)), float((hi - node) / (hi - lo))]
                assert [w for w, _ in p.parts] == pytest.approx(shares)
                assert [float(part[0][0, 0]) for _, part in p.parts] == [node - 1, node]
                assert float(p.at[0][0, 0]) == min(math.floor((l + c) * 4 / 9), 3)
    assert blends == 2  # nodes 1 and 3; node 2 lies on the border of the two spans


def test_plan_of_the_steps_taken_backward_blends_the_same_pieces_of_time():
    """Stage i of a step taken back from t_{l+1} sits at 1 − c_i and stands for the reversed
    span (1 − b_i, 1 − a_i): the same (step, piece of time, shares) are blended."""
    offsets, spans = INTEGRATORS["rk4"].stage_offsets, INTEGRATORS["rk4"].stage_spans
    back_spans = tuple((1 - b, 1 - a) for a, b in spans)
    forward = stage_plan(9, offsets, 4, "constant", spans)
    back = forward.at_offsets(tuple(1 - c for c in offsets), back_spans)

    def blended(plan, pieces) -> set:
        return {
            (l, round(pieces[i][0], 9), round(pieces[i][1], 9),
             tuple((k, round(share, 9)) for k, share in plan.blend_of(s)[1]))
            for l, row in enumerate(plan.stage_source)
            for i, s in enumerate(row)
            if plan.blend_of(s)
        }  # fmt: skip

    assert len(blended(forward, spans)) == 3  # RK4's stages 2 and 3 share one piece
    assert blended(forward, spans) == blended(back, [(1 - b, 1 - a) for a, b in back_spans])
    assert forward.at_offsets(offsets) == stage_plan(9, offsets, 4, "constant")


def test_checkpoint_gradient_equals_stored_gradient_with_blends():
    torch.manual_seed(2)
    block = ODEBlock(4, T=2.0, steps=9, grid=4, integrator="rk4", dynamics="standard").double()
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.3 * torch.randn_like(p))
    y0 = torch.randn(5, 4, dtype=torch.float64)
    gradients = []
    for memory in ("store", "checkpoint"):
        block.memory = memory
        block.zero_grad()
        block(y0).sin().sum().backward()
        gradients.append(torch.cat([p.grad.flatten() for p in block.parameters()]))
    torch.testing.assert_close(gradients[0], gradients[1], rtol=1e-12, atol=1e-14)


def test_adjoint_gradient_approaches_the_exact_one_at_order_two_across_jumps():
    """‖adjoint − exact‖/‖exact‖ for N = 9 … 65, RK4: 1.0e-1 … 1.4e-2 (order 1.00) with the
    sweep as it is; 9.1e-4 … 1.6e-5 (order 2.03) with the blends in the sweep."""
    torch.manual_seed(0)
    block = ODEBlock(4, T=1.0, steps=9, grid=GRID, integrator="rk4", dynamics="standard",
                     init_std=0.8).double()  # fmt: skip
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.5 * torch.randn_like(p))
    y0 = torch.randn(5, 4, dtype=torch.float64)
    differences = []
    for n in STRADDLED:
        block.steps = n
        gradients = []
        for memory in ("store", "adjoint"):
            block.memory = memory
            block.zero_grad()
            block(y0).sin().sum().backward()
            gradients.append(torch.cat([p.grad.flatten() for p in block.parameters()]))
        exact, adjoint = gradients
        differences.append(float((adjoint - exact).norm() / exact.norm()))
    assert -np.polyfit(np.log(STRADDLED), np.log(differences), 1)[0] >= 1.8, differences
