"""Accuracy under attack at a list of radii (robustness curves) and an empirical lower bound
of the Lipschitz constant of the logit map x ↦ f(x).

The attacks are those of :mod:`.attacks`. A curve attacks an example only while it is still correct
at the radius (a misclassified example is never attacked), which saves most of the work on a
weak network; the rows (radius, example) of every nonzero radius are stacked into passes of
``batch_size`` rows. A perturbation that breaks an example at a radius lies in every larger
ball, so the adversarial curves (pgd, fgsm) are non-increasing in ε; noise curves are not.
ε = 0 is the clean accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import ResodeError, check_int, check_positive
from .attacks import (
    ATTACKS,
    LOSSES,
    NORMS,
    Attack,
    Model,
    WorstInputs,
    attack_rows,
    check_bounds,
    check_data,
    check_inputs,
    check_radii,
    model_device,
    parse_attack,
    per_row,
    perturb,
    row_norms,
    unit_rows,
)


@dataclass(frozen=True)
class LipschitzEstimate:
    """A ratio ‖f(x + δ) − f(x)‖₂ / ‖δ‖₂ found at example ``example`` (its index in x), with
    ‖δ‖₂ = ``distance``; ``source`` says which search found it (``ascent`` or an attack)."""

    value: float
    example: int
    distance: float
    source: str

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("value", "example", "distance", "source")}


@dataclass
class RobustnessCurve:
    """Accuracy of one attack at the radii ``eps``; ``correct`` (len(eps), count) bool, whether
    each example was correct at each radius; ``lipschitz``: the largest ratio over the
    perturbations the attack produced (None when all were zero)."""

    attack: Attack
    eps: list[float]
    accuracy: list[float]
    correct: torch.Tensor
    lipschitz: LipschitzEstimate | None

    def to_dict(self, examples: bool = False) -> dict:
        """JSON-friendly; the per-example booleans only with ``examples``."""
        result = {
            **self.attack.to_dict(),
            "eps": list(self.eps),
            "accuracy": list(self.accuracy),
            "lipschitz_lower_bound": None if self.lipschitz is None else self.lipschitz.to_dict(),
        }
        if examples:
            result["correct"] = self.correct.tolist()
        return result


def _clean_logits(model: Model, x: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(part.to(device)).detach() for part in x.split(batch_size)])


def _curve(model, x, y, clean, attack, radii, bounds, batch_size, seed) -> RobustnessCurve:
    """One attack at all radii, the rows (radius, example) of every nonzero radius stacked
    into passes of ``batch_size`` rows."""
    device, count = clean.device, len(x)
    generator = torch.Generator().manual_seed(seed)
    active = [index for index, radius in enumerate(radii) if radius > 0]
    broken = torch.zeros(len(radii), count, dtype=torch.bool)
    right = clean.argmax(dim=1) == y.to(device)
    best = (0.0, -1, 0.0, "")
    for rows in torch.arange(len(active) * count).split(batch_size):
        which, example = torch.tensor(active)[rows // count], rows % count
        eps = torch.tensor(radii, dtype=x.dtype)[which].to(device)
        xs, ys = x[example].to(device), y[example].to(device)
        worst = WorstInputs(xs, ys, attack.loss, broken=~right[example.to(device)])
        attack_rows(model, xs, eps, attack, bounds, generator, worst, stop=True)
        broken[which, example] = worst.broken.cpu()
        if worst.logits is None:  # every row was misclassified at x: none attacked
            continue
        distance = row_norms(worst.x - xs)
        change = row_norms(worst.logits - clean[example.to(device)])
        ratio = torch.where(distance > 0, change / distance, 0.0)
        top = int(ratio.argmax())
        if float(ratio[top]) > best[0]:
            source = f"{attack.name} {attack.norm} eps={radii[int(which[top])]:g}"
            best = (float(ratio[top]), int(example[top]), float(distance[top]), source)
    correct = right.cpu()[None] & ~broken
    if attack.adversarial:  # a δ that breaks at a radius lies in every larger ball
        order = torch.tensor(radii).argsort(stable=True)
        carried = correct[order].to(torch.uint8).cummin(dim=0).values.bool()
        correct = torch.empty_like(correct)
        correct[order] = carried
    accuracy = [float(row) for row in correct.double().mean(dim=1)]
    lipschitz = LipschitzEstimate(*best) if best[1] >= 0 else None
    return RobustnessCurve(attack, list(radii), accuracy, correct, lipschitz)


def robustness_curves(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    attacks: Sequence[Attack],
    eps: Sequence[float] | float,
    *,
    bounds: tuple[float, float] | None = None,
    batch_size: int = 256,
    seed: int = 0,
) -> list[RobustnessCurve]:
    """Accuracy of ``model`` on (x, y) under each attack at each radius of ``eps`` (0: clean).

    x (count, …) and labels (count,) int64 may live on any device; passes of ``batch_size``
    rows (one row: one example at one radius) run on the model's device. ``seed`` seeds each
    attack's generator, so an attack's curve does not depend on the others in the list.
    """
    x, y = check_data(x, y)
    radii = check_radii(eps)
    if isinstance(attacks, Attack) or not all(isinstance(a, Attack) for a in attacks):
        raise ResodeError("attacks must be a list of Attack (see parse_attack)")
    check_int("batch_size", batch_size)
    check_int("seed", seed, minimum=0)
    bounds = check_bounds(bounds, x)
    x, device = x.detach(), model_device(model, x)
    clean = _clean_logits(model, x, batch_size, device)
    return [
        _curve(model, x, y, clean, attack, radii, bounds, batch_size, seed) for attack in attacks
    ]


def lipschitz_lower_bound(
    model: Model,
    x: torch.Tensor,
    *,
    curves: Sequence[RobustnessCurve] = (),
    examples: int = 8,
    steps: int = 20,
    radius: float = 1e-2,
    seed: int = 0,
) -> LipschitzEstimate:
    """The largest ‖f(x + δ) − f(x)‖₂ / ‖δ‖₂ found: an empirical lower bound of the L2
    Lipschitz constant of the logit map (every ratio is one).

    Searched (a) over the perturbations of ``curves`` and (b) by ascent from random δ of
    length ``radius`` (input units) around ``examples`` examples drawn with ``seed``: ``steps``
    times δ ← radius ∇/‖∇‖₂, ∇ the gradient of ½‖f(x + δ) − f(x)‖₂² (for f(x) = W x this is
    power iteration on WᵀW, which converges to ‖W‖₂). In float32 a ratio at ‖δ‖₂ much below
    1e-3 carries rounding error; keep ``radius`` small against the data, not tiny.
    """
    x = check_inputs(x)
    check_int("examples", examples)
    check_int("steps", steps)
    check_positive("radius", radius)
    check_int("seed", seed, minimum=0)
    generator = torch.Generator().manual_seed(seed)
    picked = torch.randperm(len(x), generator=generator)[:examples]
    start = x.detach()[picked].to(model_device(model, x))
    delta = radius * unit_rows(torch.randn(start.shape, generator=generator, dtype=x.dtype))
    delta = delta.to(start.device)
    best = max(
        (curve.lipschitz for curve in curves if curve.lipschitz is not None),
        key=lambda found: found.value,
        default=LipschitzEstimate(0.0, -1, 0.0, ""),
    )
    with torch.no_grad():
        clean = model(start)
    with torch.enable_grad():
        for step in range(steps + 1):
            moved = (start + delta).requires_grad_(True)
            change = model(moved) - clean
            distance = row_norms(moved.detach() - start)
            ratio = torch.where(distance > 0, row_norms(change.detach()) / distance, 0.0)
            top = int(ratio.argmax())
            if float(ratio[top]) > best.value:
                best = LipschitzEstimate(
                    float(ratio[top]), int(picked[top]), float(distance[top]), "ascent"
                )
            if step == steps:
                break
            (gradient,) = torch.autograd.grad(0.5 * change.square().sum(), moved)
            moving = per_row(row_norms(gradient) > 0, delta)
            delta = torch.where(moving, radius * unit_rows(gradient), delta)
    return best


__all__ = [
    "ATTACKS",
    "LOSSES",
    "NORMS",
    "Attack",
    "LipschitzEstimate",
    "RobustnessCurve",
    "check_bounds",
    "check_radii",
    "lipschitz_lower_bound",
    "parse_attack",
    "perturb",
    "robustness_curves",
]
