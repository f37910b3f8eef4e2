"""Normalization inside the dynamics: the registry, each kind's claims checked numerically
(per example at evaluation, the running statistics in time by hand, refinement), the map of
older runs, and the one guard of the analyses that need a per-example map."""

import copy
import dataclasses
import itertools

import pytest
import torch
import torch.nn.functional as F

from resode import BlockSpec, ODEBlock, ResodeError, make_dynamics
from resode.analysis import (
    iterative_spectra,
    log_norms,
    lyapunov_exponents,
    step_map_spectra,
    trajectory_spectra,
)
from resode.model.normalization import (
    MOMENTUM,
    NORMALIZATIONS,
    Normalization,
    adopt_stored_normalization,
    make_normalization,
)
from resode.training.multilevel import prolongate

KINDS = sorted(NORMALIZATIONS)
SHAPES = {"dense": (), "conv1d": (6,), "conv2d": (3, 4)}
PAIRS = [  # every dynamics with an integrator that fits it
    ("standard", "rk4"),
    ("antisymmetric", "heun"),
    ("parabolic", "euler"),
    ("hamiltonian", "verlet"),
    ("second-order", "verlet"),
    ("diffusion-reaction", "imex"),
]


def _trained_block(norm: str, kernel: str, dynamics: str, integrator: str) -> ODEBlock:
    """A float64 block after two training passes (running statistics recorded), in eval mode."""
    block = ODEBlock(
        4, steps=3, kernel=kernel, norm=norm, dynamics=dynamics, integrator=integrator
    ).double()
    for _ in range(2):
        block(torch.randn(7, 4, *SHAPES[kernel], dtype=torch.float64)).square().sum().backward()
    return block.eval()


def test_the_registry_is_the_norm_setting_and_each_kind_is_named_by_its_key():
    (norm,) = [item for item in dataclasses.fields(BlockSpec) if item.name == "norm"]
    assert sorted(norm.metadata["choices"]) == KINDS
    assert KINDS == ["batch", "group", "instance", "layer", "none"]
    for name, kind in NORMALIZATIONS.items():
        made = make_normalization(name)
        assert isinstance(made, Normalization) and type(made) is kind and made.name == name
        assert made == make_normalization(name)
        assert (made == make_normalization("none")) == (name == "none")
    assert make_normalization("group", 2) != make_normalization("group", 4)
    with pytest.raises(ResodeError, match="unknown normalization 'weird'; choose one of: batch"):
        make_normalization("weird")


@pytest.mark.parametrize("kernel", sorted(SHAPES))
@pytest.mark.parametrize("norm", KINDS)
def test_one_example_alone_is_that_example_in_any_batch(norm, kernel):
    """Every norm, every dynamics that takes one: evaluation maps each example on its own."""
    if norm == "instance" and kernel == "dense":
        pytest.skip("instance normalization needs pixels")
    torch.manual_seed(0)
    for dynamics, integrator in PAIRS:
        block = _trained_block(norm, kernel, dynamics, integrator)
        x = torch.randn(9, 4, *SHAPES[kernel], dtype=torch.float64)
        with torch.no_grad():
            together = block(x)
            alone = torch.cat([block(x[i : i + 1]) for i in range(len(x))])
            reordered = block(x.flip(0)).flip(0)
        scale = together.abs().max()
        assert (together - alone).abs().max() <= 1e-6 * scale, (dynamics, integrator)
        assert (together - reordered).abs().max() <= 1e-6 * scale, (dynamics, integrator)


def test_each_kind_is_the_torch_function_it_names_with_scale_and_shift():
    """N_t(z) + b: the torch normalization with weight 1 + a(t) and bias b(t)."""
    torch.manual_seed(1)
    z = torch.randn(4, 6, 5, dtype=torch.float64)
    a, b = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    field = make_dynamics("standard", 6, T=1.0, intervals=1, kernel="conv1d", norm="batch")
    field.double().eval()
    mean, var = torch.randn(6, dtype=torch.float64), torch.rand(6, dtype=torch.float64) + 0.5
    rows = torch.ones(1, dtype=torch.float64)
    expected = {
        "group": F.group_norm(z, 6, 1 + a, b, eps=1e-5),  # 6 channels: the default 6 groups
        "layer": F.group_norm(z, 1, 1 + a, b, eps=1e-5),
        "instance": F.instance_norm(z, weight=1 + a, bias=b, eps=1e-5),
        "batch": (z - mean.view(1, 6, 1))
        / (var.view(1, 6, 1) + 1e-5).sqrt()
        * (1 + a).view(1, 6, 1)
        + b.view(1, 6, 1),
    }
    for name, want in expected.items():
        got = make_normalization(name).apply(z, b, (a, mean, var, rows), field)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        make_normalization("none").apply(z, b, (), field), z + b.view(1, 6, 1)
    )
    assert make_normalization("group").count(12, pixels=True) == 6
    assert make_normalization("group").count(8, pixels=False) == 4  # two features per group


