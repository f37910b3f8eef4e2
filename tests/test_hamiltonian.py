"""Hamiltonian and second-order networks, Verlet and the two-step leapfrog, memory modes."""

import json

import numpy as np
import pytest
import torch

from resode import ODEBlock, ResNet, ResodeError, get_integrator, integrate
from resode.analysis import max_stable_step, step_map_spectra, trajectory_spectra
from resode.memory import saved_activation_bytes

REVERSIBLE = [
    ("hamiltonian", "verlet"),
    ("second-order", "verlet"),
    ("antisymmetric", "leapfrog"),
    ("standard", "leapfrog"),
]


def _gradients(block, y0, memory):
    block.memory = memory
    block.zero_grad()
    y0 = y0.clone().requires_grad_(True)
    out = block(y0)
    weights = torch.linspace(0.5, 1.5, out.shape[1], dtype=out.dtype)
    (out.sin() * weights.view(1, -1, *([1] * (out.dim() - 2)))).sum().backward()
    return [out.detach(), y0.grad, *(p.grad.clone() for p in block.parameters())]


@pytest.mark.parametrize("dynamics, integrator", REVERSIBLE)
@pytest.mark.parametrize(
    "kernel, grid, interp",
    [
        ("dense", None, "constant"),
        ("conv2d", None, "constant"),
        ("dense", 5, "linear"),
        ("dense", 4, "constant"),
        ("dense", 5, "constant"),
    ],
)
def test_reversible_gradients_equal_stored_gradients(dynamics, integrator, kernel, grid, interp):
    """Exact discrete gradients at constant memory: ≤ 1e-10 relative in float64."""
    torch.manual_seed(0)
    block = ODEBlock(
        3,
        T=2.0,
        steps=24,
        dynamics=dynamics,
        integrator=integrator,
        kernel=kernel,
        init_std=0.6,
        grid=grid,
        interp=interp,
    ).double()
    with torch.no_grad():
        block.dynamics.bias.values.normal_(std=0.3)
    shape = (4, 3) if kernel == "dense" else (4, 3, 5, 4)
    y0 = torch.randn(*shape, dtype=torch.float64)
    stored = _gradients(block, y0, "store")
    for memory in ("reversible", "checkpoint"):
        for ours, reference in zip(_gradients(block, y0, memory), stored):
            scale = float(reference.abs().max())
            assert float((ours - reference).abs().max()) <= 1e-10 * max(scale, 1.0), memory


def test_checkpoint_gradients_equal_stored_gradients_for_runge_kutta():
    torch.manual_seed(1)
    block = ODEBlock(4, steps=10, dynamics="parabolic", integrator="rk4", interp="linear").double()
    y0 = torch.randn(5, 4, dtype=torch.float64)
    for ours, reference in zip(_gradients(block, y0, "checkpoint"), _gradients(block, y0, "store")):
        torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-13)


def test_reversible_memory_does_not_grow_with_depth():
    torch.manual_seed(2)
    y0 = torch.randn(64, 16, requires_grad=True)
    measured = {}
    for memory in ("store", "checkpoint", "reversible"):
        for steps in (16, 256):
            block = ODEBlock(16, steps=steps, dynamics="hamiltonian", integrator="verlet")
            block.memory = memory
            measured[memory, steps] = saved_activation_bytes(block, y0)
    assert measured["reversible", 256] == measured["reversible", 16]
    assert measured["store", 256] >= 12 * measured["store", 16]
    assert measured["reversible", 256] * 20 <= measured["store", 256]
    assert measured["checkpoint", 256] * 4 <= measured["store", 256]  # O(√N): 16 of 256


def test_memory_mode_errors():
    with pytest.raises(ResodeError, match="memory='reversible' needs a reversible integrator"):
        ODEBlock(3, integrator="rk4", memory="reversible")
    with pytest.raises(ResodeError, match="unknown memory mode 'disk'; choose one of"):
        ODEBlock(3, memory="disk")
    with pytest.raises(ResodeError, match="integrator 'verlet' needs split dynamics"):
        ODEBlock(3, dynamics="antisymmetric", integrator="verlet")


