"""The rules between a run's settings (:class:`~resode.training.config.TrainConfig`): what the
network type fixes, what fits the dataset's task and kind, what each optimizer needs, what the
comparisons (baselines, folds) and multilevel depths require. Each check raises
:class:`ResodeError` in one line that names the setting and what is allowed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..data import DATASETS, STANDARD_SETS, class_names, dataset_kind, dataset_task
from ..data.files import TABLE_FORMATS, parse_source
from ..data.loader import check_augment
from ..errors import ResodeError, check_choice, check_int
from ..tasks import TASKS

if TYPE_CHECKING:
    from .config import TrainConfig

NETWORKS = {"ode": None, "resnet": "euler", "plain": "plain"}
"""The kinds of network, and the integrator each one fixes (None: the one chosen; ``resnet``
and ``plain`` have h = 1)."""


def check_network(config: TrainConfig) -> None:
    """``resnet`` and ``plain`` fix the integrator and h = 1: no --integrator, --T or
    --multilevel of their own."""
    fixed = NETWORKS[config.network]
    if fixed is None:
        return
    defaults = type(config).__dataclass_fields__
    for name in ("integrator", "T"):
        if getattr(config, name) not in (defaults[name].default, fixed):
            raise ResodeError(
                f"network {config.network!r} fixes the integrator ({fixed}) and h = 1 "
                f"(T = steps): leave out {name}"
            )
    if config.multilevel is not None:
        raise ResodeError(f"network {config.network!r} has h = 1: it takes no multilevel depths")


def check_architecture(config: TrainConfig) -> None:
    """Task, widths and steps must fit the dataset's task and kind."""
    form = (parse_source(config.data) or ("",))[0]
    for name in ("target", "id_column", "drop_columns"):
        if getattr(config, name) is not None and form not in TABLE_FORMATS:
            flag = "--" + name.replace("_", "-")
            raise ResodeError(
                f"{flag} applies to a table (--data csv:PATH or parquet:PATH), not {config.data!r}"
            )
    if config.drop_missing is not False and form not in TABLE_FORMATS:
        raise ResodeError(
            f"--drop-missing applies to a table (--data csv:PATH or parquet:PATH), "
            f"not {config.data!r}"
        )
    if (config.data_dir is not None or config.download) and config.data not in STANDARD_SETS:
        flag = "--data-dir" if config.data_dir is not None else "--download"
        raise ResodeError(
            f"{flag} applies to the files of {', '.join(STANDARD_SETS)}, not {config.data!r}"
        )
    options = config.source_options()
    task, kind = dataset_task(config.data, **options), dataset_kind(config.data, **options)
    if config.task is not None and check_choice("task", config.task, TASKS) != task:
        fitting = sorted(n for n in DATASETS if dataset_task(n) == config.task)
        raise ResodeError(
            f"dataset {config.data!r} is for {task}, not {config.task}; "
            f"{config.task} datasets: {', '.join(fitting)}"
        )
    check_augment(kind, config.augment)
    if kind == "vector":
        if config.widths is not None:
            raise ResodeError(f"--widths applies to signal and image datasets, not {config.data!r}")
    elif config.widths is not None:
        if not isinstance(config.widths, list) or not config.widths:
            raise ResodeError(f"widths must be a list of channel counts, got {config.widths!r}")
        for value in config.widths:
            check_int("width", value)
    units = len(config.unit_widths()) if kind != "vector" else 1
    steps = config.steps if isinstance(config.steps, list) else [config.steps]
    if isinstance(config.steps, list) and len(steps) != units:
        raise ResodeError(f"steps gives {len(steps)} values for {units} unit(s)")
    for value in steps:
        check_int("steps", value)
    if config.image_size is not None:
        check_int("image_size", config.image_size)
        option = DATASETS[config.data].options.get("size") if config.data in DATASETS else None
        if option is None:
            raise ResodeError(f"--image-size applies to shapes and bars, not {config.data!r}")
        option.check("size", config.image_size)


