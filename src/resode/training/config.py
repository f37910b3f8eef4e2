"""``TrainConfig``: every setting of a training run, validated, stored as ``config.json``.

The block's settings (dynamics, integrator, T, steps, …) are fields of
:class:`~resode.model.spec.BlockSpec`, declared there once with their defaults, help texts and
checks; ``TrainConfig`` names the ones a run sets (:func:`block_setting`) and
:meth:`TrainConfig.block_spec` hands them to the networks. The CLI's flags are generated from
these fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch

from ..data import (
    DATASETS,
    STANDARD_SETS,
    check_dataset_name,
)
from ..data.files import TABLE_FORMATS, parse_source
from ..data.standard import DATA_DIR_VARIABLE, check_data_dir, check_flag
from ..errors import (
    ResodeError,
    check_int,
    check_nonnegative,
    check_positive,
)
from ..model.spec import BlockSpec, block_setting
from ..settings import check_settings, setting
from ..tasks import TASKS
from .config_rules import (
    NETWORKS,
    check_architecture,
    check_comparisons,
    check_multilevel,
    check_network,
    check_optimizer,
)

OPTIMIZERS = ("adam", "sgd", "gauss-newton")
SCHEDULES = ("constant", "cosine", "step")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
KEEP = ("best", "last")
CLASS_WEIGHTS = ("none", "balanced")


def _seed(name: str, value: object) -> int:
    return check_int(name, value, minimum=0)


def _nonnegative_int(name: str, value: object) -> int:
    return check_int(name, value, minimum=0)


def _adversarial(name: str, value: object) -> str:
    from .adversarial import AdversarialTraining

    AdversarialTraining.parse(value)
    return value


def _column_names(name: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ResodeError(f"{name} must be a list of column names, got {value!r}")
    return value


def _folds(name: str, value: object) -> int:
    return check_int(name, value, minimum=2)


RUNTIME_FIELDS = ("compile", "workers", "checkpoint_every", "data_dir", "download")
"""Settings that say how a run executes and where its data lie, not what it computes: a run may
be resumed or evaluated with other values."""


def _names(cls) -> list[str]:
    return [item.name for item in fields(cls)]


@dataclass
class TrainConfig:
    """Settings of ``resode train``; the defaults are the main job (peaks, antisymmetric RK4).

    ``multilevel`` = [N_0, N_1, …] trains at depth N_0, then prolongates to N_1, …, each
    level for ``epochs`` epochs (see :mod:`resode.training.multilevel`); every unit takes the
    level's depth and ``steps`` is set to the final depth. ``max_seconds`` bounds the training
    time (the sum of the epochs' ``seconds``): a level stops after the epoch that exceeds its
    share, the time left divided evenly over the levels left.
    """

    data: str = setting(
        "peaks",
        f"dataset: {'|'.join(sorted(DATASETS))}, or your own data as csv:PATH (also .tsv), "
        "parquet:PATH, npz:PATH (arrays x, y) or folder:PATH (a subfolder of images per class)",
        check=check_dataset_name,
        label="dataset",
    )
    target: str | None = setting(
        None, "the target column of a table (--data csv:PATH or parquet:PATH)"
    )
    id_column: str | None = setting(
        None,
        "a table's column that identifies rows: kept out of the features, written beside "
        "each prediction (default: a column of unique text or row numbers, if any)",
    )
    drop_missing: bool = setting(
        False,
        "leave out a table's rows with an empty cell (default: a gap becomes the training "
        "median plus a missing indicator, or a level of its own for text)",
        check=check_flag,
    )
    drop_columns: list[str] | None = setting(
        None,
        "a table's columns to leave out of the features, e.g. name,comment",
        check=_column_names,
    )
    network: str = setting(
        "ode",
        "ode: Y + h f(Y), h = T/steps with the chosen integrator; resnet: Y + f(Y), h = 1 "
        "(euler, T = steps); plain: f(Y), no skip connection",
        choices=NETWORKS,
    )
    dynamics: str = block_setting("dynamics")
    integrator: str = block_setting("integrator")
    activation: str = block_setting("activation")
    task: str | None = setting(None, "learning task, must fit the dataset", choices=TASKS)
    width: int = setting(16, "number of features n of the ODE state (vector data)", check=check_int)
    widths: list[int] | None = setting(
        None, "channels of each ODE unit, e.g. 16,32,64 (signals, images)"
    )
    T: float = block_setting("T", default=4.0)
    steps: int | list[int] = block_setting(
        "steps", help="integration steps N (depth), one value or one per unit"
    )
    grid: int | None = block_setting("grid")
    interp: str = block_setting("interp")
    gamma: float = block_setting("gamma")
    epochs: int = setting(60, "number of passes over the training data", check=check_int)
    batch_size: int = setting(64, "minibatch size", check=check_int)
    lr: float = setting(
        0.01,
        "learning rate (adam, sgd; gauss-newton finds its step length by line search)",
        check=check_positive,
    )
    warmup_steps: int = setting(
        0,
        "linear learning-rate warmup: optimizer step t < STEPS takes lr·(t + 1)/STEPS (adam, "
        "sgd); 0: none",
        check=_nonnegative_int,
    )
    optimizer: str = setting("adam", "optimizer", choices=OPTIMIZERS)
    momentum: float = setting(0.9, "momentum of SGD", check=check_nonnegative)
    damping: float = setting(
        0.01, "initial Levenberg–Marquardt damping λ of gauss-newton", check=check_positive
    )
    cg_iterations: int = setting(
        10, "conjugate-gradient iterations per gauss-newton step", check=check_int
    )
    varpro: bool = setting(
        False,
        "variable projection: solve the linear head on every batch (least squares, or Newton "
        "steps on the softmax problem); the optimizer updates the other weights",
    )
    head_regularization: float = setting(
        1e-4, "Tikhonov weight α of ½α‖W‖² on the head solved by varpro", check=check_nonnegative
    )
    newton_steps: int = setting(
        3, "Newton steps on the softmax head per batch with varpro", check=check_int
    )
    schedule: str = setting("cosine", "learning-rate schedule", choices=SCHEDULES)
    smoothness: float = setting(
        1e-3, "weight of the time-smoothness penalty ∫‖θ'(t)‖² dt", check=check_nonnegative
    )
    weight_decay: float = setting(
        0.0, "weight of the weight-decay penalty ∫‖θ(t)‖² dt", check=check_nonnegative
    )
    keep: str = setting(
        "best",
        "the model the run keeps: the epoch of the best validation metric (accuracy, r2, miou; "
        "of equal ones the lower validation loss; within the last level of a multilevel run) "
        "or the last epoch",
        choices=KEEP,
    )
    patience: int | None = setting(
        None,
        "stop a level when the validation metric has not improved for PATIENCE epochs "
        "(None: train every epoch)",
        check=check_int,
    )
    class_weight: str | None = setting(
        None,
        "weight the cross-entropy of class c by n/(k·n_c) from the training split's counts "
        "(pixels for segmentation); classification and segmentation, adam and sgd",
        choices=CLASS_WEIGHTS,
    )
    adversarial: str | None = setting(
        None,
        "adversarial training: each batch replaced by its worst perturbation within EPS in the "
        "data's own units, KIND:EPS[:NORM[:STEPS]], e.g. pgd:0.1 (L∞, 3 steps), pgd:0.5:l2, "
        "fgsm:0.1; classification, adam and sgd; a step costs about STEPS + 1 times as much",
        check=_adversarial,
    )
    seed: int = setting(0, "random seed (data, initialization, shuffling)", check=_seed)
    baselines: bool | None = setting(
        None,
        "also fit scikit-learn's logistic regression (ridge for regression) and gradient-boosted "
        "trees on the run's own split and compare them with the network (default: on for your "
        "own tables, csv: or npz: vectors; off otherwise)",
        check=check_flag,
    )
    folds: int | None = setting(
        None,
        "K-fold cross-validation of your own data (one csv:, npz: or folder: source, no split "
        "files): K runs into OUT/fold-1 … OUT/fold-K, mean ± std in OUT/folds.json",
        check=_folds,
    )
    fold: int | None = setting(
        None, "train only fold k = 1 … K of --folds K (set in each fold's run)", check=check_int
    )
    kernel_size: int = block_setting("kernel_size")
    norm: str = block_setting("norm")
    groups: int | None = block_setting("groups")
    lipschitz: float | None = block_setting("lipschitz")
    image_size: int | None = setting(
        None, "image side of the generated shapes and bars datasets", check=check_int
    )
    data_dir: str | None = setting(
        None,
        f"folder of the files of {', '.join(STANDARD_SETS)}; "
        f"None: ${DATA_DIR_VARIABLE}, else ~/.cache/resode/data",
        check=check_data_dir,
    )
    download: bool = setting(
        False,
        f"download the files of {', '.join(STANDARD_SETS)} into the data folder where missing "
        "(needs internet access)",
        check=check_flag,
    )
    device: str = setting("auto", "device", choices=DEVICES)
    dtype: str = setting("float32", "floating-point precision", choices=DTYPES)
    multilevel: list[int] | None = setting(
        None,
        "train at depths N_0,N_1,… (e.g. 4,8,16,32), each a multiple of the one before, "
        "epochs per level, prolongating the weights between levels",
    )
    max_seconds: float | None = setting(
        None, "training-time budget in seconds, split evenly over the levels", check=check_positive
    )
    memory: str = block_setting("memory")
    compile: bool = setting(
        False,
        "run the network's forward and backward passes through torch.compile (code generated "
        "on the first batches; pays on GPU, rarely on CPU); adam and sgd without varpro",
    )
    augment: bool = setting(
        False,
        "augment the training images: random crop with zero padding 4 and horizontal flip "
        "(natural images such as cifar10; leave it off for digits)",
    )
    workers: int | None = setting(
        None,
        "worker processes of the training data loader, 0: batches made in process (default: "
        "0 for small splits, up to 4 for large ones or with --augment)",
        check=_nonnegative_int,
    )
    checkpoint_every: int | None = setting(
        None,
        "also write a checkpoint every STEPS optimizer steps, mid-epoch (a resume from it is "
        "bit-identical on the CPU); a checkpoint is always written at the end of an epoch",
        check=check_int,
    )

    def __post_init__(self) -> None:
        if isinstance(self.multilevel, list | tuple) and self.multilevel:
            if isinstance(self.steps, list):
                raise ResodeError(
                    "multilevel sets the steps of every unit; give no per-unit steps list"
                )
            self.multilevel = list(self.multilevel)
            self.steps = self.multilevel[-1]  # the final depth: the trained model's steps
        self.validate()

    def validate(self) -> TrainConfig:
        """Check every field; raise :class:`ResodeError` naming the field and what is allowed."""
        check_settings(self, [name for name in _names(TrainConfig) if name not in BLOCK_FIELDS])
        check_multilevel(self)
        check_architecture(self)
        check_network(self)
        check_optimizer(self)
        check_comparisons(self)
        self.block_spec()  # the block's fields, and how they fit together
        return self

    def block_spec(self, kernel: str = "dense", steps: int | None = None) -> BlockSpec:
        """The :class:`BlockSpec` of the run's ODE units with ``kernel``, at ``steps`` (default:
        ``steps``, the first unit's for a per-unit list)."""
        if steps is None:
            steps = self.steps[0] if isinstance(self.steps, list) else self.steps
        settings = {name: getattr(self, name) for name in BLOCK_FIELDS}
        if NETWORKS.get(self.network) is not None:  # h = 1: T = steps, a fixed integrator
            settings.update(integrator=NETWORKS[self.network], T=steps)
        return BlockSpec.of(**{**settings, "steps": steps, "kernel": kernel})

    def unit_times(self, steps: int | list[int]) -> float | list[float]:
        """T of each unit at depth ``steps``: ``T``, or the steps themselves (h = 1) for the
        ``resnet`` and ``plain`` networks."""
        if NETWORKS.get(self.network) is None:
            return self.T
        return [float(n) for n in steps] if isinstance(steps, list) else float(steps)

    def levels(self) -> list[int | list[int]]:
        """Steps of each training level: ``multilevel``, or ``[steps]`` for a one-level run."""
        return list(self.multilevel) if self.multilevel is not None else [self.steps]

    def unit_widths(self) -> list[int]:
        """Channels of each ODE unit for signal and image data (default [16, 32])."""
        return list(self.widths) if self.widths is not None else [16, 32]

    def dataset_options(self) -> dict:
        """Options of ``load_dataset`` for this run's data."""
        if parse_source(self.data) is not None:
            folds = {} if self.fold is None else {"folds": (self.fold, self.folds)}
            return {**self.source_options(), **folds}
        if self.data in STANDARD_SETS:
            return {"data_dir": self.data_dir, "download": self.download}
        return {} if self.image_size is None else {"size": self.image_size}

    def source_options(self) -> dict:
        """How to read a file source (``csv:PATH`` …): its target column, task and a table's
        column options; {} for a built-in dataset."""
        if parse_source(self.data) is None:
            return {}
        options = {"target": self.target, "task": self.task}
        if parse_source(self.data)[0] in TABLE_FORMATS:
            options |= {
                "id_column": self.id_column,
                "drop_missing": self.drop_missing,
                "drop_columns": self.drop_columns,
            }
        return options

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ResodeError(f"unknown config fields: {', '.join(unknown)}")
        return cls(**data)


BLOCK_FIELDS = tuple(name for name in _names(TrainConfig) if name in _names(BlockSpec))
"""The fields of a run that are the block's (checked by :class:`BlockSpec`)."""
