"""Tuned recipes: one TOML file per built-in dataset, shipped with the package.

A recipe file is a configuration file (:mod:`resode.training.config_file`) whose settings are
the tuned ones for its dataset, with two tables of metadata: ``[recipe]`` (a description) and,
where the recipe was measured, ``[measured]`` (the test metric it reaches, the seconds it takes
and how that was measured). ``resode train --data X`` starts from X's recipe; flags given
explicitly override single fields. The recipes are also the settings of
``benchmarks/tasks.py``, so the measured numbers and the shipped settings cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ...errors import ResodeError, check_choice
from ..config import NETWORKS, TrainConfig
from ..config_file import read_config_file, read_toml, settings_of

METRIC_NAMES = {"test_accuracy": "test accuracy", "test_r2": "test R²", "test_miou": "test mIoU"}


@dataclass(frozen=True)
class Recipe:
    """A dataset's tuned settings, what they are and, where measured, what they reach."""

    name: str
    settings: dict[str, Any]
    description: str
    measured: dict[str, Any] | None

    def config(self, **overrides: Any) -> TrainConfig:
        """The recipe's :class:`TrainConfig`, with ``overrides`` for single fields."""
        return TrainConfig(**{**self.settings, **overrides})

    def summary(self) -> str:
        """The key settings in one line, e.g. ``antisymmetric + rk4, widths 16,32, 4 steps, …``."""
        config = self.config()
        units = (
            f"widths {','.join(map(str, config.widths))}"
            if config.widths is not None
            else f"width {config.width}"
        )
        parts = [
            f"{config.dynamics} + {config.integrator}",
            config.activation,
            units,
            f"{config.steps} steps",
            f"T {config.T:g}",
        ]
        if config.kernel_size != 3:
            parts.append(f"kernel {config.kernel_size}")
        if config.norm != "none":
            parts.append(f"{config.norm} norm")
        parts += [f"{config.epochs} epochs", f"{config.optimizer} lr {config.lr:g}"]
        if config.weight_decay:
            parts.append(f"weight decay {config.weight_decay:g}")
        return ", ".join(parts)

    def result(self) -> str:
        """What the recipe reaches and in how long, or ``not measured``."""
        if self.measured is None:
            return "not measured"
        metric = METRIC_NAMES.get(self.measured["metric"], self.measured["metric"])
        return f"{metric} {self.measured['value']:.4f} in {self.measured['seconds']:g} s"


def _parse(name: str, document: dict[str, Any]) -> Recipe:
    settings = settings_of(document, f"recipe {name}")
    if settings.get("data") != name:
        raise ResodeError(f"recipe {name} sets data {settings.get('data')!r}, not {name!r}")
    about = document.get("recipe", {})
    return Recipe(name, settings, about.get("description", ""), document.get("measured"))


@cache
def recipes() -> dict[str, Recipe]:
    """Every shipped recipe by dataset name, in the order of :data:`resode.data.DATASETS`."""
    from ...data import DATASETS

    folder = resources.files(__name__)
    found = {
        item.name.removesuffix(".toml"): item
        for item in folder.iterdir()
        if item.name.endswith(".toml")
    }
    order = [name for name in DATASETS if name in found] + sorted(set(found) - set(DATASETS))
    loaded = {}
    for name in order:
        with resources.as_file(found[name]) as path:
            loaded[name] = _parse(name, read_toml(path))
    return loaded


def recipe(name: str) -> Recipe:
    """The recipe of dataset ``name``; a one-line error listing the recipes otherwise."""
    return recipes()[check_choice("recipe", name, recipes())]


def recipe_text(name: str) -> str:
    """The recipe file of dataset ``name``, as shipped (a starting point for ``--config``)."""
    recipe(name)
    return resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")


def compose_config(given: dict[str, Any], config_file: str | Path | None = None) -> TrainConfig:
    """The configuration of a new run from the flags given explicitly (``given``) over a base.

    The base is the file ``config_file`` when given (its missing keys: the defaults), else the
    recipe of ``given["data"]`` when there is one, else the defaults (the main job). A flag
    overrides its field only, except where fields belong together: ``--multilevel`` replaces the
    base's ``steps`` (and ``--steps`` its ``multilevel``); a ``--network`` with h = 1 drops the
    base's ``integrator`` and ``T``.
    """
    if config_file is not None:
        base = read_config_file(config_file)
    elif given.get("data") in recipes():
        base = dict(recipes()[given["data"]].settings)
    else:
        base = {}
    if "multilevel" in given:
        base.pop("steps", None)
    if "steps" in given:
        base.pop("multilevel", None)
    if NETWORKS.get(given.get("network")) is not None:
        base.pop("integrator", None)
        base.pop("T", None)
    try:
        return TrainConfig(**{**base, **given})
    except (ResodeError, TypeError) as error:
        if config_file is None and isinstance(error, ResodeError):
            raise
        where = "" if config_file is None else f"{config_file}: "
        raise ResodeError(f"{where}{error}") from None
