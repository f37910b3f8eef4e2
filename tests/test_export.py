"""Exported networks (ONNX, TorchScript, torch.export) compute what the eager model computes."""

import pytest
import torch

from resode.cli import main
from resode.runs import load_run
from resode.runs.export import export_run

RUNS = {
    "dense": ["--data", "circles", "--steps", "3", "--width", "6"],
    "hamiltonian": ["--data", "circles", "--dynamics", "hamiltonian", "--integrator", "verlet"],
    "plain": ["--data", "circles", "--network", "plain", "--steps", "3"],
    "conv": ["--data", "digits", "--widths", "4,6", "--steps", "2"],
    "signal": ["--data", "mnist1d", "--widths", "4", "--steps", "2", "--norm", "instance"],
    "segmentation": ["--data", "bars", "--image-size", "16", "--widths", "4", "--steps", "2"],
    "batchnorm": ["--data", "digits", "--widths", "4,6", "--steps", "2", "--norm", "batch"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for name, args in RUNS.items():
        common = ["--epochs", "1", "--quiet", "--out", str(root / name)]
        assert main(["train", *args, *common]) == 0
    return root


def _close(got, want) -> None:
    got = torch.as_tensor(got)
    assert got.shape == want.shape
    assert (got - want).abs().max() <= 1e-5 * want.abs().max()


def _eager(run, steps=None):
    model, dataset = load_run(run)
    if steps is not None:
        model.steps = steps
    with torch.no_grad():
        return dataset.x_test, model(dataset.x_test)


@pytest.mark.parametrize("name", RUNS)
def test_pt2_and_torchscript_match_the_eager_model(runs, name, tmp_path):
    x, want = _eager(runs / name)
    program = torch.export.load(str(export_run(runs / name, "pt2", out=tmp_path / "m.pt2")))
    _close(program.module()(x), want)
    _close(program.module()(x[:1]), want[:1])  # the batch size is dynamic
    traced = torch.jit.load(str(export_run(runs / name, "torchscript", out=tmp_path / "m.pt")))
    _close(traced(x), want)
    _close(traced(x[:1]), want[:1])


@pytest.mark.parametrize("name", RUNS)
def test_onnx_matches_the_eager_model_in_onnxruntime(runs, name, tmp_path):
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    x, want = _eager(runs / name)
    path = export_run(runs / name, "onnx", out=tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (x, x[:3], x[:1]):
        (got,) = session.run(None, {"x": batch.numpy()})
        _close(got, want[: len(batch)])


def test_batch_norm_exported_answers_one_example_as_the_eager_model_in_a_batch(tmp_path):
    """Batch normalization evaluates with its running statistics: the exported network given
    one example alone answers what the eager one answers for it inside the test batch, in
    float64 (ONNX Runtime has no float64 convolution, so a dense run) to ≤ 1e-6 relative: the
    ONNX exporter stores the Runge–Kutta weights (h/6 …) rounded to float32 (2e-7 measured)."""
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    run = tmp_path / "run"
    flags = ["--width", "6", "--norm", "batch", "--dtype", "float64", "--epochs", "1", "--quiet"]
    assert main(["train", "--data", "circles", *flags, "--out", str(run)]) == 0
    x, want = _eager(run)
    assert x.dtype == torch.float64
    onnx = ort.InferenceSession(
        str(export_run(run, "onnx", out=tmp_path / "m.onnx")), providers=["CPUExecutionProvider"]
    )
    program = torch.export.load(str(export_run(run, "pt2", out=tmp_path / "m.pt2"))).module()
    traced = torch.jit.load(str(export_run(run, "torchscript", out=tmp_path / "m.pt")))
    formats = {
        "onnx": lambda one: torch.as_tensor(onnx.run(None, {"x": one.numpy()})[0]),
        "pt2": program,
        "torchscript": traced,
    }
    for name, exported in formats.items():
        for i in range(0, len(x), len(x) // 20):
            with torch.no_grad():
                got = exported(x[i : i + 1])[0]
            error = (got - want[i]).abs().max() / want[i].abs().max()
            assert error <= 1e-6, (name, i, float(error))


def test_export_at_another_depth(runs, tmp_path):
    x, want = _eager(runs / "dense", steps=7)
    program = torch.export.load(str(export_run(runs / "dense", "pt2", steps=7, out=tmp_path / "d")))
    _close(program.module()(x), want)


def test_export_from_the_cli_and_refusals(runs, tmp_path, capsys):
    assert main(["export", str(runs / "dense"), "--format", "pt2", "--steps", "5"]) == 0
    assert (runs / "dense" / "model.pt2").exists()
    assert main(["export", str(runs / "dense"), "--format", "tflite"]) == 2
    assert "unknown export format 'tflite'" in capsys.readouterr().err
    assert main(["export", str(runs / "plain"), "--format", "pt2", "--steps", "5"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
