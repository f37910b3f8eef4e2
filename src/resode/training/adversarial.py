"""Adversarial training (``--adversarial KIND:EPS[:NORM[:STEPS]]``): every training batch is
replaced by the worst perturbation an attack finds within radius ε (Madry et al. 2018),
min_θ E max_{‖δ‖ ≤ ε} loss(f_θ(x + δ), y).

ε is measured in the inputs as the user gives them (pixels in [0, 1], a table's features in
their units): the attack works on x ↦ f(standardize(x)), and images whose raw values lie in
[0, 1] stay in that box (:class:`~resode.data.units.UserUnits`). The perturbation is made
with the network in evaluation mode (batch normalization uses its running statistics and
records nothing), then the step trains on it in training mode. Its random start is drawn
from a generator seeded by the run's seed and the step counter, so a resumed run perturbs
exactly as an uninterrupted one. Cost: a PGD step is one forward and backward pass, so
``pgd:EPS`` with S steps makes a training step about S + 1 times as expensive.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..analysis.attacks import NORMS, Attack
from ..data.units import UserUnits
from ..errors import ResodeError, check_choice, check_int, check_positive

KINDS = ("pgd", "fgsm")
PGD_STEPS = 3
FORMS = "KIND:EPS[:NORM[:STEPS]], KIND pgd or fgsm, NORM linf (default) or l2, e.g. pgd:0.1"


@dataclass(frozen=True)
class AdversarialTraining:
    """An attack and its radius ε for training (``pgd`` with random start, ``fgsm``)."""

    attack: Attack
    eps: float

    @classmethod
    def parse(cls, text: str) -> AdversarialTraining:
        """``pgd:0.1`` (L∞, 3 steps), ``pgd:0.5:l2``, ``pgd:0.1:linf:7``, ``fgsm:0.1``."""
        parts = text.split(":") if isinstance(text, str) else []
        if not 2 <= len(parts) <= 4:
            raise ResodeError(f"--adversarial must read {FORMS}; got {text!r}")
        kind = check_choice("adversarial attack", parts[0], KINDS)
        eps = check_positive("adversarial radius", _number(parts[1], text))
        norm = check_choice("adversarial norm", parts[2], NORMS) if len(parts) > 2 else "linf"
        if len(parts) == 4 and kind == "fgsm":
            raise ResodeError(f"fgsm takes one step; steps apply to pgd ({FORMS})")
        steps = check_int("adversarial steps", _number(parts[3], text)) if len(parts) == 4 else None
        if kind == "pgd":
            attack = Attack("pgd", norm, steps or PGD_STEPS, random_start=True)
        else:
            attack = Attack("fgsm", norm)
        return cls(attack, eps)

    def perturb(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, units: UserUnits, seed: int
    ) -> torch.Tensor:
        """The batch x (standardized as the network takes it) moved to the attack's worst
        point within ε in user units, standardized again; ``seed`` draws the random start."""
        from ..analysis.attacks import perturb

        was_training = model.training
        model.eval()
        try:
            generator = torch.Generator().manual_seed(seed)
            raw = units.to_user(x.detach())
            moved = perturb(
                units.wrap(model), raw, y, self.attack, self.eps,
                bounds=units.box, generator=generator,
            )  # fmt: skip
        finally:
            model.train(was_training)
        return units.to_network(moved).detach()


def _number(text: str, spec: str):
    try:
        value = float(text)
    except ValueError:
        raise ResodeError(f"--adversarial must read {FORMS}; got {spec!r}") from None
    return int(value) if value.is_integer() and "." not in text else value
