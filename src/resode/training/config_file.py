"""A run's configuration as a TOML file: ``key = value`` lines, one per :class:`TrainConfig` field.

``config.toml`` in every run directory reproduces the run (``resode train --config
RUN/config.toml``); ``config.json`` stays the file that ``--resume``, ``evaluate`` and the other
commands read back. A file's missing keys take :class:`TrainConfig`'s defaults; fields that are
not set (None) are left out, as TOML has no null. The tables ``[recipe]``, ``[measured]`` and
``[paper]`` describe a recipe and are not settings (see :mod:`resode.training.recipes`).
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from ..data.files import parse_source
from ..errors import ResodeError
from ..storage import atomic_write
from .config import TrainConfig

METADATA_TABLES = ("recipe", "measured", "paper")
"""Tables of a configuration file that describe it rather than set a field."""


def toml_value(value: Any) -> str:
    """``value`` (str, bool, int, float or a list of them) written as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} as a TOML value")


def toml_table(values: dict[str, Any]) -> str:
    """``key = value`` lines of a flat table (None values left out)."""
    return "".join(f"{key} = {toml_value(v)}\n" for key, v in values.items() if v is not None)


def config_toml(config: TrainConfig, header: str = "") -> str:
    """The text of a TOML file holding every set field of ``config``."""
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + toml_table(config.to_dict())


def write_config_toml(path: str | Path, config: TrainConfig) -> None:
    header = "resode train configuration; reproduce the run with: resode train --config FILE"
    atomic_write(path, lambda handle: handle.write(config_toml(config, header)))


def read_toml(path: str | Path) -> dict[str, Any]:
    """The document in the TOML file ``path``; one-line :class:`ResodeError` when it is missing
    or not TOML."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ResodeError(f"no configuration file {path}") from None
    except IsADirectoryError:
        raise ResodeError(f"{path} is a directory, not a configuration file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ResodeError(f"{path} is not valid TOML: {error}") from None


def check_setting_names(names, source: str) -> None:
    """Refuse, naming ``source``, any of ``names`` that is not a :class:`TrainConfig` field."""
    known = {item.name for item in fields(TrainConfig)}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ResodeError(
            f"{source}: unknown setting(s) {', '.join(unknown)}; settings are the names of "
            "`resode train`'s flags with _ for - (e.g. batch_size)"
        )


def settings_of(document: dict[str, Any], source: str) -> dict[str, Any]:
    """The :class:`TrainConfig` fields a TOML document sets (its metadata tables left out);
    unknown keys and other tables are refused naming ``source``."""
    settings = {k: v for k, v in document.items() if k not in METADATA_TABLES}
    check_setting_names(settings, source)
    return settings


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in the TOML configuration file ``path`` (checked by name, not yet by
    value). Paths in it (``data = "csv:tables/x.csv"``, ``data_dir``) are relative to the
    file's folder and made absolute, so the run finds its data from any working directory."""
    settings = settings_of(read_toml(path), str(path))
    folder = Path(path).expanduser().resolve().parent
    data = settings.get("data")
    if isinstance(data, str) and parse_source(data) is not None:
        form, where = parse_source(data)
        settings["data"] = f"{form}:{(folder / where).resolve()}"
    if isinstance(settings.get("data_dir"), str):
        settings["data_dir"] = str((folder / Path(settings["data_dir"]).expanduser()).resolve())
    return settings