def check_optimizer(config: TrainConfig) -> None:
    """varpro needs a linear head (classification, regression); gauss-newton needs forward-
    mode derivatives through the block and a batch whose Gauss–Newton matrix has at least
    rank ``cg_iterations`` (B examples of k classes give rank ≤ B(k − 1), regression ≥ B)."""
    for name in ("varpro", "compile", "augment"):
        if not isinstance(getattr(config, name), bool):
            raise ResodeError(f"{name} must be true or false, got {getattr(config, name)!r}")
    if config.compile and (config.varpro or config.optimizer == "gauss-newton"):
        raise ResodeError(
            "--compile applies to adam and sgd steps without --varpro; "
            "gauss-newton and varpro run eagerly"
        )
    task = dataset_task(config.data, **config.source_options())
    check_class_weight(config, task)
    if config.adversarial is not None:
        if task != "classification":
            raise ResodeError(f"--adversarial applies to classification, not {task}")
        if config.varpro or config.optimizer not in ("adam", "sgd"):
            raise ResodeError("--adversarial applies to adam and sgd steps without --varpro")
    if config.varpro and task not in ("classification", "regression"):
        raise ResodeError(
            f"--varpro applies to classification and regression, not {task} ({config.data!r})"
        )
    if config.optimizer != "gauss-newton":
        return
    if config.memory in ("reversible", "adjoint"):
        raise ResodeError(
            f"gauss-newton needs Jacobian-vector products, which memory {config.memory!r} "
            "does not provide; use --memory store or checkpoint"
        )
    classes = len(class_names(config.data, **config.source_options()))
    per_example = max(1, classes - 1)
    if config.batch_size * per_example < config.cg_iterations:
        need = -(-config.cg_iterations // per_example)
        raise ResodeError(
            f"gauss-newton with cg-iterations {config.cg_iterations} needs a batch of at least "
            f"{need} examples (its Gauss–Newton matrix has rank ≤ {per_example} per "
            f"example), got batch-size {config.batch_size}"
        )


def check_comparisons(config: TrainConfig) -> None:
    """--baselines needs a table (vectors) for classification or regression; --folds K one
    file (or folder) of a user's with at least K rows; --fold k, 1 ≤ k ≤ K, needs --folds."""
    from .baselines import applies

    options = config.source_options()
    if config.baselines:
        task, kind = dataset_task(config.data, **options), dataset_kind(config.data, **options)
        if not applies(task, kind):
            raise ResodeError(
                f"--baselines applies to tables (vectors) for classification or regression, "
                f"not {kind} data for {task} ({config.data!r})"
            )
    if config.folds is None:
        if config.fold is not None:
            raise ResodeError(f"--fold {config.fold} needs --folds K, the number of folds")
        return
    if config.fold is not None and config.fold > config.folds:
        raise ResodeError(f"--fold must lie in 1 … {config.folds} (--folds), got {config.fold}")
    if parse_source(config.data) is None:
        raise ResodeError(
            f"--folds applies to your own data (csv:, npz:, folder:PATH), not the built-in "
            f"dataset {config.data!r}"
        )
    from ..data.sources import describe_source

    tables = describe_source(config.data, **options).tables
    if "all" not in tables:
        raise ResodeError(
            f"--folds needs one file of all rows; {config.data} has fixed split files "
            f"({', '.join(tables)}), which cross-validation would ignore"
        )
    if config.folds > tables["all"].count:
        raise ResodeError(
            f"--folds {config.folds} asks for more folds than the {tables['all'].count} rows "
            f"of {config.data}"
        )


def check_class_weight(config: TrainConfig, task: str) -> None:
    """Class weights apply to a cross-entropy trained by adam or sgd (varpro's head and
    gauss-newton's curvature are unweighted)."""
    if config.class_weight in (None, "none"):
        return
    if task == "regression":
        raise ResodeError(
            f"--class-weight applies to classification and segmentation, not regression "
            f"({config.data!r})"
        )
    if config.varpro or config.optimizer == "gauss-newton":
        raise ResodeError("--class-weight applies to adam and sgd steps without --varpro")


def check_multilevel(config: TrainConfig) -> None:
    """Levels N_0 < N_1 < …: at least two, each an integer multiple of the one before."""
    levels = config.multilevel
    if levels is None:
        return
    if not isinstance(levels, list) or len(levels) < 2:
        raise ResodeError(f"multilevel needs at least two depths, e.g. 4,8,16,32; got {levels!r}")
    for value in levels:
        check_int("multilevel depth", value)
    for coarse, fine in zip(levels, levels[1:]):
        if fine <= coarse:
            raise ResodeError(f"multilevel depths must increase, got {coarse} then {fine}")
        if fine % coarse:
            raise ResodeError(
                f"each multilevel depth must be a multiple of the one before, "
                f"got {coarse} then {fine}"
            )
    if config.steps != levels[-1]:
        raise ResodeError(
            f"with multilevel, steps is the final depth {levels[-1]}, got {config.steps!r}"
        )
