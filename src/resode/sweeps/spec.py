"""A sweep's specification: the TOML file ``resode sweep SPEC.toml`` reads, checked up front.

::

    [sweep]
    sampler = "grid"            # grid | random | tpe
    seeds = [0, 1, 2]           # every configuration is trained once per seed
    trials = 20                 # configurations to try (random, tpe; grid: all of them)
    metric = "val_accuracy"     # a validation metric (default: the task's headline)
    recipe = "digits"           # optional base: a recipe, or config = "FILE.toml"

    [fixed]                     # settings every trial shares (as in --config)
    data = "digits"
    epochs = 10

    [space]                     # settings that vary
    dynamics = ["standard", "antisymmetric"]            # choices
    steps = [2, 4, 8]
    lr = {low = 1e-3, high = 1e-1, log = true}          # a range (log scale)
    width = {low = 8, high = 64, step = 8}              # an integer range with a step

A trial's settings are the base (``recipe``/``config``, else the data's recipe), the fixed
settings, its point of the space and its seed, composed exactly as ``resode train --config
FILE --SETTING VALUE … --seed S`` composes them (:func:`resode.training.recipes.compose_config`),
so a trial and that command train the same run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ResodeError
from ..training.config import TrainConfig
from ..training.config_file import (
    check_setting_names,
    read_config_file,
    read_toml,
    settings_of,
)

SAMPLERS = ("grid", "random", "tpe")
SECTIONS = ("sweep", "fixed", "space")
SWEEP_KEYS = ("sampler", "seeds", "trials", "metric", "recipe", "config")
NOT_SWEPT = {
    "seed": "give the seeds as [sweep] seeds = [0, 1, 2]",
    "folds": "a trial is one run; compare seeds instead of folds",
    "fold": "a trial is one run; compare seeds instead of folds",
}
"""Settings a sweep sets itself, or that would turn a trial into more than one run."""
METRICS = {
    "classification": ("accuracy", "balanced_accuracy", "loss"),
    "regression": ("r2", "rmse", "mae", "loss"),
    "segmentation": ("miou", "pixel_accuracy", "loss"),
}
"""The validation metrics each task's runs record (``val_`` + name)."""
LOWER_IS_BETTER = ("loss", "rmse", "mae")
GRID_LIMIT = 2000
"""Combinations of choices checked one by one; larger spaces check each choice alone."""
DEFAULT_TRIALS = 10
"""Configurations the random and TPE samplers try unless ``trials`` says."""
GRID_MAX = 10000
"""The most configurations a grid sweep may hold (each is queued once per seed)."""


@dataclass(frozen=True)
class Choices:
    """A setting that takes one of ``values``."""

    values: tuple

    def grid(self) -> tuple:
        return self.values

    def ends(self) -> tuple:
        return self.values


@dataclass(frozen=True)
class Range:
    """A setting in [low, high]: integers when both ends are, with an optional ``step``;
    ``log`` samples log-uniformly."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    @property
    def integer(self) -> bool:
        ends = (self.low, self.high) + (() if self.step is None else (self.step,))
        return all(isinstance(v, int) for v in ends)

    def grid(self) -> tuple:
        if self.step is None:
            return ()
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        values = [self.low + i * self.step for i in range(count)]
        return tuple(int(v) if self.integer else round(v, 12) for v in values)

    def ends(self) -> tuple:
        return (self.low, self.high)


@dataclass
class SweepSpec:
    """A parsed, checked sweep specification (see the module docstring)."""

    path: Path
    sampler: str
    seeds: list[int]
    trials: int | None
    metric: str
    direction: str
    fixed: dict[str, Any]
    space: dict[str, Choices | Range]
    recipe: str | None = None
    config: str | None = None
    skipped: list[tuple[dict, str]] = field(default_factory=list)
    """Combinations of choices the settings do not allow (grid: left out), with the reason."""

    @property
    def task(self) -> str:
        """The learning task of every trial (they share the data)."""
        from ..data import dataset_task

        config = self.trial_config(self.first_point(), self.seeds[0])
        return config.task or dataset_task(config.data, **config.source_options())

    def trial_config(self, params: dict[str, Any], seed: int) -> TrainConfig:
        """The training settings of the trial at ``params`` with ``seed``."""
        from ..training.recipes import compose_config

        given = {**self.fixed, **decode(params), "seed": seed}
        return compose_config(given, self.config, self.recipe)

    def first_point(self) -> dict[str, Any]:
        """The first point of the space the settings allow."""
        skipped = [p for p, _ in self.skipped]
        names = list(self.space)
        for combo in itertools.product(*(self.space[n].ends() for n in names)):
            point = {n: encode(v) for n, v in zip(names, combo, strict=True)}
            if point not in skipped:
                return point
        return self.grid()[0]

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the space's values (grid sampler), in a fixed order, without
        the combinations the settings do not allow."""
        names = list(self.space)
        combos = itertools.product(*(self.space[n].grid() for n in names))
        left_out = [p for p, _ in self.skipped]
        points = [{n: encode(v) for n, v in zip(names, combo, strict=True)} for combo in combos]
        return [p for p in points if p not in left_out]

    def fingerprint(self) -> str:
        """What makes two specs the same study: sampler, seeds, metric, base, fixed, space."""
        document = {
            "sampler": self.sampler,
            "seeds": self.seeds,
            "metric": self.metric,
            "recipe": self.recipe,
            "config": self.config,
            "fixed": self.fixed,
            "space": {n: _describe(d) for n, d in self.space.items()},
        }
        return json.dumps(document, sort_keys=True, default=str)


