"""Input perturbations within a radius ε: PGD, FGSM and random noise, in L2 and L∞.

An example (x, y) is *correct at radius ε* when f predicts y at x and at every input x + δ,
‖δ‖ ≤ ε, that the attack tried:

- ``pgd`` (Madry et al. 2018): ascent on the cross-entropy (the default, as in Madry et al.
  and foolbox) or on the margin max_{j≠y} f_j − f_y (Carlini & Wagner 2017; it does not
  saturate where the softmax does) by δ ← Π(δ + α d), d = sign(∇) in L∞ and ∇/‖∇‖₂ in L2, step
  α = ``relative_step``·ε (default 2.5 ε / steps), Π the projection onto the ball and the box;
  ``restarts`` runs, the first from x (or a random start), the others from uniform random
  points of the ball. Every iterate is checked: one misclassified iterate of one run breaks
  the example.
- ``fgsm`` (Goodfellow et al. 2015): one step of length ε from x, x + ε sign(∇) in L∞,
  x + ε ∇/‖∇‖₂ in L2.
- ``noise``, the non-adversarial reference: a random perturbation of size exactly ε, in L2 a
  uniformly random direction ε g/‖g‖₂ (g ~ N(0, I)), in L∞ a random corner ε s of the cube
  (signs s = ±1, equally likely); ``restarts`` draws.

With ``bounds`` = (lo, hi) every perturbed input is clipped into the box after each step
(this only shortens δ). Random numbers come from a ``torch.Generator`` seeded per attack, so
results are reproducible for a given seed and batch size. :func:`attack_rows` can stop
attacking a row once it is broken (what :mod:`.robustness`'s curves do); :func:`perturb` runs
every attack to its end (the most damaging input, e.g. for adversarial training). Gradients
are taken with respect to the input only (the model's parameters receive none); putting the
model in evaluation mode is the caller's job.

Attack specs as a user types them (:func:`parse_attack`): ``pgd``, ``pgd:STEPS``,
``pgd:STEPS:RESTARTS``, ``fgsm``, ``noise``, ``noise:DRAWS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ResodeError, check_choice, check_int, check_nonnegative, check_positive

NORMS = ("l2", "linf")
ATTACKS = ("fgsm", "noise", "pgd")
LOSSES = ("ce", "margin")
PGD_STEPS = 20
SPEC_FORMS = "pgd, pgd:STEPS, pgd:STEPS:RESTARTS, fgsm, noise or noise:DRAWS"

Model = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Attack:
    """One attack: ``kind`` (pgd | fgsm | noise) in ``norm`` (l2 | linf).

    ``steps``: gradient steps (pgd: default 20; fgsm: 1; noise: 0). ``restarts``: pgd runs or
    noise draws (fgsm: 1). ``relative_step``: pgd's step as a share of ε (default 2.5/steps).
    ``random_start``: pgd's first run starts at a random point of the ball, not at x.
    ``loss``: what the gradient ascends, ``ce`` (cross-entropy) or ``margin``.
    """

    kind: str
    norm: str = "linf"
    steps: int | None = None
    restarts: int = 1
    relative_step: float | None = None
    random_start: bool = False
    loss: str = "ce"

    def __post_init__(self) -> None:
        check_choice("attack", self.kind, ATTACKS)
        check_choice("norm", self.norm, NORMS)
        check_choice("loss", self.loss, LOSSES)
        check_int("restarts", self.restarts)
        fixed = {"fgsm": 1, "noise": 0}.get(self.kind)
        if fixed is None:
            steps = check_int("steps", PGD_STEPS if self.steps is None else self.steps)
            step = 2.5 / steps if self.relative_step is None else self.relative_step
            object.__setattr__(self, "steps", steps)
            object.__setattr__(self, "relative_step", check_positive("relative_step", step))
            return
        if self.steps not in (None, fixed):
            raise ResodeError(f"{self.kind} takes {fixed} gradient steps; steps applies to pgd")
        object.__setattr__(self, "steps", fixed)
        if self.relative_step is not None or self.random_start:
            raise ResodeError(f"relative_step and random_start apply to pgd, not {self.kind}")
        if self.kind == "fgsm" and self.restarts != 1:
            raise ResodeError("fgsm is one deterministic step; restarts applies to pgd and noise")

    @property
    def name(self) -> str:
        """The spec :func:`parse_attack` reads back: ``pgd:20:1``, ``fgsm``, ``noise:1``."""
        if self.kind == "pgd":
            return f"pgd:{self.steps}:{self.restarts}"
        return "fgsm" if self.kind == "fgsm" else f"noise:{self.restarts}"

    @property
    def adversarial(self) -> bool:
        """Whether the attack searches for the worst δ (pgd, fgsm), not a random one."""
        return self.kind != "noise"

    def to_dict(self) -> dict:
        return {
            "attack": self.name,
            "kind": self.kind,
            "norm": self.norm,
            "steps": self.steps,
            "restarts": self.restarts,
            "relative_step": self.relative_step,
            "random_start": self.random_start,
            "loss": self.loss,
        }


def parse_attack(text: str, norm: str = "linf", **options) -> Attack:
    """The :class:`Attack` a spec names (see the module docstring); ``options`` are
    :class:`Attack` fields (``loss``, ``relative_step``, ``random_start``)."""
    parts = text.strip().split(":") if isinstance(text, str) else [""]
    counts = parts[1:]
    longest = {"pgd": 2, "fgsm": 0, "noise": 1}.get(parts[0])
    if longest is None or len(counts) > longest or not all(c.isdigit() for c in counts):
        raise ResodeError(f"unknown attack {text!r}; write {SPEC_FORMS} (counts >= 1)")
    numbers = [int(c) for c in counts]
    if parts[0] == "noise":
        return Attack("noise", norm, restarts=numbers[0] if numbers else 1, **options)
    fields = dict(zip(("steps", "restarts"), numbers))
    return Attack(parts[0], norm, **{**fields, **options})


def check_radii(eps: object) -> list[float]:
    """``eps`` as a non-empty list of finite numbers >= 0 (one number is a list of one)."""
    values = [eps] if isinstance(eps, (int, float)) else eps
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ResodeError(f"eps must be a number or a list of numbers >= 0, got {eps!r}")
    radii = [check_nonnegative("eps", value) for value in values]
    if not radii:
        raise ResodeError("eps must name at least one radius (0 is the clean accuracy)")
    return radii


def check_bounds(bounds: object, x: torch.Tensor | None = None) -> tuple[float, float] | None:
    """``bounds`` as (lo, hi) with lo < hi (None: no box); ``x`` must lie inside it."""
    if bounds is None:
        return None
    if isinstance(bounds, (str, bytes)) or not isinstance(bounds, Sequence) or len(bounds) != 2:
        raise ResodeError(f"bounds must be (lo, hi) or None, got {bounds!r}")
    lo, hi = (_finite(f"bounds[{i}]", value) for i, value in enumerate(bounds))
    if not lo < hi:
        raise ResodeError(f"bounds must have lo < hi, got ({lo}, {hi})")
    if x is not None and x.numel() and (float(x.min()) < lo or float(x.max()) > hi):
        raise ResodeError(
            f"inputs range over [{float(x.min()):.4g}, {float(x.max()):.4g}], outside the "
            f"bounds ({lo}, {hi}): give bounds that contain the data"
        )
    return lo, hi


def _finite(name: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ResodeError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise ResodeError(f"{name} must be a finite number, got {value!r}")
    return number


def per_row(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-row values (rows,) shaped to broadcast against ``like`` (rows, …)."""
    return values.view(-1, *[1] * (like.dim() - 1))


