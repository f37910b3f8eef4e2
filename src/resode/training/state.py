"""The persistent state of a training run: its config and its checkpoint.

``checkpoint.safetensors`` holds, in one atomically written file, the model weights, the
optimizer state, every RNG state used (data shuffling, torch CPU, CUDA when used), the
epoch and step counters, the scheduler state, the history, the best validation epoch so far
and the config it belongs to; one written mid-epoch also holds where in the epoch it was
written.
Loading checks the checksum and the config before touching the model. A multilevel run also
stores its current level (the model's depth and weight-grid shape) and the summaries of the
finished levels; ``model.safetensors`` names its level in its metadata.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from ..errors import ResodeError, RunDirectoryError
from ..model.normalization import older_normalization
from ..runs.layout import CHECKPOINT, CONFIG, CONFIG_TOML, MODEL
from ..storage import (
    optimizer_from_flat,
    optimizer_to_flat,
    read_json,
    read_tensors,
    write_json,
    write_tensors,
)
from .config import RUNTIME_FIELDS, TrainConfig
from .config_file import write_config_toml


def write_config(out: Path, config: TrainConfig, model_info: dict) -> None:
    """``config.json`` (read back by resume and the analyses) and ``config.toml`` (reproduces
    the run: ``resode train --config RUN/config.toml``)."""
    write_json(out / CONFIG, {**config.to_dict(), "model": model_info})
    write_config_toml(out / CONFIG_TOML, config)


def stored_preprocessing(out: str | Path) -> dict | None:
    """How a run's inputs were encoded and standardized, as its config.json records it (a
    user's own data and the standard sets), or None."""
    path = Path(out) / CONFIG
    if not path.is_file():
        return None
    document = read_json(path)
    model = document.get("model") if isinstance(document, dict) else None
    return model.get("preprocessing") if isinstance(model, dict) else None


def read_config(out: str | Path) -> TrainConfig:
    """The TrainConfig stored in a run directory."""
    path = Path(out) / CONFIG
    document = read_json(path)
    if not isinstance(document, dict):
        raise RunDirectoryError(f"{path} is not a JSON object")
    document.pop("model", None)
    try:
        return TrainConfig.from_dict(document)
    except (ResodeError, TypeError) as error:
        raise RunDirectoryError(f"invalid {path}: {error}") from None