def encode(value: Any) -> Any:
    """A value as Optuna stores a categorical choice (a list becomes its JSON text)."""
    return json.dumps(value) if isinstance(value, list) else value


def decode(params: dict[str, Any]) -> dict[str, Any]:
    return {
        k: json.loads(v) if isinstance(v, str) and v.startswith("[") else v
        for k, v in params.items()
    }


def configuration_key(params: dict[str, Any]) -> str:
    """One configuration's identity: its point of the space as sorted JSON."""
    return json.dumps(params, sort_keys=True)


def run_name(params: dict[str, Any], seed: int) -> str:
    """The trial's run directory name under ``trials/``: ``SETTING-VALUE.…seed-S``, or a
    hash of the point when that would be long."""
    parts = [f"{k}-{_slug(v)}" for k, v in sorted(decode(params).items())]
    name = ".".join(parts + [f"seed-{seed}"])
    if len(name) > 120:
        digest = hashlib.sha256(configuration_key(params).encode()).hexdigest()[:12]
        name = f"config-{digest}.seed-{seed}"
    return name


def _slug(value: Any) -> str:
    if isinstance(value, list):
        return "x".join(_slug(v) for v in value)
    if isinstance(value, float):
        value = f"{value:.4g}"
    return re.sub(r"[^A-Za-z0-9_+.-]", "_", str(value))


def _describe(dimension: Choices | Range) -> Any:
    if isinstance(dimension, Choices):
        return list(dimension.values)
    return {"low": dimension.low, "high": dimension.high, "log": dimension.log,
            "step": dimension.step}  # fmt: skip


def read_spec(path: str | Path, folder: str | Path | None = None) -> SweepSpec:
    """Read and check the sweep specification ``path``: unknown sections or settings, empty
    or reversed ranges, choices a setting does not allow and bad seeds are one-line
    :class:`ResodeError`\\ s, raised before anything runs. Relative paths in it (data files,
    a base config) are relative to ``folder``, by default the file's own."""
    path = Path(path)
    folder = Path(folder or path.resolve().parent)
    if not path.exists():
        raise ResodeError(f"no sweep file {path}")
    document = read_toml(path)
    unknown = sorted(set(document) - set(SECTIONS))
    if unknown:
        raise ResodeError(
            f"{path}: unknown section(s) or key(s) {', '.join(unknown)}; a sweep file has the "
            "tables [sweep], [fixed] and [space]"
        )
    sweep = _table(document, "sweep", path)
    sampler, seeds, trials, recipe, config = _sweep_settings(sweep, path, folder)
    fixed, space = _fixed_and_space(document, path, folder)
    if sampler == "grid":
        _check_grid(space, trials, path)
    elif trials is None:
        trials = DEFAULT_TRIALS
    spec = SweepSpec(path, sampler, seeds, trials, "", "maximize", fixed, space, recipe, config)
    spec.skipped = _check_values(spec)
    spec.metric, spec.direction = _metric(sweep.get("metric"), spec, path)
    return spec


