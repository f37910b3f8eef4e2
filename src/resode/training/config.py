"""``TrainConfig``: every setting of a training run, validated, stored as ``config.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch

from ..data import DATASETS, dataset_kind, dataset_task
from ..errors import (
    ResodeError,
    check_choice,
    check_int,
    check_nonnegative,
    check_positive,
)
from ..gradients import check_memory
from ..integrators import INTEGRATORS
from ..model.activations import ACTIVATIONS
from ..model.block import check_pairing
from ..model.dynamics import DYNAMICS, NORMS
from ..model.timegrid import INTERPOLATIONS
from ..tasks import TASKS

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine", "step")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


@dataclass
class TrainConfig:
    """Settings of ``resode train``; the defaults are the main job (peaks, antisymmetric RK4).

    ``multilevel`` = [N_0, N_1, …] trains at depth N_0, then prolongates to N_1, …, each
    level for ``epochs`` epochs (see :mod:`resode.multilevel`); every unit takes the level's
    depth and ``steps`` is set to the final depth. ``max_seconds`` bounds the training time
    (the sum of the epochs' ``seconds``): a level stops after the epoch that exceeds its
    share, the time left divided evenly over the levels left.
    """

    data: str = "peaks"
    dynamics: str = "antisymmetric"
    integrator: str = "rk4"
    activation: str = "tanh"
    task: str | None = None
    width: int = 16
    widths: list[int] | None = None
    T: float = 4.0
    steps: int | list[int] = 8
    grid: int | None = None
    interp: str = "constant"
    gamma: float = 0.0
    epochs: int = 60
    batch_size: int = 64
    lr: float = 0.01
    optimizer: str = "adam"
    momentum: float = 0.9
    schedule: str = "cosine"
    smoothness: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    kernel_size: int = 3
    norm: str = "none"
    image_size: int | None = None
    device: str = "auto"
    dtype: str = "float32"
    multilevel: list[int] | None = None
    max_seconds: float | None = None
    memory: str = "store"

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
        check_choice("dataset", self.data, DATASETS)
        check_choice("dynamics", self.dynamics, DYNAMICS)
        check_choice("integrator", self.integrator, INTEGRATORS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("interpolation", self.interp, INTERPOLATIONS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("device", self.device, DEVICES)
        check_choice("dtype", self.dtype, DTYPES)
        check_pairing(self.dynamics, self.integrator)
        check_memory(self.memory, INTEGRATORS[self.integrator])
        for name in ("width", "epochs", "batch_size", "kernel_size"):
            check_int(name, getattr(self, name))
        check_choice("normalization", self.norm, NORMS)
        if self.kernel_size % 2 == 0:
            raise ResodeError(f"kernel size must be odd (3, 5, …), got {self.kernel_size}")
        self._validate_multilevel()
        self._validate_architecture()
        if self.grid is not None:
            check_int("grid", self.grid)
        check_int("seed", self.seed, minimum=0)
        check_positive("T", self.T)
        check_positive("lr", self.lr)
        for name in ("gamma", "smoothness", "weight_decay", "momentum"):
            check_nonnegative(name, getattr(self, name))
        if self.max_seconds is not None:
            check_positive("max_seconds", self.max_seconds)
        if self.gamma and self.dynamics != "antisymmetric":
            raise ResodeError("gamma applies only to antisymmetric dynamics")
        return self

    def _validate_architecture(self) -> None:
        """Task, widths and steps must fit the dataset's task and kind."""
        task, kind = dataset_task(self.data), dataset_kind(self.data)
        if self.task is not None and check_choice("task", self.task, TASKS) != task:
            fitting = sorted(n for n in DATASETS if dataset_task(n) == self.task)
            raise ResodeError(
                f"dataset {self.data!r} is for {task}, not {self.task}; "
                f"{self.task} datasets: {', '.join(fitting)}"
            )
        if kind == "vector":
            if self.widths is not None:
                raise ResodeError(
                    f"--widths applies to signal and image datasets, not {self.data!r}"
                )
        elif self.widths is not None:
            if not isinstance(self.widths, list) or not self.widths:
                raise ResodeError(f"widths must be a list of channel counts, got {self.widths!r}")
            for value in self.widths:
                check_int("width", value)
        units = len(self.unit_widths()) if kind != "vector" else 1
        steps = self.steps if isinstance(self.steps, list) else [self.steps]
        if isinstance(self.steps, list) and len(steps) != units:
            raise ResodeError(f"steps gives {len(steps)} values for {units} unit(s)")
        for value in steps:
            check_int("steps", value)
        if self.image_size is not None:
            check_int("image_size", self.image_size)
            option = DATASETS[self.data].options.get("size")
            if option is None:
                raise ResodeError(f"--image-size applies to shapes and bars, not {self.data!r}")
            option.check("size", self.image_size)

    def _validate_multilevel(self) -> None:
        """Levels N_0 < N_1 < …: at least two, each an integer multiple of the one before."""
        levels = self.multilevel
        if levels is None:
            return
        if not isinstance(levels, list) or len(levels) < 2:
            raise ResodeError(
                f"multilevel needs at least two depths, e.g. 4,8,16,32; got {levels!r}"
            )
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
        if self.steps != levels[-1]:
            raise ResodeError(
                f"with multilevel, steps is the final depth {levels[-1]}, got {self.steps!r}"
            )

    def levels(self) -> list[int | list[int]]:
        """Steps of each training level: ``multilevel``, or ``[steps]`` for a one-level run."""
        return list(self.multilevel) if self.multilevel is not None else [self.steps]

    def unit_widths(self) -> list[int]:
        """Channels of each ODE unit for signal and image data (default [16, 32])."""
        return list(self.widths) if self.widths is not None else [16, 32]

    def dataset_options(self) -> dict:
        return {} if self.image_size is None else {"size": self.image_size}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ResodeError(f"unknown config fields: {', '.join(unknown)}")
        return cls(**data)
