"""The inputs as the user gives them: a run's standardization z = (x − μ)/σ undone, and the
box the raw values lie in. Radii of perturbations (``resode robustness``, adversarial
training) are measured in these units: pixels in [0, 1], a table's features in their own.
"""

from __future__ import annotations

import torch
from torch import nn

from .standardize import Standardization


class UserUnits:
    """The inputs as the user gives them: x_user = σ x + μ for a standardized run (identity
    otherwise), and the box (lo, hi) they lie in, or None."""

    def __init__(self, standardization: Standardization | None, box: tuple | None) -> None:
        self.standardization = standardization
        self.box = box

    @classmethod
    def of(cls, dataset) -> UserUnits:
        stored = (dataset.preprocessing or {}).get("standardization")
        scaling = None if stored is None else Standardization.from_dict(stored)
        return cls(scaling, input_box(dataset, scaling))

    def to_user(self, x: torch.Tensor) -> torch.Tensor:
        if self.standardization is None:
            return x
        mean, std = self._shaped(x)
        return x * std + mean

    def to_network(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.standardization is None else self.standardization.apply(x)

    def wrap(self, model: nn.Module):
        """x_user ↦ f(standardize(x_user)): the map an attack in user units perturbs."""
        if self.standardization is None:
            return model
        return lambda x: model(self.to_network(x))

    def scales(self) -> list[float] | None:
        """σ per feature or channel (the factor max 1/σ enters the Lipschitz constant)."""
        return None if self.standardization is None else list(self.standardization.std)

    def _shaped(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, len(self.standardization.mean)) + (1,) * (x.dim() - 2)
        mean = torch.tensor(self.standardization.mean, dtype=x.dtype, device=x.device)
        std = torch.tensor(self.standardization.std, dtype=x.dtype, device=x.device)
        return mean.reshape(shape), std.reshape(shape)


def input_box(dataset, standardization: Standardization | None = None) -> tuple | None:
    """(0, 1) for images whose pixels, in user units, all lie in [0, 1]; else None."""
    if dataset.kind != "image":
        return None
    units = UserUnits(standardization, None)
    values = torch.cat([units.to_user(part).flatten() for part in (dataset.x_train,
                        dataset.x_val, dataset.x_test)])  # fmt: skip
    tolerance = 1e-6
    inside = bool(((values >= -tolerance) & (values <= 1 + tolerance)).all())
    return (0.0, 1.0) if inside else None
