"""Attacks on models: as strong as foolbox's PGD, perturbations inside the ball and the box,
clean accuracy at ε = 0, reproducible, the Lipschitz lower bound exact for a linear map, and
one-line refusals of bad options."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resode import ResodeError
from resode.analysis.robustness import (
    Attack,
    check_bounds,
    check_radii,
    lipschitz_lower_bound,
    parse_attack,
    perturb,
    robustness_curves,
)
from resode.data import load_dataset
from resode.model.convnet import ConvResNet
from resode.model.resnet import ResNet

# Radii where the digits network below keeps high clean accuracy (0.986) and PGD-20 leaves
# between 0.3 and 0.95 (measured: L∞ 0.92, 0.80, 0.65; L2 0.83, 0.61, 0.35).
RADII = {"linf": [0.03, 0.05, 0.07], "l2": [0.25, 0.4, 0.55]}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Small networks: more threads only add hand-offs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    """A ResNet on the flattened 8×8 digits (pixels in [0, 1]), 300 Adam steps, eval mode;
    with the test split (360 examples)."""
    torch.manual_seed(0)
    data = load_dataset("digits")
    x, y = data.x_train.flatten(1), data.y_train
    model = ResNet(64, 32, 10, dynamics="antisymmetric", integrator="euler", steps=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    draws = torch.Generator().manual_seed(0)
    for _ in range(300):
        batch = torch.randint(len(x), (128,), generator=draws)
        loss = F.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval().zero_grad(set_to_none=True)
    return model, data.x_test.flatten(1), data.y_test


def _clean(model, x, y) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(dim=1) == y


def _one_line(call, match: str) -> None:
    with pytest.raises(ResodeError, match=match) as error:
        call()
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_is_at_least_as_strong_as_foolbox(digits, norm):
    """Same model, radii, 20 steps of 2.5 ε / 20, box (0, 1): resode's robust accuracy is no
    more than one point above foolbox's, started at x (the default) and at random as foolbox."""
    fb = pytest.importorskip("foolbox", reason="foolbox (the dev extra) is the reference")
    model, x, y = digits
    clean = float(_clean(model, x, y).double().mean())
    reference = (fb.attacks.LinfPGD if norm == "linf" else fb.attacks.L2PGD)(
        rel_stepsize=2.5 / 20, steps=20, random_start=True
    )
    torch.manual_seed(0)
    _, _, success = reference(fb.PyTorchModel(model, bounds=(0, 1)), x, y, epsilons=RADII[norm])
    theirs = (~success).double().mean(dim=1).tolist()
    attacks = [Attack("pgd", norm, steps=20), Attack("pgd", norm, steps=20, random_start=True)]
    for curve in robustness_curves(model, x, y, attacks, RADII[norm], bounds=(0, 1)):
        assert clean > 0.95
        for ours, reference_accuracy in zip(curve.accuracy, theirs):
            assert 0 < ours < clean and 0 < reference_accuracy < clean
            assert ours <= reference_accuracy + 0.01, (curve.attack, curve.accuracy, theirs)


@pytest.mark.parametrize("kind", ["pgd", "fgsm", "noise"])
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_perturbations_stay_in_the_ball_and_the_box(digits, kind, norm):
    model, x, y = digits
    eps = torch.linspace(0.0, 0.6 if norm == "l2" else 0.08, len(x))  # one radius per example
    attack = Attack(kind, norm, **({"restarts": 2, "steps": 5} if kind == "pgd" else {}))
    adversarial = perturb(model, x, y, attack, eps, bounds=(0, 1))
    delta = (adversarial - x).flatten(1)
    size = delta.abs().amax(dim=1) if norm == "linf" else delta.norm(dim=1)
    assert adversarial.shape == x.shape and adversarial.dtype == x.dtype
    assert bool((size <= eps + 1e-6).all())
    assert float(adversarial.min()) >= 0 and float(adversarial.max()) <= 1
    assert float(size.max()) > 0.5 * float(eps.max())  # it moved
    free = perturb(model, x, y, attack, 0.05)  # no box: noise and FGSM reach the sphere
    size = (free - x).flatten(1).norm(dim=1, p=float("inf") if norm == "linf" else 2)
    if kind != "pgd":
        assert torch.allclose(size, torch.full_like(size, 0.05), rtol=1e-5)


def test_images_on_the_model_dtype_float64():
    """Image batches (batch, 1, 8, 8) through a float64 ConvResNet: δ in the ball, float64."""
    model = ConvResNet(1, [3, 4], 10, steps=2).double().eval()
    x = torch.rand(6, 1, 8, 8, dtype=torch.float64)
    y = model(x).argmax(dim=1).detach()  # all correct at x: every row is attacked
    for norm, eps in (("linf", 0.1), ("l2", 0.5)):
        adversarial = perturb(model, x, y, Attack("pgd", norm, steps=3), eps, bounds=(0, 1))
        delta = (adversarial - x).flatten(1)
        size = delta.abs().amax(dim=1) if norm == "linf" else delta.norm(dim=1)
        assert adversarial.dtype == torch.float64 and adversarial.shape == x.shape
        assert bool((size <= eps + 1e-12).all()) and float(size.max()) > 0
    curve = robustness_curves(model, x, y, [Attack("fgsm", "l2")], [0, 0.5], batch_size=4)[0]
    assert curve.correct.shape == (2, 6) and curve.correct.dtype == torch.bool


