"""The IMEX step and the diffusion-reaction dynamics: order, stiff stability, exact solves."""

import json
import math

import numpy as np
import pytest
import torch

from resode import ODEBlock, ResodeError, integrate, make_dynamics
from resode.analysis import discrete_stability, max_stable_step, trajectory_spectra
from resode.experiments import run_experiment
from resode.integrators import get_integrator
from resode.model.convnet import ConvResNet

SPATIAL = {1: [(7,), (8,)], 2: [(5, 4), (6, 6)]}


def _linear_block(width: int, T: float, steps: int, integrator: str, seed: int = 0) -> ODEBlock:
    """Y' = −L Y + A Y: identity activation, no bias, one weight set; A = −½I + antisymmetric."""
    g = torch.Generator().manual_seed(seed)
    block = ODEBlock(
        width,
        T=T,
        steps=steps,
        dynamics="diffusion-reaction",
        integrator=integrator,
        activation="identity",
        grid=1,
    ).double()
    W = torch.randn(width, width, generator=g, dtype=torch.float64)
    A = 0.5 * (W - W.T) - 0.5 * torch.eye(width, dtype=torch.float64)
    M = torch.randn(width, width, generator=g, dtype=torch.float64) / math.sqrt(width)
    with torch.no_grad():
        block.dynamics.weight.values.copy_(A[None])
        block.dynamics.diffusion_weight.values.copy_(M[None])
    return block


def _operators(block: ODEBlock) -> tuple[torch.Tensor, torch.Tensor]:
    """(L, A) of a linear block."""
    p = block.dynamics.stage_parameters(1, (0.0,))[0][0]
    y = torch.zeros(1, block.width, dtype=torch.float64)
    return block.dynamics.diffusion_matrix(y, p).detach(), p[0].detach()


def _slope(errors, steps) -> float:
    return float(np.polyfit(np.log([1.0 / n for n in steps]), np.log(errors), 1)[0])


def test_imex_is_first_order_on_a_linear_problem():
    block = _linear_block(4, T=1.0, steps=10, integrator="imex")
    L, A = _operators(block)
    y0 = torch.randn(5, 4, dtype=torch.float64)
    exact = y0 @ torch.linalg.matrix_exp(A - L).T
    steps = [20, 40, 80, 160]
    errors = []
    for n in steps:
        block.steps = n
        with torch.no_grad():
            errors.append(float((block(y0) - exact).norm()))
    assert abs(_slope(errors, steps) - 1.0) < 0.1


def test_imex_stays_bounded_at_h_lambda_100_where_explicit_methods_blow_up():
    T, steps = 1.0, 10
    blocks = {m: _linear_block(6, T, steps, m) for m in ("imex", "euler", "rk4")}
    for block in blocks.values():
        block.dynamics.set_diffusion_radius(100.0 / block.h)
        L, _ = _operators(block)
        assert float(torch.linalg.eigvalsh(L).max()) * block.h == pytest.approx(100.0)
    y0 = torch.randn(3, 6, dtype=torch.float64)
    with torch.no_grad():
        growth = {m: float(b(y0).norm() / y0.norm()) for m, b in blocks.items()}
    assert growth["imex"] <= 1.0
    assert growth["euler"] > 1e10 and growth["rk4"] > 1e10
    # the step matrix (I + hL)⁻¹(I + hA) is a contraction: ‖(I + hL)⁻¹‖ ≤ 1, ‖I + hA‖ ≤ 1
    L, A = _operators(blocks["imex"])
    eye = torch.eye(6, dtype=torch.float64)
    h = blocks["imex"].h
    step = torch.linalg.solve(eye + h * L, eye + h * A)
    assert float(torch.linalg.matrix_norm(step, ord=2)) <= 1.0


