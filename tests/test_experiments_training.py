"""The experiments that train networks (paths, generalization) and the experiment command."""

import json

from resode.cli import main
from resode.experiments import run_experiment


def test_paths_quick(tmp_path):
    result = run_experiment("paths", tmp_path, quick=True)
    stored = json.loads((tmp_path / "paths.json").read_text())
    assert stored["linear_separability"] == result["linear_separability"]
    assert set(result["linear_separability"]) == {"Y_0", "Y_N"}
    assert all(0.0 <= v <= 1.0 for v in result["linear_separability"].values())
    assert (tmp_path / "paths.png").stat().st_size > 10_000


def test_generalization_quick(tmp_path):
    result = run_experiment("generalization", tmp_path, quick=True)
    standard = result["networks"]["standard+euler"]
    stable = result["networks"]["antisymmetric+rk4"]
    assert abs(stable["max_real_eigenvalue"]) < 1e-9  # energy-bounded by construction
    assert standard["max_real_eigenvalue"] > 1e-3  # the plain ResNet has growing directions
    assert (
        standard["sensitivity"]["singular_value_max"] > stable["sensitivity"]["singular_value_max"]
    )
    assert (tmp_path / "generalization.png").is_file()
    assert json.loads((tmp_path / "generalization.json").read_text())["steps"] == 8


def test_experiment_command(tmp_path, capsys):
    assert main(["experiment", "paths", "--quick", "--out", str(tmp_path)]) == 0
    assert "paths.json" in capsys.readouterr().out
    assert main(["experiment", "nothing", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("resode: error: unknown experiment 'nothing'; choose one of: ")
    assert main(["experiment", "paths", "--grid", "5", "--out", str(tmp_path)]) == 2
    assert "takes no option grid" in capsys.readouterr().err


def test_robustness_quick(tmp_path):
    """Six networks, attacked and certified: the non-expansive one is certified at its bound."""
    result = run_experiment("robustness", tmp_path, quick=True)
    networks = result["networks"]
    assert set(networks) == {
        "standard", "antisymmetric", "hamiltonian", "parabolic", "non-expansive", "plain",
    }  # fmt: skip
    for numbers in networks.values():
        curve = numbers["pgd_accuracy"]
        assert all(a >= b for a, b in zip(curve, curve[1:]))  # a larger ball holds more attacks
        assert numbers["lipschitz_lower_bound"] <= numbers["lipschitz_upper_bound"] * (1 + 1e-5)
    bound = networks["non-expansive"]["settings"]["lipschitz"]
    assert networks["non-expansive"]["lipschitz_upper_bound"] <= bound * (1 + 1e-6)
    assert (tmp_path / "robustness.png").exists() and (tmp_path / "robustness.json").exists()