def row_norms(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1)


def unit_rows(t: torch.Tensor) -> torch.Tensor:
    """Each row divided by its L2 norm (zero rows stay zero)."""
    return t / per_row(row_norms(t).clamp_min(torch.finfo(t.dtype).tiny), t)


def _project(x, delta, eps, norm: str, bounds) -> torch.Tensor:
    """δ moved into the ball ‖δ‖ ≤ ε (per row) and x + δ into the box."""
    radius = per_row(eps, delta)
    if norm == "linf":
        delta = torch.minimum(torch.maximum(delta, -radius), radius)
    else:
        length = row_norms(delta).clamp_min(torch.finfo(x.dtype).tiny)
        delta = delta * per_row((eps / length).clamp(max=1), x)
    if bounds is not None:
        delta = (x + delta).clamp(*bounds) - x
    return delta


def _random(x, eps, norm: str, generator, inside: bool) -> torch.Tensor:
    """A random δ per row: uniform in the ball (``inside``) or of size exactly ε (noise)."""

    def draw(shape, sample) -> torch.Tensor:
        return sample(shape, generator=generator, dtype=x.dtype).to(x.device)

    if norm == "linf":
        signs = draw(x.shape, torch.rand) * 2 - 1 if inside else draw(x.shape, torch.randn).sign()
        return per_row(eps, x) * signs
    direction = unit_rows(draw(x.shape, torch.randn))
    if inside:  # the radius of a uniform point of the n-ball: ε u^(1/n)
        direction = direction * per_row(draw((len(x),), torch.rand) ** (1 / x[0].numel()), x)
    return per_row(eps, x) * direction