def test_zero_radius_is_the_clean_accuracy_and_curves_only_fall(digits):
    """ε = 0 gives the clean accuracy exactly; adversarial accuracy never rises with ε nor
    above clean (a δ breaking an example at ε lies in every larger ball)."""
    model, x, y = digits
    clean = _clean(model, x, y)
    radii = [0.05, 0.0, 0.02, 0.1]
    attacks = [Attack("pgd", "linf", steps=5), Attack("fgsm", "linf"), Attack("noise", "linf")]
    curves = robustness_curves(model, x, y, attacks, radii, bounds=(0, 1), batch_size=200)
    for curve in curves:
        assert torch.equal(curve.correct[1], clean)
        assert curve.accuracy[1] == float(clean.double().mean())
        assert bool((curve.correct <= clean).all())  # correct at ε needs correct at x
    for curve in curves[:2]:
        ordered = [curve.accuracy[i] for i in (1, 2, 0, 3)]
        assert ordered == sorted(ordered, reverse=True) and ordered[-1] < ordered[0]
    pgd, fgsm, noise = (curve.accuracy[3] for curve in curves)
    assert pgd < noise and fgsm < noise  # measured: 0.35, 0.50, 0.975 at ε = 0.1
    result = curves[0].to_dict()
    assert result["eps"] == radii and result["attack"] == "pgd:5:1" and "correct" not in result
    assert len(json.loads(json.dumps(curves[0].to_dict(examples=True)))["correct"][0]) == len(x)


@pytest.mark.parametrize("kind", ["pgd", "fgsm"])
def test_curves_stop_attacking_broken_examples_without_changing_the_answer(digits, kind):
    """The curves attack a row only until it breaks; a deterministic attack run to the end
    (:func:`perturb`) breaks the same examples."""
    model, x, y = digits
    attack = Attack(kind, "l2", **({"steps": 10} if kind == "pgd" else {}))
    curve = robustness_curves(model, x, y, [attack], [0.4], bounds=(0, 1), batch_size=len(x))[0]
    adversarial = perturb(model, x, y, attack, 0.4, bounds=(0, 1))
    assert torch.equal(curve.correct[0], _clean(model, x, y) & _clean(model, adversarial, y))
    assert 0.3 < curve.accuracy[0] < 0.9


def test_seeded_runs_repeat_and_gradients_stay_out_of_the_model(digits):
    model, x, y = digits
    model.zero_grad(set_to_none=True)  # foolbox's attacks leave gradients in the parameters
    attacks = [Attack("pgd", "l2", steps=4, restarts=2), Attack("noise", "linf", restarts=3)]
    first, again = (
        robustness_curves(model, x, y, attacks, [0.3], batch_size=100, seed=3) for _ in range(2)
    )
    for a, b in zip(first, again):
        assert torch.equal(a.correct, b.correct) and a.lipschitz == b.lipschitz
    draws = [torch.Generator().manual_seed(seed) for seed in (1, 1, 2)]
    noisy = [perturb(model, x, y, Attack("noise", "l2"), 0.3, generator=g) for g in draws]
    assert torch.equal(noisy[0], noisy[1]) and not torch.equal(noisy[0], noisy[2])
    assert all(parameter.grad is None for parameter in model.parameters())
    assert not model.training


def test_lipschitz_lower_bound_is_exact_for_a_linear_map():
    """f(x) = W x + b: the ascent reaches ‖W‖₂ (within 1 %) and no ratio ever exceeds it."""
    torch.manual_seed(0)
    linear = nn.Linear(20, 10).double()
    x = torch.rand(50, 20, dtype=torch.float64)
    y = linear(x).argmax(dim=1).detach()
    exact = float(torch.linalg.matrix_norm(linear.weight.detach(), ord=2))
    curves = robustness_curves(linear, x, y, [Attack("pgd", "l2", steps=5)], [0.5, 1.0])
    found = curves[0].lipschitz
    assert found is not None and 0 < found.value <= exact * (1 + 1e-12)
    estimate = lipschitz_lower_bound(linear, x, curves=curves, examples=4, steps=30, seed=1)
    assert exact * 0.99 <= estimate.value <= exact * (1 + 1e-12)
    assert estimate.source == "ascent" and 0 <= estimate.example < len(x)
    assert estimate.distance == pytest.approx(1e-2)
    single = lipschitz_lower_bound(linear.float(), x.float(), examples=2, steps=30)
    assert exact * 0.99 <= single.value <= exact * (1 + 1e-5)


def test_lipschitz_lower_bound_keeps_the_largest_ratio(digits):
    model, x, y = digits
    curves = robustness_curves(model, x[:60], y[:60], [Attack("pgd", "l2", steps=5)], [0.5])
    attacked = curves[0].lipschitz
    assert attacked is not None and attacked.source == "pgd:5:1 l2 eps=0.5"
    estimate = lipschitz_lower_bound(model, x, curves=curves, examples=8, steps=10)
    ascent = lipschitz_lower_bound(model, x, examples=8, steps=10)
    assert estimate.value == max(attacked.value, ascent.value) > 1
    assert set(estimate.to_dict()) == {"value", "example", "distance", "source"}


