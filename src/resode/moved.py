"""Import paths of earlier releases, kept working: ``resode.stability`` is ``resode.analysis``.

Each old module name is served by the module that now holds its contents (the same object,
so ``resode.stability.max_stable_step is resode.analysis.max_stable_step``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "resode.stability": "resode.analysis",
    "resode.analysis.stability": "resode.analysis",
    "resode.diagnosis": "resode.analysis.diagnosis",
    "resode.config": "resode.training.config",
    "resode.train": "resode.training.loop",
    "resode.runs": "resode.training.runs",
    "resode.state": "resode.training.state",
    "resode.multilevel": "resode.training.multilevel",
    "resode.regularizers": "resode.training.regularizers",
    "resode.distributed": "resode.training.distributed",
    "resode.checkpoint": "resode.files",
    "resode.block": "resode.model.block",
    "resode.network": "resode.model.resnet",
    "resode.convnet": "resode.model.convnet",
    "resode.dynamics": "resode.model.dynamics",
    "resode.kernels": "resode.model.kernels",
    "resode.timegrid": "resode.model.timegrid",
    "resode.activations": "resode.model.activations",
    "resode.diffusion": "resode.model.diffusion",
    "resode.fused": "resode.model.fused",
    "resode.integrate": "resode.integrators.vector_field",
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module name and hands out the new module under it."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        module = importlib.import_module(MOVED[spec.name])
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module) -> None:
        """Nothing to run (it was imported under its new name); give back its own spec."""
        module.__spec__ = module.__spec__.loader_state


def install() -> None:
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
