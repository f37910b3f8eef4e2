"""The architecture's promises: one step loop, one block specification, typed capabilities,
one tensor check, old run directories still working, no import running upward."""

import ast
import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import resode
from resode import BlockSpec, ODEBlock, ResodeError, integrate
from resode.analysis import step_map_spectra
from resode.analysis.diagnosis import diagnose
from resode.cli.parser import build_parser
from resode.integrators import INTEGRATORS, Integrator
from resode.model.dynamics import DYNAMICS
from resode.runs import evaluate_run, load_run
from resode.training import TrainConfig, train
from resode.training.config import BLOCK_FIELDS
from resode.training.config_file import write_config_toml
from resode.training.recipes import compose_config
from resode.training.state import read_config, write_config

DATA = Path(__file__).parent / "data"
SOURCE = Path(resode.__file__).parent

# The layers of src/resode, lowest first: a module may import its own layer and the ones below.
# A module's layer is its top-level package's (or module's) name, unless LAYER_OF says otherwise.
# Names not (or no longer) present cost nothing.
LAYERS = (
    "errors",
    "stop",
    "settings",
    "storage",
    "tasks",
    "files",
    "integrators",
    "memory",
    "model",
    "data",
    "plots",  # figures from results (dicts): reads data's class names, writes through files
    "analysis",
    "run directory",  # the run-directory leaves that training uses (see LAYER_OF)
    "training",
    "runs",
    "sweeps",  # many runs on an Optuna study: trains runs, reads their directories
    "experiments",
    "cli",
    "resode",  # the package itself: __init__ and __main__
)
# Modules (dotted, under resode) whose layer is not their package's; the longest match counts.
LAYER_OF = {
    "__init__": "resode",
    "__main__": "resode",
    "runs.layout": "run directory",
    "runs.directory": "run directory",
    "runs.lock": "run directory",
}
# Known imports that run upward, (importer, imported), each with its reason; the test fails
# when one is no longer made, so this list only shrinks.
UPWARD_EXCEPTIONS: set[tuple[str, str]] = set()


def _pairs():
    """(dynamics, integrator, memory) for every fitting combination of one dense block."""
    for dynamics, cls in DYNAMICS.items():
        for name, method in INTEGRATORS.items():
            if not method.supports(cls):
                continue
            for memory in ("store", "checkpoint", "reversible"):
                if memory != "reversible" or method.reversible:
                    yield dynamics, name, memory


@pytest.fixture
def counted_loop(monkeypatch):
    """Counts the passes through Integrator.iterate, the one step loop."""
    calls = []
    original = Integrator.iterate

    def iterate(self, field, carry, h, steps):
        calls.append(len(steps))
        yield from original(self, field, carry, h, steps)

    monkeypatch.setattr(Integrator, "iterate", iterate)
    return calls


@pytest.mark.parametrize("dynamics, integrator, memory", list(_pairs()))
def test_every_memory_mode_and_states_run_the_one_loop(counted_loop, dynamics, integrator, memory):
    torch.manual_seed(0)
    block = ODEBlock(3, T=1.0, steps=5, dynamics=dynamics, integrator=integrator).double()
    y0 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    reference = block(y0)
    (reference_grad,) = torch.autograd.grad(reference.square().sum(), y0)
    block.memory = memory
    counted_loop.clear()
    out = block(y0)
    assert sum(counted_loop) == 5, counted_loop  # all five steps went through iterate
    (grad,) = torch.autograd.grad(out.square().sum(), y0)  # checkpoint: recomputed there too
    torch.testing.assert_close(out, reference, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, reference_grad, rtol=1e-9, atol=1e-12)
    last = list(block.states(y0))[-1]
    torch.testing.assert_close(block.dynamics.project(last), reference, rtol=1e-12, atol=1e-12)


def test_integrate_step_map_and_diagnosis_run_the_one_loop(counted_loop):
    integrate(lambda t, y: -y, torch.ones(2), T=1.0, steps=7, method="heun")
    assert counted_loop == [7]
    model = resode.ResNet(2, 3, 2, steps=6)
    counted_loop.clear()
    step_map_spectra(model.block, torch.randn(2, 3))
    assert counted_loop == [6]
    counted_loop.clear()
    diagnose(model, torch.randn(5, 2))
    assert counted_loop == [6]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_odeblock_rejects_non_finite_input(bad):
    x = torch.randn(3, 4)
    x[1, 2] = bad
    with pytest.raises(ResodeError, match="ODEBlock input contains non-finite values"):
        ODEBlock(4)(x)


def test_odeblock_rejects_wrong_dtype_and_non_tensors():
    with pytest.raises(ResodeError, match="the network is torch.float32"):
        ODEBlock(4)(torch.randn(2, 4, dtype=torch.float64))
    with pytest.raises(ResodeError, match="ODEBlock input must be a torch.Tensor, got list"):
        ODEBlock(4)([[1.0] * 4])