def test_attack_specs():
    assert parse_attack("pgd") == Attack("pgd", "linf", steps=20, restarts=1)
    pgd = parse_attack("pgd:50:3", "l2", loss="margin")
    assert (pgd.steps, pgd.restarts, pgd.norm, pgd.loss) == (50, 3, "l2", "margin")
    assert pgd.relative_step == pytest.approx(2.5 / 50)
    assert parse_attack("pgd:7").steps == 7 and parse_attack(" fgsm ").steps == 1
    assert parse_attack("noise:4").restarts == 4 and parse_attack("noise").steps == 0
    for attack in (pgd, parse_attack("fgsm"), parse_attack("noise:2", "l2")):
        assert parse_attack(attack.name, attack.norm, loss=attack.loss) == attack
    assert check_radii(0.1) == [0.1] and check_radii((0, 1)) == [0.0, 1.0]
    assert check_bounds(None) is None and check_bounds([0, 1]) == (0.0, 1.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: parse_attack("cw"), "unknown attack 'cw'; write pgd, pgd:STEPS"),
        (lambda: parse_attack("pgd:0"), "steps must be an integer >= 1, got 0"),
        (lambda: parse_attack("pgd:5:2:1"), "unknown attack"),
        (lambda: parse_attack("fgsm:3"), "unknown attack 'fgsm:3'"),
        (lambda: parse_attack("noise:x"), "unknown attack"),
        (lambda: parse_attack("pgd", "l1"), "unknown norm 'l1'; choose one of: l2, linf"),
        (lambda: Attack("pgd", loss="hinge"), "unknown loss 'hinge'; choose one of: ce, margin"),
        (lambda: Attack("pgd", steps=0), "steps must be an integer >= 1, got 0"),
        (lambda: Attack("pgd", restarts=0), "restarts must be an integer >= 1"),
        (lambda: Attack("pgd", relative_step=-1), "relative_step must be a finite number > 0"),
        (lambda: Attack("fgsm", steps=5), "fgsm takes 1 gradient steps; steps applies to pgd"),
        (lambda: Attack("fgsm", restarts=2), "restarts applies to pgd and noise"),
        (lambda: Attack("noise", random_start=True), "apply to pgd, not noise"),
        (lambda: check_radii(-0.1), "eps must be a finite number >= 0, got -0.1"),
        (lambda: check_radii([0.1, float("nan")]), "eps must be a finite number >= 0"),
        (lambda: check_radii([0.1, float("inf")]), "eps must be a finite number >= 0"),
        (lambda: check_radii("0.1"), "eps must be a number or a list of numbers"),
        (lambda: check_radii([]), "eps must name at least one radius"),
        (lambda: check_bounds((1, 0)), r"bounds must have lo < hi, got \(1.0, 0.0\)"),
        (lambda: check_bounds((0,)), r"bounds must be \(lo, hi\) or None"),
        (lambda: check_bounds((0, "x")), "bounds\\[1\\] must be a finite number"),
        (lambda: check_bounds((0, 1), torch.tensor([[2.0]])), "outside the bounds"),
    ],
)
def test_bad_options_are_refused_in_one_line(call, match):
    _one_line(call, match)


def test_bad_data_is_refused_in_one_line():
    model = nn.Linear(4, 3)
    x, y, pgd = torch.rand(5, 4), torch.zeros(5, dtype=torch.int64), Attack("pgd")
    _one_line(lambda: robustness_curves(model, x, y.int(), [pgd], [0.1]), "int64 tensor")
    _one_line(lambda: robustness_curves(model, x, y[:3], [pgd], [0.1]), r"shape \(5,\)")
    _one_line(lambda: robustness_curves(model, x[:0], y[:0], [pgd], [0.1]), "non-empty")
    _one_line(lambda: robustness_curves(model, x, y, pgd, [0.1]), "list of Attack")
    _one_line(lambda: robustness_curves(model, x, y, ["pgd"], [0.1]), "list of Attack")
    _one_line(lambda: robustness_curves(model, x, y, [pgd], [0.1], batch_size=0), "batch_size")
    _one_line(lambda: robustness_curves(model, x, y, [pgd], [-1.0]), "eps must be")
    _one_line(lambda: robustness_curves(model, x + 1, y, [pgd], [0.1], bounds=(0, 1)), "bounds")
    _one_line(lambda: perturb(model, x, y, "pgd", 0.1), "attack must be an Attack")
    _one_line(lambda: perturb(model, x, y, pgd, torch.ones(3)), "one radius or one per example")
    _one_line(lambda: perturb(model, x, y, pgd, torch.tensor(-1.0)), "finite numbers >= 0")
    _one_line(lambda: lipschitz_lower_bound(model, x, examples=0), "examples must be an integer")
    _one_line(lambda: lipschitz_lower_bound(model, x, radius=0), "radius must be a finite")
