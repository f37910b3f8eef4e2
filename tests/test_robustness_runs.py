"""``resode robustness RUN`` and what feeds it: attacks in the data's own units, the certified
bound of a run (never broken by the attack), the non-expansive option through a run, and
adversarial training (resumable bit for bit)."""

import json

import pytest
import torch

from conftest import interrupted_and_resumed
from resode.analysis.lipschitz import certified_accuracy, lipschitz_bound
from resode.analysis.robustness import parse_attack, robustness_curves
from resode.cli import main
from resode.data.units import UserUnits
from resode.errors import ResodeError
from resode.runs import load_run
from resode.runs.robustness import robustness_of_run
from resode.training.adversarial import AdversarialTraining

DIGITS = ["--data", "digits", "--widths", "4,6", "--steps", "2", "--lr", "0.02", "--quiet"]
NON_EXPANSIVE = ["--dynamics", "parabolic", "--integrator", "euler", "--lipschitz", "4"]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread beats handing work around
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    torch.set_num_threads(1)
    assert main(["train", *DIGITS, "--epochs", "6", *NON_EXPANSIVE, "--out", str(root / "ne")]) == 0
    assert main(["train", *DIGITS, "--epochs", "2", "--out", str(root / "free")]) == 0
    table = ["--data", "diabetes", "--width", "4", "--epochs", "1", "--quiet"]
    assert main(["train", *table, "--out", str(root / "regression")]) == 0
    return root