def _periodic_depthwise_matrix(kernel: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
    """M of y ↦ Σ_j m_j y[i + j − k//2] (indices mod N) per channel, built with torch.roll."""
    channels, p = kernel.shape[0], kernel.shape[1] // 2
    n = channels * math.prod(spatial)
    basis = torch.eye(n, dtype=kernel.dtype).reshape(n, channels, *spatial)
    result = torch.zeros_like(basis)
    dims = tuple(range(2, 2 + len(spatial)))
    for offset in np.ndindex(*kernel.shape[1:]):
        shifts = tuple(p - j for j in offset)
        weight = kernel[(slice(None), *offset)].view(1, channels, *([1] * len(spatial)))
        result = result + weight * torch.roll(basis, shifts, dims)
    return result.reshape(n, n).T


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("size", [3, 5])
def test_fft_solve_equals_a_dense_solve(dims, size):
    for spatial in SPATIAL[dims]:
        kernel = f"conv{dims}d"
        dynamics = make_dynamics(
            "diffusion-reaction", 2, T=1.0, intervals=1, kernel=kernel, kernel_size=size
        ).double()
        p = dynamics.stage_parameters(1, (0.0,))[0][0]
        M = _periodic_depthwise_matrix(p[2].detach(), spatial)
        L = M.T @ M + 1e-3 * torch.eye(M.shape[0], dtype=torch.float64)
        r = torch.randn(3, 2, *spatial, dtype=torch.float64)
        torch.testing.assert_close(dynamics.diffusion_matrix(r, p).detach(), L)
        # forward's −LY uses the same L as the solve
        minus_l = dynamics(r, p) - dynamics.explicit_rate(r, p)
        torch.testing.assert_close(minus_l.flatten(1), -r.flatten(1) @ L.T)
        for h in (0.1, 3.0, 1e3):
            dense = torch.linalg.solve(
                torch.eye(L.shape[0], dtype=torch.float64) + h * L, r.flatten(1).T
            )
            solved = dynamics.implicit_solve(r, h, p)
            torch.testing.assert_close(solved.flatten(1), dense.T, rtol=1e-10, atol=1e-12)


def test_dense_solve_and_spectrum():
    dynamics = make_dynamics("diffusion-reaction", 6, T=1.0, intervals=1).double()
    p = dynamics.stage_parameters(1, (0.0,))[0][0]
    r = torch.randn(4, 6, dtype=torch.float64)
    L = dynamics.diffusion_matrix(r, p).detach()
    torch.testing.assert_close(L, p[2].T @ p[2] + 1e-3 * torch.eye(6, dtype=torch.float64))
    assert float(torch.linalg.eigvalsh(L).min()) >= 1e-3 - 1e-12
    dense = torch.linalg.solve(torch.eye(6, dtype=torch.float64) + 0.7 * L, r.T).T
    torch.testing.assert_close(dynamics.implicit_solve(r, 0.7, p), dense, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "kernel, shape", [("dense", (3,)), ("conv1d", (2, 6)), ("conv2d", (2, 4, 3))]
)
def test_imex_block_gradient_float64(kernel, shape):
    block = ODEBlock(
        shape[0], steps=2, dynamics="diffusion-reaction", integrator="imex", kernel=kernel,
        interp="linear",
    ).double()  # fmt: skip
    names = [n for n, _ in block.named_parameters()]
    assert "dynamics.diffusion_weight.values" in names
    params = tuple(p.detach().clone().requires_grad_() for p in block.parameters())
    y0 = torch.randn(2, *shape, dtype=torch.float64, requires_grad=True)

    def output(y0, *values):
        return torch.func.functional_call(block, dict(zip(names, values)), (y0,)).square().sum()

    assert torch.autograd.gradcheck(output, (y0, *params), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "kernel, norm", [("dense", "none"), ("conv1d", "none"), ("conv1d", "instance")]
)
def test_exact_jacobians_match_autograd(kernel, norm):
    dynamics = make_dynamics(
        "diffusion-reaction", 2, T=1.0, intervals=1, kernel=kernel, norm=norm
    ).double()
    with torch.no_grad():
        dynamics.bias.values.normal_()
    p = dynamics.stage_parameters(1, (0.0,))[0][0]
    y = torch.randn(3, 2, *([5] if kernel == "conv1d" else []), dtype=torch.float64)
    n = y[0].numel()

    def per_example(f):
        return torch.stack(
            [
                torch.autograd.functional.jacobian(lambda v: f(v[None])[0], row).reshape(n, n)
                for row in y
            ]
        )

    full = per_example(lambda v: dynamics(v, p))
    reaction = per_example(lambda v: dynamics.explicit_rate(v, p))
    torch.testing.assert_close(dynamics.jacobian(y, p).detach(), full, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(
        dynamics.reaction_jacobian(y, p).detach(), reaction, rtol=1e-10, atol=1e-12
    )


def test_stability_function_and_region():
    imex = get_integrator("imex")
    rng = np.random.default_rng(0)
    z = rng.normal(size=200) + 1j * rng.normal(size=200)
    w = -np.abs(rng.normal(size=200)) * 10.0 ** rng.uniform(-2, 4, 200) + 1j * rng.normal(size=200)
    np.testing.assert_allclose(imex.amplification(z, w), np.abs(1 + z) / np.abs(1 - w), rtol=1e-14)
    # the implicit part alone is unconditionally stable (and damping) in the left half-plane
    assert np.all(imex.amplification(0.0, w) <= 1.0)
    np.testing.assert_allclose(imex.amplification(z), np.abs(1 + z), rtol=1e-14)
    # the explicit part's limit is forward Euler's
    for lam in (-3.0, -1 + 1j, -0.2 + 5j, 1j, 0.5):
        assert max_stable_step("imex", [lam]) == pytest.approx(max_stable_step("euler", [lam]))
    # sufficient on the full spectrum: Euler-stable on ν − μ implies |1 + hν| ≤ 1 + hμ
    mu, nu = np.abs(rng.normal(size=500)) * 50, rng.normal(size=500) + 1j * rng.normal(size=500)
    stable = np.abs(1 + (nu - mu)) <= 1
    assert stable.any() and np.all(imex.amplification(nu[stable], -mu[stable]) <= 1 + 1e-12)


def test_one_imex_step_multiplies_by_r_on_a_scalar_problem():
    """y' = −μy + νy with μ = m² + ε, ν = k: one step is y ↦ (1 + hν)/(1 + hμ) y."""
    block = ODEBlock(1, T=0.5, steps=1, dynamics="diffusion-reaction", integrator="imex",
                     activation="identity", grid=1).double()  # fmt: skip
    with torch.no_grad():
        block.dynamics.weight.values.fill_(-0.8)
        block.dynamics.diffusion_weight.values.fill_(20.0)
    y0 = torch.tensor([[1.5]], dtype=torch.float64)
    mu, nu, h = 400.0 + 1e-3, -0.8, 0.5
    R = get_integrator("imex").stability_function(h * nu, -h * mu)
    torch.testing.assert_close(block(y0).detach(), y0 * R)


def test_stability_toolkit_judges_imex_on_the_reaction_spectrum():
    block = ODEBlock(3, T=1.0, steps=4, dynamics="diffusion-reaction", integrator="imex",
                     kernel="conv1d", grid=1).double()  # fmt: skip
    with torch.no_grad():  # K = −I + noise: a damped reaction, Euler-stable at h
        block.dynamics.weight.values.normal_(0.0, 0.05)
        block.dynamics.weight.values[0, :, :, 1] -= torch.eye(3, dtype=torch.float64)
    block.dynamics.set_diffusion_radius(100.0 / block.h, (8,))
    y0 = torch.randn(2, 3, 8, dtype=torch.float64)
    spectra = trajectory_spectra(block, y0)
    assert spectra.explicit_eigenvalues.shape == spectra.eigenvalues.shape == (4, 2, 24)
    stiff = max_stable_step("euler", spectra.eigenvalues.reshape(-1))
    assert stiff <= 2.0 / 100.0 * block.h * 1.001  # h λ_max(L) = 100: Euler needs h ≤ 2/λ
    assert max_stable_step("imex", spectra.for_integrator("imex").reshape(-1)) > block.h
    assert all(discrete_stability(spectra, "imex")["inside_region"])
    assert not any(discrete_stability(spectra, "euler")["inside_region"])


def test_bad_combinations_are_one_line_errors():
    with pytest.raises(
        ResodeError,
        match=r"^integrator 'imex' needs implicit dynamics \(diffusion-reaction\); 'standard' is "
        r"not implicit: use euler, heun, rk3, rk4, leapfrog$",
    ):
        ODEBlock(3, dynamics="standard", integrator="imex")
    with pytest.raises(ResodeError, match="memory='reversible' needs a reversible integrator"):
        ODEBlock(3, dynamics="diffusion-reaction", integrator="imex", memory="reversible")
    with pytest.raises(ResodeError, match="method 'imex' needs implicit dynamics"):
        integrate(lambda t, y: -y, torch.ones(2), 1.0, 2, method="imex")
    dynamics = make_dynamics("diffusion-reaction", 2, T=1.0, intervals=1, kernel="conv2d")
    with pytest.raises(ResodeError, match="diffusion radius must exceed"):
        dynamics.set_diffusion_radius(1e-4, (4, 4))
    with pytest.raises(ResodeError, match="spatial must be the image size"):
        dynamics.diffusion_radius()
    wide = make_dynamics(
        "diffusion-reaction", 2, T=1.0, intervals=1, kernel="conv1d", kernel_size=7
    )
    with pytest.raises(ResodeError, match="at least 3 px per side"):
        wide(torch.randn(1, 2, 2), wide.stage_parameters(1, (0.0,))[0][0])


@pytest.mark.parametrize("norm", ["none", "batch", "instance"])
def test_conv_network_with_imex_trains(norm):
    model = ConvResNet(3, [4, 6], 4, task="segmentation", steps=2, dynamics="diffusion-reaction",
                       integrator="imex", norm=norm)  # fmt: skip
    x, y = torch.randn(2, 3, 8, 8), torch.randint(0, 4, (2, 8, 8))
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert float(model.units[0].dynamics.diffusion_weight.values.grad.abs().sum()) > 0


def test_stiff_experiment_quick(tmp_path):
    result = run_experiment("stiff", tmp_path, quick=True)
    stored = json.loads((tmp_path / "stiff.json").read_text())
    assert (tmp_path / "stiff.png").exists()
    methods = stored["methods"]
    assert stored["h_lambda"] == 100.0 and result["length"] == 16
    assert methods["imex"]["growth"] <= 1.0
    assert methods["euler"]["log10_growth"] > 10 and methods["rk4"]["log10_growth"] > 10
    assert methods["imex"]["max_stable_step"] > stored["h"] > methods["rk4"]["max_stable_step"]
    assert abs(stored["convergence"]["imex_order"] - 1.0) < 0.2
