"""Tuned recipes: one TOML file per built-in dataset, and paper recipes, shipped with the package.

A recipe file is a configuration file (:mod:`resode.training.config_file`) whose settings are
the tuned ones for its dataset, with tables of metadata: ``[recipe]`` (a description), where
the recipe was measured ``[measured]`` (the test metric it reaches, the seconds it takes and
how that was measured) and, for a recipe that follows a paper, ``[paper]`` (the reference and
the accuracy it reports). The recipe named X is the one of dataset X: ``resode train --data X``
starts from it. Recipes named ``X-variant`` (e.g. ``cifar10-hamiltonian``) are further recipes
for dataset X, chosen with ``resode train --recipe X-variant``. Flags given explicitly
override single fields. The dataset recipes are also the settings of ``benchmarks/tasks.py``,
so the measured numbers and the shipped settings cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ...errors import ResodeError, check_choice
from ...model.normalization import make_normalization
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
    paper: dict[str, Any] | None = None

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
        steps = config.steps
        parts = [
            f"{config.dynamics} + {config.integrator}",
            config.activation,
            units,
            f"{','.join(map(str, steps)) if isinstance(steps, list) else steps} steps",
            f"T {config.T:g}",
        ]
        if config.kernel_size != 3:
            parts.append(f"kernel {config.kernel_size}")
        if not make_normalization(config.norm).identity:
            parts.append(f"{config.norm} norm")
        if config.memory != "store":
            parts.append(f"memory {config.memory}")
        parts += [f"{config.epochs} epochs", f"batch {config.batch_size}"]
        optimizer = f"{config.optimizer} lr {config.lr:g}"
        if config.optimizer == "sgd":
            optimizer += f" momentum {config.momentum:g}"
        parts += [optimizer, f"{config.schedule} schedule"]
        if config.warmup_steps:
            parts.append(f"warmup {config.warmup_steps} steps")
        if config.weight_decay:
            parts.append(f"weight decay {config.weight_decay:g}")
        if config.augment:
            parts.append("augment")
        return ", ".join(parts)

    def result(self) -> str:
        """What the recipe reaches and in how long, or what its paper reports, or ``not
        measured``."""
        if self.measured is not None:
            metric = METRIC_NAMES.get(self.measured["metric"], self.measured["metric"])
            return f"{metric} {self.measured['value']:.4f} in {self.measured['seconds']:g} s"
        if self.paper is not None:
            return f"paper: {self.paper['reported']} ({self.paper['reference']}); not measured here"
        return "not measured"


def _parse(name: str, document: dict[str, Any]) -> Recipe:
    settings = settings_of(document, f"recipe {name}")
    data = settings.get("data")
    if not isinstance(data, str) or not (name == data or name.startswith(f"{data}-")):
        raise ResodeError(f"recipe {name} sets data {data!r}: it must be {name!r} or a prefix")
    about = document.get("recipe", {})
    measured, paper = document.get("measured"), document.get("paper")
    return Recipe(name, settings, about.get("description", ""), measured, paper)


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


def compose_config(
    given: dict[str, Any],
    config_file: str | Path | None = None,
    recipe_name: str | None = None,
) -> TrainConfig:
    """The configuration of a new run from the flags given explicitly (``given``) over a base.

    The base is the file ``config_file`` when given (its missing keys: the defaults), else the
    recipe ``recipe_name`` when given, else the recipe of ``given["data"]`` when there is one,
    else the defaults (the main job). A flag
    overrides its field only, except where fields belong together: ``--multilevel`` replaces the
    base's ``steps`` (and ``--steps`` its ``multilevel``); a ``--network`` with h = 1 drops the
    base's ``integrator`` and ``T``.
    """
    if config_file is not None and recipe_name is not None:
        raise ResodeError("use either --config FILE or --recipe NAME, not both")
    if config_file is not None:
        base = read_config_file(config_file)
    elif recipe_name is not None:
        base = dict(recipe(recipe_name).settings)
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
