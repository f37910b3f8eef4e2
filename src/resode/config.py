"""``TrainConfig``: every setting of a training run, validated, stored as ``config.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .activations import ACTIVATIONS
from .data import DATASETS
from .dynamics import DYNAMICS
from .errors import (
    ResodeError,
    check_choice,
    check_int,
    check_nonnegative,
    check_positive,
)
from .integrators import INTEGRATORS
from .timegrid import INTERPOLATIONS

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine", "step")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("float32", "float64", "bfloat16")


@dataclass
class TrainConfig:
    """Settings of ``resode train``; the defaults are the main job (peaks, antisymmetric RK4)."""

    data: str = "peaks"
    dynamics: str = "antisymmetric"
    integrator: str = "rk4"
    activation: str = "tanh"
    width: int = 16
    T: float = 4.0
    steps: int = 8
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
    device: str = "auto"
    dtype: str = "float32"

    def __post_init__(self) -> None:
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
        for name in ("width", "steps", "epochs", "batch_size"):
            check_int(name, getattr(self, name))
        if self.grid is not None:
            check_int("grid", self.grid)
        check_int("seed", self.seed, minimum=0)
        check_positive("T", self.T)
        check_positive("lr", self.lr)
        for name in ("gamma", "smoothness", "weight_decay", "momentum"):
            check_nonnegative(name, getattr(self, name))
        if self.gamma and self.dynamics != "antisymmetric":
            raise ResodeError("gamma applies only to antisymmetric dynamics")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ResodeError(f"unknown config fields: {', '.join(unknown)}")
        return cls(**data)
