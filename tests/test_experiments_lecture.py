"""The lecture experiments landscape, linear, antisymmetric and spiral: numbers and files."""

import json
import math

import numpy as np
import pytest
import torch

from resode import ResodeError
from resode.experiments import run_experiment
from resode.experiments.antisymmetric import norm_history
from resode.experiments.landscape import (
    _train_and_test_objectives,
    landscape_objective,
    strict_local_minima,
)

LECTURE_EXPERIMENTS = ("landscape", "linear", "antisymmetric", "spiral")


def _objective_by_loop(theta, y0_columns, target_columns, T, steps) -> float:
    """The lecture's formula, column form, one θ at a time: Y ← Y + h tanh(K Y)."""
    t1, t2 = float(theta[0]), float(theta[1])
    K = torch.tensor([[0.0, t1, t2], [t2, 0.0, t1], [t1, t2, 0.0]], dtype=torch.float64)
    K = K - (t1 + t2) * torch.eye(3, dtype=torch.float64)
    Y = y0_columns.clone()
    for _ in range(steps):
        Y = Y + (T / steps) * torch.tanh(K @ Y)
    return float(0.5 * torch.linalg.norm(Y - target_columns) ** 2)


def test_batched_landscape_equals_plain_loop():
    g = torch.Generator().manual_seed(5)
    y0 = 0.1 * torch.randn(3, 20, generator=g, dtype=torch.float64)  # columns = examples
    targets = y0 + 0.05 * torch.randn(3, 20, generator=g, dtype=torch.float64)
    axis = torch.linspace(0.2, 2.0, 4, dtype=torch.float64)
    thetas = torch.cartesian_prod(axis, axis)
    batched = landscape_objective(thetas, y0.T, targets.T, 10.0, 5)
    assert batched.shape == (16,) and batched.dtype == torch.float64
    looped = torch.tensor(
        [_objective_by_loop(th, y0, targets, 10.0, 5) for th in thetas], dtype=torch.float64
    )
    torch.testing.assert_close(batched, looped, rtol=1e-12, atol=1e-12)
    # the numbers differ between grid points: a constant objective would also "match"
    assert float(looped.max() - looped.min()) > 1.0


def test_train_and_test_in_one_pass_equals_separate_passes():
    g = torch.Generator().manual_seed(6)
    names = ("train", "test")
    inputs = {k: 0.1 * torch.randn(20, 3, generator=g, dtype=torch.float64) for k in names}
    targets = {k: torch.randn(20, 3, generator=g, dtype=torch.float64) for k in names}
    thetas = 0.2 + 1.8 * torch.rand(7, 2, generator=g, dtype=torch.float64)
    joint = _train_and_test_objectives(thetas, inputs, targets, 5)
    for name in names:
        alone = landscape_objective(thetas, inputs[name], targets[name], 10.0, 5)
        torch.testing.assert_close(joint[name], alone, rtol=1e-13, atol=0.0)


def test_landscape_objective_rejects_bad_shapes():
    y0 = torch.zeros(20, 3, dtype=torch.float64)
    with pytest.raises(ResodeError, match="thetas"):
        landscape_objective(torch.ones(4, 3, dtype=torch.float64), y0, y0, 10.0, 5)
    with pytest.raises(ResodeError, match="targets"):
        landscape_objective(torch.ones(4, 2, dtype=torch.float64), y0, y0[:5], 10.0, 5)


def test_strict_local_minima_counts_interior_points_only():
    values = np.ones((5, 6))
    values[2, 2] = 0.0  # strict interior minimum
    values[0, 4] = -1.0  # on the border: not counted
    values[3, 4] = values[3, 3] = 0.5  # a tie: not strict
    assert strict_local_minima(values) == 1


def test_norm_history_matches_matrix_power():
    g = torch.Generator().manual_seed(2)
    W = torch.randn(5, 5, generator=g, dtype=torch.float64)
    K = W - W.T
    y0 = torch.randn(1, 5, generator=g, dtype=torch.float64)
    h, steps = 0.3, 12
    z = h * K
    R = torch.eye(5, dtype=torch.float64) + z + z @ z / 2 + z @ z @ z / 6 + z @ z @ z @ z / 24
    direct = [float((y0 @ torch.linalg.matrix_power(R, l).T).norm() / y0.norm()) for l in (5, 12)]
    logs = norm_history("rk4", K, y0, h, steps)
    np.testing.assert_allclose(10.0 ** logs[[5, 12]], direct, rtol=1e-12)


def _run_quick(name, tmp_path) -> dict:
    result = run_experiment(name, tmp_path, quick=True)
    document = json.loads((tmp_path / f"{name}.json").read_text())
    assert list(tmp_path.glob("*.png")), f"{name} wrote no figure"
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    for key, value in document.items():
        assert result[key] == value
    return document


def test_landscape_quick(tmp_path):
    doc = _run_quick("landscape", tmp_path)
    coarse, fine = doc["N=5"], doc["N=100"]
    assert coarse["max_abs_train_test_diff"] > 1e3 * fine["max_abs_train_test_diff"]
    assert math.dist(fine["argmin_train"], (1.0, 1.0)) < 0.15
    assert math.dist(coarse["argmin_train"], (1.0, 1.0)) > 0.5
    assert fine["local_minima"] == 1
    assert fine["euler_stable_fraction"] == 1.0 > coarse["euler_stable_fraction"]


def test_linear_quick(tmp_path):
    stable, unstable = _run_quick("linear", tmp_path)["runs"]
    assert stable["amplification"] < 1 and stable["stable"] and stable["final_abs"] < 1e-6
    assert unstable["amplification"] > 1 and not unstable["stable"]
    assert unstable["final_abs"] > 1.0
    assert stable["amplification"] == pytest.approx(abs(1 - stable["h"]))


def test_antisymmetric_quick(tmp_path):
    doc = _run_quick("antisymmetric", tmp_path)
    methods = doc["integrators"]
    assert doc["h"] * doc["spectral_radius"] <= 2 * math.sqrt(2)
    assert methods["euler"]["growth"] > 10
    assert methods["rk4"]["growth"] < 1.1
    assert methods["rk4"]["max_abs_R"] <= 1.0 < methods["euler"]["max_abs_R"]
    for entry in methods.values():  # K is normal: ‖R(hK)^l‖ = max|R(hλ)|^l bounds the growth
        assert entry["log10_growth"] <= entry["log10_growth_bound"] + 1e-9


def test_spiral_quick(tmp_path):
    doc = _run_quick("spiral", tmp_path)
    assert doc["euler_final_radius"] > doc["initial_radius"] > doc["reference_final_radius"]
    assert doc["initial_radius"] == pytest.approx(math.sqrt(2))
    other = doc["starts"]["start=(-1,-1)"]  # tanh is odd: the mirrored start mirrors the path
    assert other["euler_final_radius"] == pytest.approx(doc["euler_final_radius"], rel=1e-12)


@pytest.mark.parametrize("name", LECTURE_EXPERIMENTS)
def test_run_experiment_rejects_unknown_option(name, tmp_path):
    with pytest.raises(ResodeError, match="no option"):
        run_experiment(name, tmp_path, quick=True, no_such_option=1)
    assert not list(tmp_path.iterdir())
