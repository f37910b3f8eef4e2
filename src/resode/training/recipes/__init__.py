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

A user's own data (``csv:``, ``npz:``, ``folder:`` PATH) starts from an automatic recipe
``auto-CLASS``, chosen from the data's kind and size (:mod:`resode.training.recipes.auto`);
such a recipe sets no ``data`` and says in ``[recipe]`` which input ``kind`` it is for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ...data.files import parse_source
from ...errors import ResodeError, check_choice
from ...model.normalization import make_normalization
from ..config import NETWORKS, TrainConfig
from ..config_file import read_config_file, read_toml, settings_of
from .auto import AUTO_PREFIX, CLASSES, EXAMPLE_DATA, data_class, fit_units

METRIC_NAMES = {"test_accuracy": "test accuracy", "test_r2": "test R²", "test_miou": "test mIoU"}


@dataclass(frozen=True)
class Recipe:
    """A dataset's tuned settings, what they are and, where measured, what they reach."""

    name: str
    settings: dict[str, Any]
    description: str
    measured: dict[str, Any] | None
    paper: dict[str, Any] | None = None
    kind: str | None = None  # an automatic recipe's input kind: vector, signal or image

    def config(self, **overrides: Any) -> TrainConfig:
        """The recipe's :class:`TrainConfig`, with ``overrides`` for single fields (an automatic
        recipe's is for a built-in dataset of its kind unless ``data`` is given)."""
        base = {} if self.kind is None else {"data": EXAMPLE_DATA[self.kind]}
        return TrainConfig(**{**base, **self.settings, **overrides})

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
    about = document.get("recipe", {})
    kind = about.get("kind")
    if name.startswith(AUTO_PREFIX):
        if data is not None or kind not in EXAMPLE_DATA:
            raise ResodeError(
                f"recipe {name} is automatic: it sets no data and a kind "
                f"({', '.join(EXAMPLE_DATA)}) in [recipe]"
            )
    elif not isinstance(data, str) or not (name == data or name.startswith(f"{data}-")):
        raise ResodeError(f"recipe {name} sets data {data!r}: it must be {name!r} or a prefix")
    measured, paper = document.get("measured"), document.get("paper")
    return Recipe(name, settings, about.get("description", ""), measured, paper, kind)


@cache
def _shipped() -> dict[str, Recipe]:
    """Every recipe file shipped: the datasets' in the order of :data:`resode.data.DATASETS`,
    then the others by name."""
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


def recipes() -> dict[str, Recipe]:
    """Every shipped recipe of a dataset by name, in the order of :data:`resode.data.DATASETS`
    (then the further recipes ``X-variant``)."""
    return {name: r for name, r in _shipped().items() if r.kind is None}


def auto_recipes() -> dict[str, Recipe]:
    """The automatic recipes ``auto-CLASS`` of a user's own data, by name, in the order of
    :data:`~resode.training.recipes.auto.CLASSES`."""
    return {AUTO_PREFIX + name: _shipped()[AUTO_PREFIX + name] for name in CLASSES}


def recipe(name: str) -> Recipe:
    """The recipe ``name`` (a dataset's, a further or an automatic one); a one-line error
    listing the recipes otherwise."""
    return _shipped()[check_choice("recipe", name, _shipped())]


@dataclass(frozen=True)
class AutoChoice:
    """The automatic recipe chosen for a user's data, why (e.g. ``small table (303 rows,
    13 features)``), its settings fitted to the input shape and what fitting changed."""

    recipe: Recipe
    reason: str
    settings: dict[str, Any]
    fitted: str = ""

    def line(self, given: dict[str, Any] | None = None) -> str:
        """The choice in one line; the settings among ``given`` (flags) are named as
        overridden."""
        overridden = sorted(set(given or {}) & set(self.settings))
        flags = ", ".join("--" + name.replace("_", "-") for name in overridden)
        note = f" (given: {flags})" if flags else ""
        summary = replace(self.recipe, settings=self.settings).summary()
        return (
            f"{self.reason}: settings {self.recipe.name}{self.fitted}: {summary}; "
            f"a flag overrides its setting{note}"
        )


def auto_recipe(
    name: str, target: str | None = None, task: str | None = None, **columns
) -> AutoChoice:
    """The automatic recipe of data source ``name`` (``csv:``/``npz:``/``folder:`` PATH) from
    its kind, number of examples and input shape; the units of its settings those inputs pass
    (:func:`~resode.training.recipes.auto.fit_units`); ``columns``: a table's column options
    (see :func:`~resode.data.sources.describe_source`)."""
    from ...data.sources import describe_source

    data = describe_source(name, target=target, task=task, **columns)
    chosen = data_class(data.kind, data.count, data.input_shape)
    shipped = recipe(AUTO_PREFIX + chosen.name)
    settings, fitted = fit_units(shipped.settings, data.input_shape)
    return AutoChoice(shipped, chosen.reason, settings, fitted)


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
    else for a user's own data the automatic recipe of its class (:func:`auto_recipe`), else
    the defaults (the main job). A flag
    overrides its field only, except where fields belong together: ``--multilevel`` replaces the
    base's ``steps`` (and ``--steps`` its ``multilevel``); ``--widths`` with another number of
    units than the base's per-unit ``steps`` list gives every unit that list's last value; a
    ``--network`` with h = 1 drops the base's ``integrator`` and ``T``.
    """
    if config_file is not None and recipe_name is not None:
        raise ResodeError("use either --config FILE or --recipe NAME, not both")
    if config_file is not None:
        base = read_config_file(config_file)
    elif recipe_name is not None:
        base = dict(recipe(recipe_name).settings)
    elif given.get("data") in recipes():
        base = dict(recipes()[given["data"]].settings)
    elif parse_source(given.get("data", "")) is not None:
        columns = {k: given[k] for k in ("id_column", "drop_missing", "drop_columns") if k in given}
        chosen = auto_recipe(given["data"], given.get("target"), given.get("task"), **columns)
        base = dict(chosen.settings)
    else:
        base = {}
    if "multilevel" in given:
        base.pop("steps", None)
    if "steps" in given:
        base.pop("multilevel", None)
    steps, widths = base.get("steps"), given.get("widths")
    if isinstance(steps, list) and isinstance(widths, list) and len(widths) != len(steps):
        base["steps"] = steps[-1]
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