def test_the_command_writes_its_report_and_figure(runs, capsys):
    run = runs / "ne"
    args = ["robustness", str(run), "--eps", "0,0.25,0.5", "--attacks", "pgd:10,fgsm,noise"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "certified" in printed and "Lipschitz constant" in printed
    report = json.loads((run / "robustness.json").read_text())
    assert (run / "robustness.png").stat().st_size > 10_000
    model, dataset = load_run(run)
    with torch.no_grad():
        clean = float((model(dataset.x_test).argmax(1) == dataset.y_test).double().mean())
    assert report["clean_accuracy"] == pytest.approx(clean)
    assert [c["kind"] for c in report["attacks"]] == ["pgd", "fgsm", "noise"]
    lipschitz = report["lipschitz"]
    assert lipschitz["lower_bound"] <= lipschitz["upper_bound"] * (1 + 1e-5)
    assert lipschitz["upper_bound"] <= 4 * (1 + 1e-6)  # the non-expansive network's L
    assert report["certified_accuracy"][0] == pytest.approx(clean)
    assert report["box"] == [0.0, 1.0]  # pixels stay pixels


def test_certified_examples_are_never_broken_by_the_attack(runs):
    model, dataset = load_run(runs / "ne")
    model.requires_grad_(False)
    x, y = dataset.x_test, dataset.y_test
    radii = [0.05, 0.1, 0.2, 0.4]
    bound = lipschitz_bound(model, dataset.input_shape)
    certified = certified_accuracy(model, x, y, radii, bound)
    assert max(certified.accuracy) > 0  # something is certified, so the test can fail
    (curve,) = robustness_curves(model, x, y, [parse_attack("pgd:20", "l2")], radii)
    for index, radius in enumerate(radii):
        sure = (certified.radii >= radius) & (certified.radii > 0)
        assert curve.correct[index][sure].all(), f"a certified example broke at ε = {radius}"
        assert curve.accuracy[index] >= certified.accuracy[index]


def test_an_unconstrained_run_has_a_finite_but_useless_certificate(runs):
    report = robustness_of_run(runs / "free", eps=[0, 0.1], attacks=["pgd:5"], samples=50)
    lipschitz = report["lipschitz"]
    assert lipschitz["upper_bound"] > 100 * lipschitz["lower_bound"]


def test_radii_are_in_the_users_units_for_a_standardized_table(tmp_path):
    from sklearn.datasets import load_wine

    data = load_wine(as_frame=True).frame
    data["target"] = data["target"].map({0: "a", 1: "b", 2: "c"})
    path = tmp_path / "wine.csv"
    data.to_csv(path, index=False)
    out = tmp_path / "wine-run"
    args = ["--data", f"csv:{path}", "--target", "target", "--width", "6", "--epochs", "3"]
    assert main(["train", *args, "--quiet", "--out", str(out)]) == 0
    model, dataset = load_run(out)
    units = UserUnits.of(dataset)
    assert units.standardization is not None and units.box is None
    raw = units.to_user(dataset.x_test)
    torch.testing.assert_close(units.to_network(raw), dataset.x_test)
    report = robustness_of_run(out, eps=[0, 1.0], attacks=["pgd:5"])
    names = [factor["name"] for factor in report["lipschitz"]["factors"]]
    assert names[0] == "input scaling"  # max 1/σ: a unit of proline moves little
    scale = report["lipschitz"]["factors"][0]["value"]
    assert scale == pytest.approx(1 / min(units.standardization.std), rel=1e-6)


def test_bad_requests_get_one_line(runs, capsys):
    cases = [
        (["robustness", str(runs / "regression")], "applies to classification"),
        (["robustness", str(runs / "ne"), "--norm", "l3"], "norm"),
        (["robustness", str(runs / "ne"), "--attacks", "cw"], "attack"),
        (["robustness", str(runs / "ne"), "--eps", "-1"], "eps"),
        (["robustness", str(runs / "missing")], "does not exist"),
        (["robustness", str(runs / "ne"), "--out", str(runs / "ne" / "config.json")], "is a file"),
    ]
    for args, named in cases:
        assert main(args) == 2
        error = capsys.readouterr().err.strip()
        assert named in error and "\n" not in error, error


@pytest.mark.parametrize(
    "text, named",
    [("pgd", "must read"), ("pgd:x", "must read"), ("cw:0.1", "attack"),
     ("pgd:-1", "radius"), ("pgd:0.1:l3", "norm"), ("fgsm:0.1:l2:3", "one step")],
)  # fmt: skip
def test_bad_adversarial_specs_get_one_line(text, named):
    with pytest.raises(ResodeError, match=named) as error:
        AdversarialTraining.parse(text)
    assert "\n" not in str(error.value)


def test_adversarial_specs_read_as_documented():
    spec = AdversarialTraining.parse("pgd:0.1")
    assert (spec.attack.kind, spec.attack.norm, spec.attack.steps, spec.eps) == (
        "pgd", "linf", 3, 0.1,
    )  # fmt: skip
    spec = AdversarialTraining.parse("pgd:0.5:l2:7")
    assert (spec.attack.norm, spec.attack.steps, spec.eps) == ("l2", 7, 0.5)


def test_adversarial_training_resumes_bit_identically(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    args = [*DIGITS, "--epochs", "2", "--adversarial", "pgd:0.1:linf:2"]
    assert main(["train", *args, "--out", str(tmp_path / "a")]) == 0
    interrupted_and_resumed(args, tmp_path / "b", monkeypatch)
    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    plain = [*DIGITS, "--epochs", "2", "--out", str(tmp_path / "c")]
    assert main(["train", *plain]) == 0
    c = load_file(tmp_path / "c" / "model.safetensors")
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the attack changed the training


def test_adversarial_training_is_refused_where_it_does_not_apply(capsys):
    assert main(["train", "--data", "diabetes", "--adversarial", "pgd:0.1", "--quiet"]) == 2
    assert "applies to classification" in capsys.readouterr().err
    assert main(["train", *DIGITS, "--varpro", "--adversarial", "pgd:0.1"]) == 2
    assert "without --varpro" in capsys.readouterr().err


def test_linf_radii_are_certified_through_the_l2_ball_that_holds_them(runs):
    """An L∞ ball of radius ε lies in the L2 ball of radius ε√d (d = 64 pixels)."""
    report = robustness_of_run(runs / "ne", eps=[0, 0.01, 0.03], norm="linf", attacks=["fgsm"])
    assert report["certified_eps_l2"] == pytest.approx([0, 0.08, 0.24])
    l2 = robustness_of_run(runs / "ne", eps=[0, 0.08, 0.24], attacks=["fgsm"])
    assert report["certified_accuracy"] == l2["certified_accuracy"]
    assert report["attacks"][0]["accuracy"][-1] >= report["certified_accuracy"][-1]


def test_a_non_expansive_run_exports_to_pt2_and_torchscript_not_onnx(runs, tmp_path, capsys):
    model, dataset = load_run(runs / "ne")
    with torch.no_grad():
        expected = model(dataset.x_test[:5])
    assert (
        main(["export", str(runs / "ne"), "--format", "pt2", "--out", str(tmp_path / "m.pt2")]) == 0
    )
    program = torch.export.load(str(tmp_path / "m.pt2"))
    torch.testing.assert_close(program.module()(dataset.x_test[:5]), expected)
    path = tmp_path / "m.pt"
    assert main(["export", str(runs / "ne"), "--format", "torchscript", "--out", str(path)]) == 0
    torch.testing.assert_close(torch.jit.load(str(path))(dataset.x_test[:5]), expected)
    assert main(["export", str(runs / "ne"), "--format", "onnx", "--out", str(tmp_path / "m")]) == 2
    assert "--format pt2" in capsys.readouterr().err
