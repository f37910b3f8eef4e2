"""resode: residual neural networks as discretized ordinary differential equations."""

from .errors import ResodeError, TrainingDivergedError
from .integrators import INTEGRATORS, ButcherTableau, get_integrator, integrate
from .model.block import ODEBlock
from .model.convnet import ConvResNet
from .model.dynamics import DYNAMICS
from .model.resnet import ResNet
from .model.spec import BlockSpec, make_dynamics
from .model.timegrid import TimeParameter

__version__ = "0.1.0"

__all__ = [
    "DYNAMICS",
    "INTEGRATORS",
    "BlockSpec",
    "ButcherTableau",
    "ConvResNet",
    "ODEBlock",
    "ResNet",
    "ResodeError",
    "TimeParameter",
    "TrainingDivergedError",
    "get_integrator",
    "integrate",
    "make_dynamics",
]