def _sweep_settings(sweep: dict, path: Path, folder: Path) -> tuple:
    """The [sweep] table's sampler, seeds, trials (None: not given), recipe and config (an
    absolute path, its file checked)."""
    bad = sorted(set(sweep) - set(SWEEP_KEYS))
    if bad:
        raise ResodeError(
            f"{path}: unknown [sweep] key(s) {', '.join(bad)}; allowed: {', '.join(SWEEP_KEYS)}"
        )
    sampler = sweep.get("sampler", "grid")
    if sampler not in SAMPLERS:
        raise ResodeError(f"{path}: unknown sampler {sampler!r}; choose one of: "
                          f"{', '.join(SAMPLERS)}")  # fmt: skip
    seeds = _seeds(sweep.get("seeds", [0]), path)
    trials = sweep.get("trials")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int)
                               or trials < 1):  # fmt: skip
        raise ResodeError(f"{path}: [sweep] trials must be an integer >= 1, got {trials!r}")
    recipe, config = sweep.get("recipe"), sweep.get("config")
    if recipe is not None and config is not None:
        raise ResodeError(f"{path}: give [sweep] recipe or config, not both")
    if config is not None:
        config = str((folder / Path(config).expanduser()).resolve())
        read_config_file(config)  # exists and holds known settings
    return sampler, seeds, trials, recipe, config


def _fixed_and_space(document: dict, path: Path, folder: Path) -> tuple[dict, dict]:
    """The [fixed] settings and the [space]'s dimensions: known settings, none in both, at
    least one swept."""
    fixed = _fixed(document, path, folder)
    space = {name: _dimension(name, value, path) for name, value in
             _table(document, "space", path).items()}  # fmt: skip
    _check_names([*fixed, *space], path)
    both = sorted(set(fixed) & set(space))
    if both:
        raise ResodeError(f"{path}: {', '.join(both)} both fixed and swept; keep one")
    if not space:
        raise ResodeError(f"{path}: [space] is empty; give at least one setting to vary")
    return fixed, space


def _check_grid(space: dict, trials: int | None, path: Path) -> None:
    """The grid sampler needs a finite grid of at most :data:`GRID_MAX` points, no trials."""
    no_grid = [n for n, d in space.items() if not d.grid()]
    if no_grid:
        raise ResodeError(
            f"{path}: the grid sampler needs choices or ranges with a step; "
            f"{', '.join(no_grid)} has neither (use sampler = \"random\" or \"tpe\")"
        )
    if trials is not None:
        raise ResodeError(f"{path}: the grid sampler runs every combination; drop trials")
    size = math.prod(len(d.grid()) for d in space.values())
    if size > GRID_MAX:
        raise ResodeError(
            f"{path}: the grid holds {size} configurations, at most {GRID_MAX}; use a "
            'coarser step, or sampler = "random" or "tpe" with trials'
        )


def _table(document: dict, name: str, path: Path) -> dict:
    table = document.get(name, {})
    if not isinstance(table, dict):
        raise ResodeError(f"{path}: {name} must be a table [{name}]")
    return table


def _seeds(seeds: Any, path: Path) -> list[int]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    good = isinstance(seeds, list) and seeds and all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds
    )
    if not good or len(set(seeds)) != len(seeds):
        raise ResodeError(f"{path}: [sweep] seeds must be a list of distinct integers >= 0, "
                          f"got {seeds!r}")  # fmt: skip
    return list(seeds)


def _fixed(document: dict, path: Path, folder: Path) -> dict[str, Any]:
    fixed = settings_of(_table(document, "fixed", path), f"{path} [fixed]")
    from ..data.files import parse_source

    data = fixed.get("data")  # a user's file: relative to the spec's folder
    if isinstance(data, str) and parse_source(data) is not None:
        form, where = parse_source(data)
        fixed["data"] = f"{form}:{(folder / where).resolve()}"
    if isinstance(fixed.get("data_dir"), str):
        fixed["data_dir"] = str((folder / fixed["data_dir"]).resolve())
    return fixed


