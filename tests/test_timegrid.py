"""Weights in time: stage lookup, depth changes, refinement, smoothness."""

import pytest
import torch

from resode import ODEBlock, ResodeError, TimeParameter
from resode.integrators.stages import StagePlan, stage_plan


def _grid(intervals, interp, shape=(2,)):
    parameter = TimeParameter(shape, intervals, T=2.0, interp=interp).double()
    with torch.no_grad():
        parameter.values.copy_(torch.randn_like(parameter.values))
    return parameter


def test_constant_one_weight_set_per_step():
    """M = N constant: every stage of step l uses θ_l, also Heun's stage at c = 1."""
    plan = stage_plan(4, (0.0, 1.0), 4, "constant")
    assert plan.stage_source == ((0, 0), (1, 1), (2, 2), (3, 3))
    plan = stage_plan(4, (0.0, 0.5, 0.5, 1.0), 4, "constant")
    assert all(row == (l,) * 4 for l, row in enumerate(plan.stage_source))


def test_linear_heun_uses_lecture_weights():
    """Linear, M = N: Heun uses θ_l at the first stage and θ_{l+1} at the second."""
    plan = stage_plan(3, (0.0, 1.0), 3, "linear")
    assert plan.stage_source == ((0, 1), (1, 2), (2, 3))
    assert plan.lower == ()


@pytest.mark.parametrize("interp", ["constant", "linear"])
@pytest.mark.parametrize("steps,intervals", [(4, 4), (8, 4), (3, 5), (16, 2)])
def test_plan_samples_theta_at_stage_times(interp, steps, intervals):
    """Every sampled stage weight equals θ(t_l + c_i h) evaluated directly."""
    parameter = _grid(intervals, interp)
    offsets = (0.0, 0.5, 0.5, 1.0)
    plan = parameter.plan(steps, offsets)
    sampled = plan.sample(parameter.values)
    h = parameter.T / steps
    for l, row in enumerate(plan.stage_source):
        for c, source in zip(offsets, row):
            t = (l + c) * h
            expected = parameter.at(t)
            if interp == "constant":  # ties at nodes go to the interval of the current step
                inside = min(max(t, l * h + 1e-12), (l + 1) * h - 1e-12)
                expected = parameter.at(inside)
            torch.testing.assert_close(sampled[source], expected)


def test_one_pass_samples_each_grid_once(monkeypatch):
    """Stage weights are computed once per forward pass, not once per step."""
    calls = []
    original = StagePlan.sample
    monkeypatch.setattr(StagePlan, "sample", lambda self, v: calls.append(1) or original(self, v))
    block = ODEBlock(3, T=1.0, steps=16, dynamics="parabolic", integrator="rk4", interp="linear")
    block(torch.randn(5, 3))
    assert len(calls) == 3  # K, b and −K for the parabolic form, each sampled once


def test_steps_change_after_training_keeps_parameters():
    block = ODEBlock(3, T=1.0, steps=4, dynamics="antisymmetric")
    before = {k: v.clone() for k, v in block.state_dict().items()}
    block.steps = 8
    y = block(torch.randn(2, 3))
    assert y.shape == (2, 3) and block.h == 1.0 / 8
    for key, value in block.state_dict().items():
        torch.testing.assert_close(value, before[key])
    with pytest.raises(ResodeError, match="steps must be an integer >= 1"):
        block.steps = 0


@pytest.mark.parametrize("interp", ["constant", "linear"])
def test_refine_keeps_theta_exactly(interp):
    parameter = _grid(3, interp)
    times = torch.linspace(0, 2.0, 37, dtype=torch.float64)
    before = [parameter.at(float(t)).clone() for t in times]
    parameter.refine(2)
    assert parameter.intervals == 6
    for t, value in zip(times, before):
        torch.testing.assert_close(parameter.at(float(t)), value)


def test_smoothness_is_a_quadrature_of_derivative():
    """θ(t) = t·v on [0, 2] has ∫‖θ'‖² = 2‖v‖² and ∫‖θ‖² = (8/3)‖v‖² at every grid size;
    constant θ has no smoothness penalty."""
    v = torch.tensor([1.0, -2.0], dtype=torch.float64)
    for intervals in (1, 4, 16):
        parameter = TimeParameter((2,), intervals, T=2.0, interp="linear").double()
        with torch.no_grad():
            nodes = torch.linspace(0, 2.0, intervals + 1, dtype=torch.float64)
            parameter.values.copy_(nodes[:, None] * v)
        torch.testing.assert_close(parameter.smoothness(), 2 * v.square().sum())
        torch.testing.assert_close(parameter.squared_norm(), v.square().sum() * 8 / 3)
    constant = TimeParameter((2,), 5, T=2.0).double()
    with torch.no_grad():
        constant.values.fill_(3.0)
    assert float(constant.smoothness().detach()) == 0.0


@pytest.mark.parametrize("interp", ["constant", "linear"])
def test_squared_norm_is_the_exact_integral_and_survives_refinement(interp):
    """θ ≡ 1 on [0, 1]: ∫‖θ‖² = 1 on every grid (the node sum gave 2, 1.5, 1.25 for linear
    θ); a random θ keeps its penalty when refined (multilevel training) and equals a fine
    midpoint quadrature of ‖θ(t)‖²."""
    for intervals in (1, 2, 4, 8):
        ones = TimeParameter((1,), intervals, T=1.0, interp=interp).double()
        with torch.no_grad():
            ones.values.fill_(1.0)
        torch.testing.assert_close(float(ones.squared_norm()), 1.0, rtol=1e-14, atol=0)
    parameter = _grid(3, interp)
    exact = parameter.squared_norm().detach().clone()
    times = (torch.arange(6000, dtype=torch.float64) + 0.5) * (2.0 / 6000)
    midpoint = sum(float(parameter.at(float(t)).square().sum()) for t in times) * 2.0 / 6000
    assert abs(midpoint - float(exact)) < 1e-5 * float(exact)
    for _ in range(3):
        parameter.refine(2)
        torch.testing.assert_close(parameter.squared_norm().detach(), exact, rtol=1e-13, atol=0)


def test_bad_grid_arguments():
    with pytest.raises(ResodeError, match="unknown interpolation 'cubic'"):
        TimeParameter((2,), 3, T=1.0, interp="cubic")
    with pytest.raises(ResodeError, match="grid"):
        ODEBlock(3, steps=4, grid=0)
