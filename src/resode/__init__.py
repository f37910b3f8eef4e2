"""resode: residual neural networks as discretized ordinary differential equations."""

from .block import ODEBlock
from .convnet import ConvResNet
from .dynamics import DYNAMICS, make_dynamics
from .errors import ResodeError, TrainingDivergedError
from .integrate import integrate
from .integrators import INTEGRATORS, ButcherTableau, get_integrator
from .network import ResNet
from .timegrid import TimeParameter

__version__ = "0.1.0"

__all__ = [
    "DYNAMICS",
    "INTEGRATORS",
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