def _linear_block(dynamics: str, K: torch.Tensor, T: float, steps: int) -> ODEBlock:
    block = ODEBlock(
        K.shape[0],
        T=T,
        steps=steps,
        dynamics=dynamics,
        integrator="verlet",
        grid=1,
        activation="identity",
    ).double()
    with torch.no_grad():
        block.dynamics.weight.values.copy_(K.unsqueeze(0))
    return block


def _system_matrix(dynamics: str, K: torch.Tensor) -> torch.Tensor:
    n = K.shape[0]
    zero, eye = torch.zeros(n, n, dtype=K.dtype), torch.eye(n, dtype=K.dtype)
    if dynamics == "hamiltonian":  # Y' = KZ, Z' = −KᵀY
        return torch.cat([torch.cat([zero, K], 1), torch.cat([-K.T, zero], 1)], 0)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-K.T @ K, zero], 1)], 0)


@pytest.mark.parametrize("dynamics", ["hamiltonian", "second-order"])
def test_verlet_is_second_order(dynamics):
    g = torch.Generator().manual_seed(4)
    K = torch.randn(4, 4, generator=g, dtype=torch.float64) / 2
    y0 = torch.randn(3, 4, generator=g, dtype=torch.float64)
    T = 3.0
    state = (
        torch.cat([y0, torch.zeros_like(y0)], 1)
        @ torch.linalg.matrix_exp(T * _system_matrix(dynamics, K)).T
    )
    steps = [40, 80, 160, 320]
    errors = []
    for n in steps:
        with torch.no_grad():
            errors.append(float((_linear_block(dynamics, K, T, n)(y0) - state[:, :4]).norm()))
    slope = np.polyfit(np.log([T / n for n in steps]), np.log(errors), 1)[0]
    assert abs(slope - 2) < 0.1


def test_verlet_conserves_the_energy_of_a_linear_hamiltonian_system_without_drift():
    """H = ½‖Y‖² + ½‖Z‖² for Y' = KZ, Z' = −KᵀY: Verlet's error stays O(h²) over long times,
    while RK4 (dissipative on the imaginary axis) drifts steadily."""
    g = torch.Generator().manual_seed(5)
    K = torch.randn(6, 6, generator=g, dtype=torch.float64) / 3
    y0 = torch.randn(2, 6, generator=g, dtype=torch.float64)
    field = _linear_block("hamiltonian", K, 1.0, 1).dynamics
    p = field.stage_parameters(1, (0.0, 0.5))[0]
    verlet = get_integrator("verlet")

    def verlet_energy(h: float, steps: int) -> np.ndarray:
        carry = verlet.initial(field, torch.cat([y0, torch.zeros_like(y0)], 1), h, p)
        energies = []
        for _ in range(steps):
            y, z_half = carry
            z = z_half + h / 2 * field.momentum_rate(y, p[0])  # Z at the same time as Y
            energies.append(float((y.square().sum() + z.square().sum()) / 2))
            carry = verlet.advance(field, carry, h, p)
        return np.array(energies)

    with torch.no_grad():
        coarse, fine = verlet_energy(0.2, 5000), verlet_energy(0.1, 10000)
    exact = float(y0.square().sum() / 2)
    coarse_error, fine_error = np.abs(coarse - exact), np.abs(fine - exact)
    tenth = len(coarse) // 10
    assert coarse_error[-tenth:].max() < 1.3 * coarse_error[:tenth].max()  # no drift (t = 1000)
    assert 3.0 < coarse_error.max() / fine_error.max() < 5.0  # O(h²)
    assert coarse_error.max() < 0.05 * exact
    with torch.no_grad():
        system = _system_matrix("hamiltonian", K)
        rk4 = integrate(
            lambda t, y: y @ system.T,
            torch.cat([y0, torch.zeros_like(y0)], 1),
            1000.0,
            5000,
            method="rk4",
            return_trajectory=True,
        )
    rk4_error = np.abs(rk4.square().sum(dim=(1, 2)).numpy() / 2 - exact)
    assert rk4_error[-tenth:].max() > 5 * rk4_error[1 : tenth + 1].max()  # steady drift


def test_verlet_reverse_undoes_advance():
    torch.manual_seed(6)
    block = ODEBlock(5, steps=3, dynamics="hamiltonian", integrator="verlet").double()
    field, verlet = block.dynamics, block.integrator
    p = field.stage_parameters(3, verlet.stage_offsets)[1]
    carry = (torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64))
    back = verlet.reverse(field, verlet.advance(field, carry, 0.3, p), 0.3, p)
    for ours, reference in zip(back, carry):
        torch.testing.assert_close(ours, reference, rtol=0, atol=1e-14)