def _loss(logits: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-example loss (rows,): cross-entropy, or the margin max_{j≠y} f_j − f_y."""
    if kind == "ce":
        return F.cross_entropy(logits, y, reduction="none")
    true = logits.gather(1, y[:, None]).squeeze(1)
    return logits.scatter(1, y[:, None], -math.inf).amax(dim=1) - true


class WorstInputs:
    """Per row of x, the most damaging input seen so far (a misclassified one before a correct
    one, then the larger loss) and its logits; ``broken``: some input seen was misclassified
    (rows given as ``broken`` at the start count as broken and are not attacked)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, loss: str, broken=None) -> None:
        self.x, self.y, self.kind, self.logits = x.clone(), y, loss, None
        self.loss = torch.full((len(x),), -math.inf, dtype=x.dtype, device=x.device)
        self.broken = torch.zeros_like(y, dtype=torch.bool) if broken is None else broken.clone()

    def see(self, rows: torch.Tensor, x: torch.Tensor, logits: torch.Tensor) -> None:
        """Inputs x (len(rows), …) of the rows ``rows`` with their logits."""
        x, logits, y = x.detach(), logits.detach(), self.y[rows]
        loss, wrong = _loss(logits, y, self.kind), logits.argmax(dim=1) != y
        if self.logits is None:
            self.logits = logits.new_zeros(len(self.x), logits.shape[1])
        before = self.broken[rows]
        better = (wrong & ~before) | ((wrong == before) & (loss > self.loss[rows]))
        chosen = rows[better]
        self.x[chosen], self.logits[chosen] = x[better], logits[better]
        self.loss[chosen] = loss[better]
        self.broken[rows] = before | wrong

    def alive(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """The rows (of ``rows``, default all) not broken yet."""
        rows = torch.arange(len(self.x), device=self.x.device) if rows is None else rows
        return rows[~self.broken[rows]]


def _direction(model, rows, x, attack: Attack, worst: WorstInputs) -> torch.Tensor:
    """The ascent direction at x (rows of ``worst``): sign(∇) in L∞, ∇/‖∇‖₂ in L2."""
    moved = x.detach().requires_grad_(True)
    logits = model(moved)
    worst.see(rows, moved, logits)
    loss = _loss(logits, worst.y[rows], attack.loss).sum()
    (gradient,) = torch.autograd.grad(loss, moved)
    return gradient.sign() if attack.norm == "linf" else unit_rows(gradient)


def _show(model, rows, x, worst: WorstInputs) -> None:
    with torch.no_grad():
        worst.see(rows, x, model(x))


def attack_rows(model, x, eps, attack: Attack, bounds, generator, worst: WorstInputs,
                stop: bool) -> None:  # fmt: skip
    """Show ``worst`` what ``attack`` finds per row of x (rows, …) within radius ``eps``
    (rows,); with ``stop`` a row is attacked only until it is broken."""
    norm, every = attack.norm, torch.arange(len(x), device=x.device)
    with torch.enable_grad():
        if attack.kind == "fgsm":
            rows = worst.alive() if stop else every
            if not len(rows):
                return
            delta = per_row(eps[rows], x) * _direction(model, rows, x[rows], attack, worst)
            _show(model, rows, x[rows] + _project(x[rows], delta, eps[rows], norm, bounds), worst)
            return
        for run in range(attack.restarts):
            rows = worst.alive() if stop else every
            if not len(rows):
                return
            start, radius = x[rows], eps[rows]
            delta = torch.zeros_like(start)
            if attack.kind == "noise" or run > 0 or attack.random_start:
                delta = _random(start, radius, norm, generator, inside=attack.kind == "pgd")
            delta = _project(start, delta, radius, norm, bounds)
            for _ in range(attack.steps):  # type: ignore[arg-type]
                direction = _direction(model, rows, start + delta, attack, worst)
                step = per_row(radius * attack.relative_step, start)  # type: ignore[operator]
                delta = _project(start, delta + step * direction, radius, norm, bounds)
                if stop:
                    keep = ~worst.broken[rows]
                    rows, start, radius, delta = rows[keep], start[keep], radius[keep], delta[keep]
                if not len(rows):
                    break
            if len(rows):
                _show(model, rows, start + delta, worst)


def model_device(model: Model, x: torch.Tensor) -> torch.device:
    parameter = next(model.parameters(), None) if isinstance(model, nn.Module) else None
    return x.device if parameter is None else parameter.device


def check_inputs(x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2 or not len(x):
        raise ResodeError("x must be a non-empty floating-point tensor of shape (batch, …)")
    return x


def check_data(x: object, y: object) -> tuple[torch.Tensor, torch.Tensor]:
    x = check_inputs(x)
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or y.shape != x.shape[:1]:
        raise ResodeError(f"labels must be an int64 tensor of shape ({len(x)},) for x")
    return x, y


def perturb(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: Attack,
    eps: float | torch.Tensor,
    *,
    bounds: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """x + δ: per example the most damaging input ``attack`` found within radius ``eps`` (a
    number or one per example, shape (batch,)), misclassified if any try was. Shape of x, on
    the model's device; ``generator`` (CPU) draws the random starts and noise."""
    x, y = check_data(x, y)
    if not isinstance(attack, Attack):
        raise ResodeError(f"attack must be an Attack (see parse_attack), got {attack!r}")
    device = model_device(model, x)
    x, y = x.detach().to(device), y.to(device)
    if not isinstance(eps, torch.Tensor):
        eps = torch.tensor(check_radii(eps), dtype=torch.float64)
    radii = eps
    if radii.numel() not in (1, len(x)) or radii.dim() > 1:
        raise ResodeError(f"eps must be one radius or one per example ({len(x)},)")
    if not bool(torch.isfinite(radii).all() & (radii >= 0).all()):
        raise ResodeError("eps must be finite numbers >= 0")
    eps = radii.to(dtype=x.dtype, device=device).reshape(-1).expand(len(x))
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    bounds = check_bounds(bounds, x)
    worst = WorstInputs(x, y, attack.loss)
    attack_rows(model, x, eps, attack, bounds, generator, worst, stop=False)
    return worst.x


__all__ = [
    "ATTACKS",
    "LOSSES",
    "NORMS",
    "Attack",
    "WorstInputs",
    "attack_rows",
    "check_bounds",
    "check_data",
    "check_inputs",
    "check_radii",
    "model_device",
    "parse_attack",
    "per_row",
    "perturb",
    "row_norms",
    "unit_rows",
]
