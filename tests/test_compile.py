"""``--compile``: training, evaluation and prediction through ``torch.compile``."""

import json

import pytest
import torch
from safetensors.torch import load_file

from resode.cli import main
from resode.errors import ResodeError
from resode.runs import evaluate_run
from resode.training.config import TrainConfig
from resode.training.factory import build_model
from resode.training.state import extended_config


def _compile_works() -> str | None:
    """None when torch.compile runs here, else why not."""
    if not hasattr(torch, "compile"):
        return "this PyTorch has no torch.compile"
    try:
        torch.compile(lambda x: x * 2 + 1)(torch.ones(3))
    except Exception as error:  # no C compiler, an unsupported Python, …
        return f"torch.compile does not run here: {type(error).__name__}: {error}"
    return None


def test_a_compiled_run_saves_the_eager_weights_and_evaluates_alike(tmp_path):
    reason = _compile_works()
    if reason is not None:
        pytest.skip(reason)
    run = tmp_path / "run"
    tiny = ["--data", "peaks", "--epochs", "1", "--steps", "2", "--width", "4", "--quiet"]
    assert main(["train", *tiny, "--batch-size", "500", "--compile", "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["compile"] is True
    eager_model = build_model(TrainConfig(data="peaks", steps=2, width=4), config["model"])
    assert set(load_file(run / "model.safetensors")) == set(eager_model.state_dict())
    trained = json.loads((run / "metrics.json").read_text())
    eager = evaluate_run(run)[0]
    compiled = evaluate_run(run, compile=True)[0]
    for key in ("train_loss", "test_loss", "test_accuracy"):
        assert eager[key] == pytest.approx(trained[key], abs=1e-5)
        assert compiled[key] == pytest.approx(eager[key], abs=1e-5)


def test_compile_may_change_when_resuming():
    stored = TrainConfig(data="circles", epochs=2)
    assert extended_config(stored, {"compile": True, "epochs": 3}).compile is True
    with pytest.raises(ResodeError, match="cannot change lr"):
        extended_config(stored, {"compile": True, "lr": 0.5})


def test_compile_is_refused_where_the_step_runs_eagerly():
    with pytest.raises(ResodeError, match="--compile applies to adam and sgd"):
        TrainConfig(data="peaks", optimizer="gauss-newton", compile=True)
    with pytest.raises(ResodeError, match="--compile applies to adam and sgd"):
        TrainConfig(data="peaks", varpro=True, compile=True)
