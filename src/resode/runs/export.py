"""Shipping a trained run: ONNX (through torch.export), TorchScript or a torch.export program.

A fixed-step network is a fixed graph: N steps of the integrator unrolled, the weights of each
step sampled once. ``export_run`` writes that graph for a run at its trained depth or another
one, with the batch size dynamic. ONNX needs the optional extra ``export`` (onnx, onnxscript);
running the ONNX file needs onnxruntime.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..errors import ResodeError, check_choice, check_int
from ..storage import atomic_path
from ..training.state import read_config
from .layout import EXPORTS
from .load import load_run

FORMATS = {name: Path(file).suffix for name, file in EXPORTS.items()}
"""Export format and its file suffix."""


def _batch_dynamic() -> dict:
    return {"x": {0: torch.export.Dim.DYNAMIC}}


def export_program(model, example: torch.Tensor) -> torch.export.ExportedProgram:
    """``torch.export.export`` of ``model`` (eval mode) with a dynamic batch dimension."""
    return torch.export.export(model, (example,), dynamic_shapes=_batch_dynamic())


def _torchscript(model, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, example, check_trace=False)
    traced.save(str(path))


def _check_onnx(dtype: torch.dtype) -> None:
    """ONNX export needs the ``export`` extra and a float32/float64 run (one line otherwise)."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ResodeError(
            "ONNX export needs the optional extra: pip install 'resode[export]'"
        ) from None
    if dtype == torch.bfloat16:
        raise ResodeError("ONNX export of a bfloat16 run is not supported; train in float32")


def _onnx(model, example: torch.Tensor, path: Path) -> None:
    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=True,
        input_names=["x"],
        output_names=["y"],
        dynamic_shapes=_batch_dynamic(),
        verbose=False,
    )


def export_run(
    run: str | Path, format: str, steps: int | None = None, out: str | Path | None = None
) -> Path:
    """Write the network of ``run`` (at ``steps`` steps per unit, default: as trained) as
    ``format`` (onnx, torchscript, pt2) to ``out`` (default: RUN/model.SUFFIX); returns it."""
    check_choice("export format", format, FORMATS)
    path = Path(out) if out is not None else Path(run) / EXPORTS[format]
    if path.is_dir():
        raise ResodeError(f"--out {path} is a folder; name the file to write")
    model, dataset = load_run(run)
    if steps is not None:
        model.steps = check_int("steps", steps)
    if format == "onnx":
        _check_onnx(dataset.x_test.dtype)
        if read_config(run).lipschitz is not None:
            raise ResodeError(
                "a run trained with --lipschitz computes its norm caps in every forward pass "
                "(SVD, FFT), which ONNX cannot express; export it with --format pt2 or "
                "torchscript"
            )
    example = dataset.x_test[:2]
    with torch.no_grad(), atomic_path(path) as written:
        if format == "onnx":
            _onnx(model, example, written)
        elif format == "torchscript":
            _torchscript(model, example, written)
        else:
            torch.export.save(export_program(model, example), str(written))
    return path
