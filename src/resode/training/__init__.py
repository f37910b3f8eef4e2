"""Training a network and the run directory it writes: config, loop, state, runs.

from resode.training import TrainConfig, train, evaluate_run, load_run
"""

from .config import TrainConfig
from .loop import train
from .runs import analyze_run, evaluate_run, load_run

__all__ = ["TrainConfig", "analyze_run", "evaluate_run", "load_run", "train"]