def save_checkpoint(
    out: Path,
    config: TrainConfig,
    model,
    optimizer,
    scheduler,
    generator,
    counters,
    history,
    levels: list[dict] | None = None,
    *,
    position: dict | None = None,
    shuffle_state: torch.Tensor | None = None,
    best: dict | None = None,
    latest_model: bool = True,
) -> None:
    """Write the checkpoint and, with ``latest_model``, ``model.safetensors`` (whose metadata
    names the level); without it ``model.safetensors`` keeps the best epoch's weights.

    ``counters`` holds epoch, step and the current multilevel ``level`` (the model's shape);
    ``levels`` the summaries of the levels already finished. A mid-epoch checkpoint also
    holds the epoch's ``position`` (:class:`~resode.training.epoch.Position` as a dict) and
    stores ``shuffle_state``, the shuffling generator's state at the start of that epoch,
    instead of ``generator``'s current one. ``best`` is the best validation epoch so far
    (:class:`~resode.training.best.Best` as a dict).
    """
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    optimizer_tensors, optimizer_state = optimizer_to_flat(optimizer)
    tensors.update(optimizer_tensors)
    tensors["rng.shuffle"] = generator.get_state() if shuffle_state is None else shuffle_state
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    state = {
        **counters,
        "config": config.to_dict(),
        "optimizer": optimizer_state,
        "scheduler": {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"},
        "history": history,
        "levels": list(levels or []),
        "position": position,
        "best": best,
    }
    write_tensors(out / CHECKPOINT, tensors, state)
    if latest_model:
        level = counters.get("level", 0)
        write_tensors(out / MODEL, model.state_dict(), model_state(level, model))


def model_state(level: int, model) -> dict:
    """Metadata of ``model.safetensors``: the level (and steps) its weights were saved at."""
    return {"level": int(level), "steps": model.steps}


def model_level(state) -> int | None:
    """The level stored by :func:`model_state`, or None (a file without it)."""
    if isinstance(state, dict) and isinstance(state.get("level"), int):
        return state["level"]
    return None


def read_checkpoint(out: Path, config: TrainConfig) -> tuple[dict, dict]:
    """(tensors, state) of the checkpoint in ``out``; refuses a damaged or foreign one.

    Read before the model is built: ``state["level"]`` says at which depth to build it.
    """
    tensors, state = read_tensors(out / CHECKPOINT)
    if not isinstance(state, dict) or "epoch" not in state:
        raise RunDirectoryError(f"{out / CHECKPOINT} holds no training state")
    if not _same_config(state.get("config"), config):
        raise RunDirectoryError(
            f"{out / CHECKPOINT} belongs to another config than {out / CONFIG}; refusing to resume"
        )
    level = state.get("level", 0)
    if not isinstance(level, int) or not 0 <= level < len(config.levels()):
        raise RunDirectoryError(f"{out / CHECKPOINT} names an unknown level {level!r}")
    return tensors, state


def _same_config(stored, config: TrainConfig) -> bool:
    """Whether a checkpoint's stored config is ``config`` (fields added since it was written
    take their defaults), or ``config`` with fewer epochs (a run being trained longer)."""
    try:
        if not isinstance(stored, dict):
            return False
        saved = TrainConfig.from_dict(stored)
    except (ResodeError, TypeError):
        return False
    return same_run(saved, config)


def same_run(stored: TrainConfig, config: TrainConfig) -> bool:
    """Whether ``config`` continues the run ``stored``: the same settings but for the
    :data:`~resode.training.config.RUNTIME_FIELDS` (how it executes, where the data lie) and
    ``epochs``, which may only grow."""
    free = {name: getattr(config, name) for name in RUNTIME_FIELDS}
    same = replace(stored, epochs=config.epochs, **free) == config
    return same and stored.epochs <= config.epochs


def extended_config(stored: TrainConfig, given: dict) -> TrainConfig:
    """``stored`` with more ``epochs`` if ``given`` asks for it (train longer), and the
    :data:`~resode.training.config.RUNTIME_FIELDS` as given (how the run executes and where
    its data lie, not what it computes); any other change of a setting, or fewer epochs, is
    refused naming the field."""
    free = ("epochs", *RUNTIME_FIELDS)
    changed = sorted(k for k, v in given.items() if getattr(stored, k) != v and k not in free)
    if changed:
        raise ResodeError(f"cannot change {', '.join(changed)} when resuming")
    epochs = given.get("epochs", stored.epochs)
    if epochs < stored.epochs:
        raise ResodeError(
            f"cannot lower epochs when resuming (the run is set to {stored.epochs}); "
            "a larger value trains the run longer"
        )
    if epochs > stored.epochs and stored.multilevel is not None:
        raise ResodeError("cannot change epochs of a multilevel run when resuming")
    runtime = {name: given.get(name, getattr(stored, name)) for name in RUNTIME_FIELDS}
    return replace(stored, epochs=epochs, **runtime)


def restore_checkpoint(
    out: Path, checkpoint: tuple[dict, dict], model, optimizer, scheduler, generator
) -> tuple[dict, list, list]:
    """Load a :func:`read_checkpoint` result; return (counters, history, level summaries)."""
    tensors, state = checkpoint
    weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    if older_normalization(model, weights):
        raise RunDirectoryError(
            f"the checkpoint in {out} was saved by an older resode whose normalization kept no "
            "scale or running statistics: it cannot go on training; evaluate or predict with "
            "it, or train a new run"
        )
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise RunDirectoryError(
            f"checkpoint in {out} does not match the model of its config.json"
        ) from None
    device = next(model.parameters()).device
    optimizer_tensors = {k: v.to(device) for k, v in tensors.items() if k.startswith("optimizer.")}
    optimizer_from_flat(optimizer, optimizer_tensors, state["optimizer"])
    scheduler.load_state_dict({**scheduler.state_dict(), **state["scheduler"]})
    generator.set_state(tensors["rng.shuffle"])
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    counters = {
        "epoch": int(state["epoch"]),
        "step": int(state.get("step", 0)),
        "level": int(state.get("level", 0)),
    }
    return counters, list(state["history"]), list(state.get("levels", []))


def load_checkpoint(
    out: Path, config: TrainConfig, model, optimizer, scheduler, generator
) -> tuple[dict, list]:
    """Restore everything from ``out``; return (counters, history). Refuses a foreign config."""
    checkpoint = read_checkpoint(out, config)
    counters, history, _ = restore_checkpoint(
        out, checkpoint, model, optimizer, scheduler, generator
    )
    return counters, history