def test_leapfrog_network_is_the_second_order_recursion():
    """second-order + verlet: Y_{l+1} = 2Y_l − Y_{l−1} − h² Kᵀσ(KY_l + b), one weight set per
    step, from Y_{−1} = Y_0 − (h²/2) Kᵀσ(KY_0 + b) ≈ Y(−h) when Y'(0) = 0."""
    torch.manual_seed(7)
    block = ODEBlock(4, T=2.0, steps=6, dynamics="second-order", integrator="verlet").double()
    with torch.no_grad():
        block.dynamics.bias.values.normal_()
    Ks, bs = block.dynamics.weight.values, block.dynamics.bias.values
    y0 = torch.randn(3, 4, dtype=torch.float64)
    h = block.h

    def force(y, l):
        return -torch.tanh(y @ Ks[l].T + bs[l]) @ Ks[l]

    previous, y = y0 + h**2 / 2 * force(y0, 0), y0
    for l in range(6):
        previous, y = y, 2 * y - previous + h**2 * force(y, l)
    with torch.no_grad():
        torch.testing.assert_close(block(y0), y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("memory", ["store", "reversible"])
@pytest.mark.parametrize("dynamics", ["second-order", "hamiltonian"])
def test_leapfrog_network_taylor_test(dynamics, memory):
    """loss(θ + εδ) − loss(θ) − ε⟨∇loss, δ⟩ shrinks 4× when ε halves (consistent gradient)."""
    torch.manual_seed(8)
    model = ResNet(2, 6, 3, T=2.0, steps=10, dynamics=dynamics, integrator="verlet").double()
    model.block.memory = memory
    x = torch.randn(16, 2, dtype=torch.float64)
    labels = torch.randint(0, 3, (16,))
    loss_fn = torch.nn.functional.cross_entropy
    loss = loss_fn(model(x), labels)
    loss.backward()
    directions = [torch.randn_like(p) for p in model.parameters()]
    slope = sum(float((p.grad * d).sum()) for p, d in zip(model.parameters(), directions))
    base = [p.detach().clone() for p in model.parameters()]
    remainders = []
    for eps in (1e-2, 5e-3, 2.5e-3):
        with torch.no_grad():
            for p, b, d in zip(model.parameters(), base, directions):
                p.copy_(b + eps * d)
            moved = float(loss_fn(model(x), labels))
        remainders.append(abs(moved - loss.item() - eps * slope))
    ratios = [remainders[i] / remainders[i + 1] for i in range(2)]
    assert all(3.5 < r < 4.5 for r in ratios), ratios


def test_two_step_leapfrog_is_unstable_for_real_negative_eigenvalues():
    leapfrog = get_integrator("leapfrog")
    assert float(leapfrog.amplification(-0.01)) > 1.0
    assert float(leapfrog.amplification(0.9j)) == pytest.approx(1.0, abs=1e-12)
    assert float(leapfrog.amplification(1.1j)) > 1.0
    y0 = torch.ones(1, dtype=torch.float64)
    with torch.no_grad():
        decaying = integrate(lambda t, y: -y, y0, 30.0, 300, method="leapfrog")
        rotating = integrate(
            lambda t, y: y.flip(0) * torch.tensor([1.0, -1.0], dtype=torch.float64),
            torch.tensor([1.0, 0.0], dtype=torch.float64),
            30.0,
            300,
            method="leapfrog",
        )
    assert abs(float(decaying)) > 1.0  # exact: e^{−30}; the parasitic root grows
    assert float(rotating.norm()) == pytest.approx(1.0, abs=0.01)  # y' = Jy, |hλ| = 0.1
    assert max_stable_step("leapfrog", [-1.0]) == 0.0
    assert max_stable_step("leapfrog", [2j, -2j]) == pytest.approx(0.5)
    assert max_stable_step("verlet", [2j]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "dynamics, integrator", [("second-order", "verlet"), ("antisymmetric", "leapfrog")]
)
def test_step_map_eigenvalues_lie_on_the_unit_circle_below_the_bound(dynamics, integrator):
    """Below the largest stable step of the spectra of J all |μ| = 1; above it some |μ| > 1."""
    torch.manual_seed(9)
    block = ODEBlock(6, T=1.0, steps=4, dynamics=dynamics, integrator=integrator, init_std=1.0)
    y0 = torch.randn(16, 6)

    def bound_at(factor: float) -> tuple[float, float]:
        """Set h = factor · (largest stable step of the current trajectory); re-measure."""
        spectra = trajectory_spectra(block, y0).eigenvalues.reshape(-1)
        block.T = factor * max_stable_step(integrator, spectra) * block.steps
        spectra = trajectory_spectra(block, y0).eigenvalues.reshape(-1)
        return block.h, max_stable_step(integrator, spectra)

    h, bound = bound_at(0.8)
    while h > bound:  # the trajectory moved with h: shrink until h is below its own bound
        h, bound = bound_at(0.8 * bound / h)
    assert bool((step_map_spectra(block, y0).abs() - 1).abs().max() < 1e-8)
    h, bound = bound_at(1.5)
    assert h > bound
    assert float(step_map_spectra(block, y0).abs().max()) > 1.0 + 1e-6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
@pytest.mark.parametrize("memory", ["reversible", "checkpoint"])
def test_memory_modes_on_cuda(memory):
    torch.manual_seed(10)
    block = ODEBlock(8, steps=16, dynamics="hamiltonian", integrator="verlet").double().cuda()
    y0 = torch.randn(32, 8, dtype=torch.float64, device="cuda")
    for ours, reference in zip(_gradients(block, y0, memory), _gradients(block, y0, "store")):
        torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-12)


