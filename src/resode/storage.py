"""Atomic, pickle-free persistence: JSON for configuration and metrics, safetensors for tensors.

Every file is written to a temporary file in the same directory, flushed to disk and
renamed over the target, so a crash at any moment leaves either the old or the new file.
A training checkpoint is one safetensors file: tensors (model, optimizer state, RNG states)
plus a JSON document in its metadata (counters, optimizer and scheduler settings).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from .errors import RunDirectoryError

STATE_KEY = "resode_state"
CHECKSUM_KEY = "resode_sha256"


def _checksum(tensors: dict[str, torch.Tensor], state_text: str | None) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, and the state document."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        value = tensors[key].contiguous()
        digest.update(f"{key}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update((state_text or "").encode())
    return digest.hexdigest()


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


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (an exporter);
    renamed to ``path`` when the block ends without an error, removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    """Write tensors (and an optional JSON-serializable ``state``) as one safetensors file.

    The metadata carries a SHA-256 of the contents, so an altered file is refused on reading.
    """
    contiguous = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    state_text = json.dumps(state) if state is not None else None
    metadata = {CHECKSUM_KEY: _checksum(contiguous, state_text)}
    if state_text is not None:
        metadata[STATE_KEY] = state_text
    payload = save(contiguous, metadata=metadata)
    atomic_write(path, lambda f: f.write(payload), binary=True)


def read_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], Any]:
    """Read a file written by :func:`write_tensors`: (tensors, state or None).

    Never executes code from the file; a truncated, altered or foreign file raises
    :class:`RunDirectoryError` before anything is returned.
    """
    path = Path(path)
    if not path.is_file():
        raise RunDirectoryError(f"missing file {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
            metadata = handle.metadata() or {}
        state_text = metadata.get(STATE_KEY)
        state = json.loads(state_text) if state_text is not None else None
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as error:
        raise RunDirectoryError(f"corrupt tensor file {path}: {error}") from None
    if CHECKSUM_KEY not in metadata:
        raise RunDirectoryError(f"{path} has no checksum; it was not written by resode")
    if _checksum(tensors, state_text) != metadata[CHECKSUM_KEY]:
        raise RunDirectoryError(f"corrupt tensor file {path}: checksum mismatch (altered contents)")
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