def test_running_statistics_equal_hand_computed_ones_on_two_steps():
    """Euler, 2 steps, weights on 2 intervals: statistics nodes at t = 0, ¼, ½, ¾, 1 (T = 1).
    Step l's stage at t = l/2 reaches node 2l, which takes the batch mean and unbiased variance
    of K Y_l (a first pass replaces the initial values: r = max(ρ, 1/n) = 1); node 1 lies
    halfway between, nodes 3 and 4 hold the last measured value. A second pass averages."""
    torch.manual_seed(2)
    block = ODEBlock(
        3, steps=2, kernel="conv1d", norm="batch", integrator="euler", dynamics="standard"
    )
    block.double()
    x = torch.randn(5, 3, 4, dtype=torch.float64)
    field = block.dynamics
    K, b, a = field.weight.values, field.bias.values, field.norm_scale.values
    states, measured_mean, measured_var = [x], [], []
    for l in range(2):
        z = F.conv1d(states[-1], K[l], padding=1)
        measured_mean.append(z.mean(dim=(0, 2)))
        measured_var.append(z.var(dim=(0, 2), correction=1))
        pre = F.batch_norm(z, None, None, 1 + a[l], b[l], training=True, eps=1e-5)
        states.append(states[-1] + 0.5 * torch.tanh(pre))
    out = block(x)
    torch.testing.assert_close(out, states[-1], rtol=1e-12, atol=1e-12)
    for measured, stored in ((measured_mean, field.statistics.mean),
                             (measured_var, field.statistics.var)):  # fmt: skip
        first, second = measured
        expected = torch.stack([first, (first + second) / 2, second, second, second])
        torch.testing.assert_close(stored, expected, rtol=1e-12, atol=1e-12)
    assert field.statistics.visits.tolist() == [1, 0, 1, 0, 0]
    first = field.statistics.mean[0].clone()
    y = torch.randn(5, 3, 4, dtype=torch.float64)
    block(y)  # the second pass: the plain average of both
    second = F.conv1d(y, K[0], padding=1).mean(dim=(0, 2))
    torch.testing.assert_close(field.statistics.mean[0], (first + second) / 2)
    assert 1 / MOMENTUM > 2  # the exponential average takes over after 1/ρ passes
    with torch.no_grad():  # evaluation reads them, and changes nothing
        block.eval()
        mean, var = field.statistics.mean.clone(), field.statistics.var.clone()
        block(x)
        assert torch.equal(mean, field.statistics.mean) and torch.equal(var, field.statistics.var)


@pytest.mark.parametrize(
    "memory, integrator", [("checkpoint", "rk4"), ("adjoint", "rk4"), ("reversible", "leapfrog")]
)
def test_every_memory_mode_records_the_statistics_of_the_forward_pass_once(memory, integrator):
    torch.manual_seed(3)
    spec = dict(steps=4, grid=2, kernel="conv1d", norm="batch", integrator=integrator)
    stored = ODEBlock(3, **spec).double()
    other = copy.deepcopy(stored)
    other.memory = memory
    x = torch.randn(6, 3, 5, dtype=torch.float64)
    for block in (stored, other):
        block(x).square().sum().backward()
    torch.testing.assert_close(other.dynamics.statistics.mean, stored.dynamics.statistics.mean)
    torch.testing.assert_close(other.dynamics.statistics.var, stored.dynamics.statistics.var)