def _check_names(names: list[str], path: Path) -> None:
    for name in names:
        if name in NOT_SWEPT:
            raise ResodeError(f"{path}: {name} cannot be set in a sweep; {NOT_SWEPT[name]}")
    check_setting_names(names, f"{path} [space]")


def _dimension(name: str, value: Any, path: Path) -> Choices | Range:
    where = f"{path}: [space] {name}"
    if isinstance(value, list):
        if not value:
            raise ResodeError(f"{where} is an empty list of choices; give at least one")
        if len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
            raise ResodeError(f"{where} lists a choice twice: {value!r}")
        return Choices(tuple(value))
    if not isinstance(value, dict):
        raise ResodeError(f"{where} must be a list of choices or a range "
                          "{low = …, high = …[, log = true][, step = …]}")  # fmt: skip
    bad = sorted(set(value) - {"low", "high", "log", "step"})
    if bad or "low" not in value or "high" not in value:
        raise ResodeError(f"{where}: a range has low and high (and optionally log, step); "
                          f"got {sorted(value)}")  # fmt: skip
    low, high, log, step = value["low"], value["high"], value.get("log", False), value.get("step")
    numbers = [v for v in (low, high, step) if v is not None]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
               for v in numbers) or not isinstance(log, bool):  # fmt: skip
        raise ResodeError(f"{where}: low, high and step must be finite numbers, log true or false")
    if low > high:
        raise ResodeError(f"{where} is an empty range: low {low} > high {high}")
    if log and low <= 0:
        raise ResodeError(f"{where}: a log range needs low > 0, got {low}")
    if step is not None and (step <= 0 or log):
        raise ResodeError(f"{where}: step must be > 0 and cannot go with log")
    return Range(low, high, log, step)


def _check_values(spec: SweepSpec) -> list[tuple[dict, str]]:
    """Check every combination of the space's values against the settings (ranges by their
    ends); a value no combination allows is refused, naming the setting; the combinations
    the settings do not allow are returned with the reason."""
    names = list(spec.space)
    values = {n: spec.space[n].grid() if spec.sampler == "grid" else spec.space[n].ends()
              for n in names}  # fmt: skip
    count = math.prod(len(v) for v in values.values())
    if count > GRID_LIMIT:  # each value with the others' first values
        first = {n: v[0] for n, v in values.items()}
        combos = [first | {n: v} for n in names for v in values[n]]
    else:
        combos = [dict(zip(names, c, strict=True)) for c in itertools.product(*values.values())]
    refused: list[tuple[dict, str]] = []
    for combo in combos:
        try:
            spec.trial_config({n: encode(v) for n, v in combo.items()}, spec.seeds[0])
        except ResodeError as error:
            refused.append((combo, str(error)))
        except TypeError as error:  # a value of the wrong type for its setting
            refused.append((combo, str(error)))
    if len(refused) == len(combos):  # the fixed settings, not a value of the space
        reason = refused[0][1]
        if all(r == reason for _, r in refused):  # not the space's: [fixed] or the data
            raise ResodeError(f"{spec.path}: no point of the space can run, each for the same "
                              f"reason (the fixed settings or the data): {reason}")  # fmt: skip
        raise ResodeError(f"{spec.path}: the settings allow no point of the space: {reason}")
    refused_combos = [c for c, _ in refused]
    for name in names:
        for value in values[name]:
            if not any(c[name] == value and c not in refused_combos for c in combos):
                reason = next(r for c, r in refused if c[name] == value)
                raise ResodeError(f"{spec.path}: [space] {name} = {value!r} is not allowed: "
                                  f"{reason}")  # fmt: skip
    return [({n: encode(v) for n, v in c.items()}, r) for c, r in refused]


def _metric(metric: str | None, spec: SweepSpec, path: Path) -> tuple[str, str]:
    """The validation metric trials are compared by, and whether higher is better."""
    from ..tasks import get_task

    task = spec.task
    if metric is None:
        metric = "val_" + get_task(task).headline
    allowed = [f"val_{name}" for name in METRICS[task]]
    if metric not in allowed:
        raise ResodeError(
            f"{path}: metric must be a validation metric of {task} runs ({', '.join(allowed)}; "
            f"the test split stays unseen until the end), got {metric!r}"
        )
    return metric, "minimize" if metric[4:] in LOWER_IS_BETTER else "maximize"