def test_spec_is_frozen_validated_and_round_trips():
    spec = BlockSpec(dynamics="hamiltonian", integrator="verlet", T=2, steps=6, memory="reversible")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.steps = 3
    assert BlockSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.T == 2.0 and isinstance(spec.T, float)
    with pytest.raises(ResodeError, match=r"^unknown block option depth; the options are: T, "):
        BlockSpec.of(depth=3)
    with pytest.raises(ResodeError, match="integrator 'verlet' needs split dynamics"):
        BlockSpec(integrator="verlet")
    with pytest.raises(ResodeError, match="gamma applies only to antisymmetric dynamics"):
        BlockSpec(dynamics="parabolic", gamma=0.5)


def test_a_block_rebuilt_from_its_spec_is_the_same_network():
    block = ODEBlock(5, T=2.0, steps=4, grid=2, interp="linear", dynamics="parabolic")
    block.steps = 8  # the spec follows the block as it is now
    twin = ODEBlock(5, block.spec)
    assert twin.spec == block.spec and twin.steps == 8 and twin.dynamics.weight.intervals == 2
    twin.load_state_dict(block.state_dict())
    y = torch.randn(3, 5)
    torch.testing.assert_close(twin(y), block(y))


def test_a_block_resolves_its_memory_mode_when_set_not_in_each_forward(monkeypatch):
    block = ODEBlock(3, dynamics="hamiltonian", integrator="verlet", steps=4, memory="reversible")
    with pytest.raises(ResodeError, match="memory='adjoint' needs an explicit Runge–Kutta"):
        block.memory = "adjoint"
    assert block.memory == "reversible" and block.spec.memory == "reversible"
    monkeypatch.setattr("resode.memory.MEMORY_MODES", {})  # no lookup by name from here on
    y0 = torch.randn(2, 3, requires_grad=True)
    block(y0).square().sum().backward()
    with torch.no_grad():
        torch.testing.assert_close(block(y0), block(y0.detach()))


def test_keyword_constructors_and_a_spec_agree():
    spec = BlockSpec(dynamics="standard", integrator="heun", T=3.0, steps=5, activation="relu")
    torch.manual_seed(1)
    by_spec = resode.ResNet(2, 4, 3, spec)
    torch.manual_seed(1)
    by_keywords = resode.ResNet(
        2, 4, 3, dynamics="standard", integrator="heun", T=3.0, steps=5, activation="relu"
    )
    assert by_spec.block.spec == by_keywords.block.spec
    x = torch.randn(6, 2)
    torch.testing.assert_close(by_spec(x), by_keywords(x))


def test_config_block_fields_are_the_specs_and_round_trip_through_config_json(tmp_path):
    spec_fields = {f.name: f for f in dataclasses.fields(BlockSpec)}
    for item in dataclasses.fields(TrainConfig):
        assert item.metadata["help"], item.name  # every CLI flag has its help
        if item.name in BLOCK_FIELDS:
            shared = dict(spec_fields[item.name].metadata, help=item.metadata["help"])
            assert dict(item.metadata) == shared, item.name
    config = TrainConfig(dynamics="hamiltonian", integrator="verlet", steps=6, memory="reversible")
    write_config(tmp_path, config, {"kind": "vector"})
    again = read_config(tmp_path)
    assert again == config and again.block_spec() == config.block_spec()
    assert again.block_spec() == BlockSpec(
        dynamics="hamiltonian", integrator="verlet", T=4.0, steps=6, memory="reversible"
    )


NOT_RUN_SETTINGS = {
    "kernel": "each unit's kernel follows from the data's kind (TrainConfig.block_spec)",
    "init_std": "a library option: runs start from the dynamics' default 1/√fan-in",
}
"""The BlockSpec fields a run does not set, and why; every other one is a TrainConfig field."""


def _a_value(name: str, base: dict):
    """A valid value of the TrainConfig field ``name`` other than its default (with ``base``)."""
    item = TrainConfig.__dataclass_fields__[name]
    if item.metadata.get("choices") is not None:
        candidates = sorted(item.metadata["choices"])
    elif "float" in str(item.type):
        candidates = [0.5, 2.0]
    elif "int" in str(item.type):
        candidates = [5, 3]
    else:
        raise AssertionError(f"no test value of type {item.type} for {name}: extend _a_value")
    for value in candidates:
        if value != item.default:
            try:
                TrainConfig(**base, **{name: value})
            except ResodeError:
                continue
            return value
    raise AssertionError(f"none of {candidates} is a valid {name}")