@pytest.mark.parametrize("interp", ["constant", "linear"])
def test_statistics_refine_with_the_weights_and_any_depth_reads_them(interp):
    """Prolongation with a refined grid leaves the evaluated network as it was up to the
    integration error; refining alone (same steps on a refined grid) leaves it exactly."""
    torch.manual_seed(4)
    block = ODEBlock(3, steps=4, kernel="conv1d", norm="batch", interp=interp).double()
    for _ in range(3):
        block(torch.randn(8, 3, 5, dtype=torch.float64)).sum().backward()
    block.eval()
    x = torch.randn(4, 3, 5, dtype=torch.float64)
    with torch.no_grad():
        before = block(x)
        stats = block.dynamics.statistics
        refined = copy.deepcopy(stats)
        refined.refine(2)
        assert refined.mean.shape[0] == 17  # nodes at T/16: twice the refined weight grid
        prolongate(block, 2)
        assert block.dynamics.statistics.intervals == 8
        torch.testing.assert_close(block.dynamics.statistics.mean, refined.mean)
        after = block(x)
    assert (after - before).abs().max() < 1e-2 * before.abs().max()


def test_the_map_of_older_runs_is_kept_and_named():
    """Weights without a scale: N(K Y + b) over the current batch, and a note says so."""
    torch.manual_seed(5)
    block = ODEBlock(
        3, steps=2, kernel="conv1d", norm="batch", integrator="euler", dynamics="standard"
    ).double()
    old = {k: v for k, v in block.state_dict().items() if "norm_scale" not in k}
    old = {k: v for k, v in old.items() if "statistics" not in k}
    note = adopt_stored_normalization(block, old)
    assert "depend on which examples share a batch" in note
    block.load_state_dict(old)
    block.eval()
    x = torch.randn(5, 3, 4, dtype=torch.float64)
    K, b = block.dynamics.weight.values, block.dynamics.bias.values
    y = x
    for l in range(2):
        pre = F.batch_norm(F.conv1d(y, K[l], b[l], padding=1), None, None, training=True)
        y = y + 0.5 * torch.tanh(pre)
    with torch.no_grad():
        torch.testing.assert_close(block(x), y, rtol=1e-12, atol=1e-12)
        assert not torch.allclose(block(x[:1]), block(x)[:1])  # batch-dependent, as it was
    with pytest.raises(ResodeError, match="keeps no running statistics .* train it again"):
        trajectory_spectra(block, x)
    assert adopt_stored_normalization(block, block.state_dict()) is None  # already switched


@pytest.mark.parametrize(
    "analysis, what",
    [
        (trajectory_spectra, "Jacobian"),
        (step_map_spectra, "step map"),
        (iterative_spectra, "Jacobian"),
        (log_norms, "Jacobian"),
        (lyapunov_exponents, "Lyapunov exponents"),
    ],
)
def test_every_per_example_analysis_takes_every_norm(analysis, what):
    """The analyses work on the evaluation-mode copy, so batch normalization's running
    statistics make every one a per-example map; group and layer too."""
    torch.manual_seed(0)
    y0 = torch.randn(3, 2, 5)
    for norm in ("batch", "group", "layer", "instance"):
        block = ODEBlock(2, steps=2, kernel="conv1d", norm=norm)
        block(torch.randn(4, 2, 5)).sum().backward()  # a training pass: statistics recorded
        analysis(block, y0)


def test_a_training_mode_field_refuses_a_per_example_jacobian():
    field = make_dynamics("standard", 2, T=1.0, intervals=1, kernel="conv1d", norm="batch")
    y = torch.randn(3, 2, 5)
    with pytest.raises(ResodeError, match=r"training mode couples the examples.*\.eval\(\)"):
        field.jacobian(y, field.stage_parameters(1, (0.0,))[0][0])
    field.eval()
    J = field.jacobian(y.double(), field.double().stage_parameters(1, (0.0,))[0][0])
    assert J.shape == (3, 10, 10)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(norm="batch", groups=2), "groups applies to norm 'group' only, not 'batch'"),
        (dict(norm="group", groups=3), r"groups \(3\) must divide the number of channels \(4\)"),
        (dict(norm="instance", kernel="dense"), "norm 'instance' normalizes over pixels"),
    ],
)
def test_bad_normalization_options_in_one_line(options, message):
    with pytest.raises(ResodeError, match=message):
        ODEBlock(4, **{"kernel": "conv1d", **options})


def test_a_gradient_through_every_norm_matches_finite_differences():
    """float64 gradcheck of the evaluation-mode map (running statistics fixed) and of the
    training-mode map (batch statistics), for the kinds with a scale."""
    torch.manual_seed(6)
    for norm, training in itertools.product(("batch", "group", "layer"), (False, True)):
        block = ODEBlock(2, steps=2, kernel="conv1d", norm=norm).double().train(training)
        x = torch.randn(3, 2, 4, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(block, (x,)), (norm, training)
