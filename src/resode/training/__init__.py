"""Training a network: config, the loop in phases, optimizers, checkpoints.

from resode.training import TrainConfig, train
(reading a run back: :mod:`resode.runs`)
"""

from .config import TrainConfig
from .loop import train

__all__ = ["TrainConfig", "train"]