@pytest.mark.parametrize("name", [item.name for item in dataclasses.fields(BlockSpec)])
def test_a_block_option_reaches_the_run_through_flag_and_config_files(name, tmp_path):
    """A BlockSpec field is, through its one ``block_setting`` line in TrainConfig, a `resode
    train` flag and a key of config.json and config.toml that reaches the run's BlockSpec."""
    assert set(NOT_RUN_SETTINGS) < {item.name for item in dataclasses.fields(BlockSpec)}
    if name in NOT_RUN_SETTINGS:
        assert name not in BLOCK_FIELDS
        return
    assert name in BLOCK_FIELDS, f"add `{name}: ... = block_setting({name!r})` to TrainConfig"
    applies_to = TrainConfig.__dataclass_fields__[name].metadata.get("applies_to")
    base = {"dynamics": applies_to[0]} if applies_to else {}
    base |= {"norm": "group"} if name == "groups" else {}  # an option of one norm
    base |= {"integrator": "euler"} if name == "lipschitz" else {}  # of forward Euler only
    value = _a_value(name, base)
    flags = [f"--{key.replace('_', '-')}={text}" for key, text in {**base, name: value}.items()]
    args = build_parser().parse_args(["train", *flags])
    given = {item.name: getattr(args, item.name) for item in dataclasses.fields(TrainConfig)}
    config = compose_config({key: v for key, v in given.items() if v is not None})
    assert getattr(config, name) == value and getattr(config.block_spec(), name) == value
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    write_config_toml(tmp_path / "config.toml", config)
    assert compose_config({}, tmp_path / "config.toml") == config


@pytest.mark.parametrize("name", sorted(INTEGRATORS))
def test_every_integrator_answers_its_stability(name):
    method = INTEGRATORS[name]
    if not method.discretizes_ode:  # the plain network's layer map says why it has none
        with pytest.raises(ResodeError, match="not the discretization of an ODE"):
            method.max_stable_step(np.array([1j]))
        return
    assert isinstance(method.max_stable_step(np.array([1j, -1 + 0.5j])), float)
    assert method.max_stable_step(np.array([-2.0 + 0j])) >= 0.0
    try:
        value = method.stability_function(0.5j)
    except ResodeError as error:  # the documented reason why there is no single R(z)
        assert method.no_stability_function and method.no_stability_function in str(error)
    else:
        assert abs(value) == pytest.approx(float(method.amplification(0.5j)))


@pytest.mark.parametrize("name", ["peaks_hamiltonian_v0", "digits_conv_v0"])
def test_run_directories_written_by_resode_0_1_still_load_and_resume(tmp_path, name):
    run = tmp_path / name
    shutil.copytree(DATA / name, run)
    stored = json.loads((run / "metrics.json").read_text())
    (result,) = evaluate_run(run)
    assert result["test_accuracy"] == pytest.approx(stored["test_accuracy"], abs=1e-6)
    model, _ = load_run(run)
    assert math.isfinite(float(model.head.weight.detach().sum()))
    config = read_config(run)
    longer = dataclasses.replace(config, epochs=config.epochs)
    metrics = train(longer, run, resume=True, progress=False)  # nothing left: same numbers
    assert metrics["test_accuracy"] == pytest.approx(stored["test_accuracy"], abs=1e-6)


def _module_names() -> dict[str, Path]:
    """Every module of src/resode by dotted name under resode (a package by its own name)."""
    names = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _imports(name: str, path: Path, modules: dict) -> set[str]:
    """The resode modules ``name`` imports anywhere in its file (module and function level);
    ``from package import submodule`` counts the submodule, not the package."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    if name == "__init__":
        package = []
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = ["resode", *package[: len(package) - node.level + 1]]
                module = ".".join(base + ([module] if module else []))
            submodules = [f"{module}.{alias.name}" for alias in node.names]
            imported = [m for m in submodules if m.removeprefix("resode.") in modules]
            if len(imported) < len(submodules):  # some names are attributes of the module
                imported.append(module)
        else:
            continue
        inner = ("__init__" if m == "resode" else m.removeprefix("resode.") for m in imported)
        found.update(m for m in inner if m in modules)
    found.discard(name)
    return found


def _layer(name: str) -> int:
    parts = name.split(".")
    for length in range(len(parts), 0, -1):
        layer = LAYER_OF.get(".".join(parts[:length]))
        if layer is not None:
            return LAYERS.index(layer)
    assert parts[0] in LAYERS, f"resode.{name} has no layer: add it to LAYERS or LAYER_OF"
    return LAYERS.index(parts[0])


def test_no_import_runs_upward():
    assert set(LAYER_OF.values()) <= set(LAYERS)
    modules = _module_names()
    edges = {(name, imported) for name, path in modules.items()
             for imported in _imports(name, path, modules)}  # fmt: skip
    seen = {("model.block", "memory"), ("memory.base", "integrators.stages"),
            ("memory.reversible", "integrators.base"), ("__main__", "cli"),
            ("data", "data.sources")}  # fmt: skip
    assert seen <= edges  # the scan sees imports of each form, also inside functions
    upward = sorted(
        f"resode.{name} imports resode.{imported} ({LAYERS[_layer(imported)]} is above "
        f"{LAYERS[_layer(name)]})"
        for name, imported in edges - UPWARD_EXCEPTIONS
        if _layer(imported) > _layer(name)
    )
    assert not upward, "\n".join(upward)
    stale = sorted(UPWARD_EXCEPTIONS - edges)
    assert not stale, f"no longer imported, remove from UPWARD_EXCEPTIONS: {stale}"
