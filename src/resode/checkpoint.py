"""Atomic, pickle-free persistence: JSON for configuration and metrics, safetensors for tensors.

Every file is written to a temporary file in the same directory, flushed to disk and
renamed over the target, so a crash at any moment leaves either the old or the new file.
A training checkpoint is one safetensors file: tensors (model, optimizer state, RNG states)
plus a JSON document in its metadata (counters, optimizer and scheduler settings).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from .errors import RunDirectoryError

STATE_KEY = "resode_state"


def atomic_write(path: str | Path, write: Callable[[Any], None], binary: bool = False) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def write_json(path: str | Path, data: Any) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=2) + "\n"))


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunDirectoryError(f"missing file {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunDirectoryError(f"corrupt JSON file {path}: {error}") from None


def write_tensors(
    path: str | Path, tensors: dict[str, torch.Tensor], state: Any | None = None
) -> None:
    """Write tensors (and an optional JSON-serializable ``state``) as one safetensors file."""
    contiguous = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    metadata = {STATE_KEY: json.dumps(state)} if state is not None else None
    payload = save(contiguous, metadata=metadata)
    atomic_write(path, lambda f: f.write(payload), binary=True)


def read_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], Any]:
    """Read a file written by :func:`write_tensors`: (tensors, state or None)."""
    path = Path(path)
    if not path.is_file():
        raise RunDirectoryError(f"missing file {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
            metadata = handle.metadata() or {}
        state = json.loads(metadata[STATE_KEY]) if STATE_KEY in metadata else None
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as error:
        raise RunDirectoryError(f"corrupt tensor file {path}: {error}") from None
    return tensors, state


def optimizer_to_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], Any]:
    """Split an optimizer's state_dict into tensors and a JSON document."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state_dict["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def optimizer_from_flat(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], document: Any
) -> None:
    """Inverse of :func:`optimizer_to_flat`: load the state into ``optimizer``."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    for index, entries in document["scalars"].items():
        state.setdefault(int(index), {}).update(entries)
    groups = document["param_groups"]
    for group in groups:
        for key, value in group.items():
            if key == "betas":
                group[key] = tuple(value)
    optimizer.load_state_dict({"state": state, "param_groups": groups})