def test_train_a_reversible_hamiltonian_network_from_the_cli(tmp_path, capsys):
    from resode.cli import main

    tiny = ["--data", "circles", "--epochs", "2", "--steps", "4", "--width", "6", "--quiet"]
    out = tmp_path / "run"
    args = ["train", *tiny, "--dynamics", "hamiltonian", "--integrator", "verlet"]
    assert main([*args, "--memory", "reversible", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["memory"] == "reversible"
    assert main(["evaluate", str(out), "--steps", "4,16"]) == 0
    assert main(["stability", str(out), "--samples", "16"]) == 0
    assert "|μ| step map" in capsys.readouterr().out
    for bad, message in [
        (["--integrator", "verlet"], "integrator 'verlet' needs split dynamics"),
        (["--memory", "reversible"], "memory='reversible' needs a reversible integrator"),
    ]:
        assert main(["train", *tiny, *bad, "--out", str(tmp_path / "x")]) == 2
        assert message in capsys.readouterr().err


def _order_ratios(dynamics, integrator, grid, interp, steps=(64, 128, 256)):
    """Error ratios per doubling of N against RK4 at N = 1536 (a multiple of M, so the
    reference steps never straddle a jump): 4 for order 2, 2 for order 1."""
    torch.manual_seed(0)
    block = ODEBlock(
        4, T=2.0, steps=8, dynamics=dynamics, integrator=integrator, grid=grid, interp=interp
    ).double()
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.3 * torch.randn_like(p))
    reference = ODEBlock(4, block.spec, integrator="rk4", steps=1536).double()
    reference.load_state_dict(block.state_dict())
    y0 = torch.randn(3, 4, dtype=torch.float64)
    errors = []
    with torch.no_grad():
        exact = reference(y0)
        for n in steps:
            block.steps = n
            errors.append(float((block(y0) - exact).norm()))
    return [a / b for a, b in zip(errors, errors[1:])]


@pytest.mark.parametrize(
    "dynamics, integrator", [("hamiltonian", "verlet"), ("antisymmetric", "leapfrog")]
)
@pytest.mark.parametrize("grid, interp", [(4, "constant"), (3, "constant"), (4, "linear")])
def test_reversible_methods_keep_order_two_at_weight_jumps(dynamics, integrator, grid, interp):
    """Constant weights jumping inside [0, T] (M < N): kicks and leapfrog jumps whose span
    crosses a jump are blended over both weight sets; order 2 (was 1: ratio 2.0). With M = 3
    the jumps fall inside steps, so the ratios scatter around 4."""
    for ratio in _order_ratios(dynamics, integrator, grid, interp):
        assert 3.4 < ratio < 4.6
