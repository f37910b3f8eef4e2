"""A certified upper bound L of the L2 Lipschitz constant of a network's map x ↦ logits, and
the certified radii it gives.

The network is a composition, so L is a product of rigorous bounds of its parts, each kept as a
:class:`Factor` so one sees where the constant comes from:

    L = max 1/σ_in · s‖K₀‖ · Π_units (L_unit · L_connector) · (1/√P) · ‖W‖₂

- input scaling: the standardization z = (x − μ)/σ is diag(1/σ), of norm max 1/σ, so the bound
  is for inputs in the user's units;
- the opening layer and the connectors' 1×1 convolutions: s‖K‖ (s = sup σ' of the activation,
  ‖·‖ the same at every image size for 1×1); average pooling by 2 has norm 1/2 on images
  (a mean of 4: (1/4)·√4), 1/√2 on signals;
- every ODE unit, step by step, from the stage parameters it samples at its current depth
  (:mod:`~resode.analysis.lipschitz_steps`: Runge–Kutta recursions, leapfrog and Verlet
  shears, IMEX, the convex-potential bound of parabolic forward Euler);
- the classification (or regression) head: global average pooling over P pixels has norm
  1/√P (Cauchy–Schwarz), its linear map ‖W‖₂.

Everything is computed in float64 on a copy in evaluation mode; every norm, unit and the
product are enlarged by :data:`MARGIN` (relative), which covers the SVD's rounding. A
convolution's norm is the circular embedding's bound on images of the size it sees
(:meth:`~resode.model.kernels.ConvKernel.operator_norms`): the bound holds for inputs of the
given shape (each convolution's factor also at smaller sizes, but the head's 1/√P grows as the
image shrinks). Group, layer and instance normalization divide by each example's own spread:
no finite bound (infinite, with the reason); batch normalization in training mode couples the
examples and is refused.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..data.standardize import Standardization
from ..errors import ResodeError, check_tensor
from ..model.block import ODEBlock
from ..model.convnet import ConvResNet
from ..model.inference import in_chunks
from ..model.kernels import ConvKernel
from ..model.lipschitz import used_weight
from ..model.normalization import BatchNormalization, require_per_example
from ..model.resnet import ResNet
from .lipschitz_steps import MARGIN, Factor, bounded, size_text, unit_factor


@dataclass(frozen=True)
class LipschitzBound:
    """L ≥ sup ‖f(x) − f(x̃)‖₂ / ‖x − x̃‖₂ over inputs of shape ``input_shape`` (per example),
    f the map to the logits; ``value`` is the product of the ``factors`` (× 1 + MARGIN), or
    ∞ with a ``reason`` where the network is not globally Lipschitz."""

    value: float
    factors: tuple[Factor, ...]
    input_shape: tuple[int, ...]
    reason: str = ""

    @property
    def finite(self) -> bool:
        return math.isfinite(self.value)

    def describe(self) -> str:
        """One line per factor, then the bound."""
        if not self.finite:
            return f"Lipschitz bound: infinite ({self.reason})"
        lines = [f"{f.name:<20} {f.value:12.6g}   {f.how}" for f in self.factors]
        shape = "×".join(map(str, self.input_shape))
        return "\n".join([*lines, f"Lipschitz bound (inputs {shape}): {self.value:.6g}"])

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "input_shape": list(self.input_shape),
            "reason": self.reason,
            "factors": [f.to_dict() for f in self.factors],
        }


def lipschitz_bound(model, input_shape: Sequence[int], scale=None) -> LipschitzBound:
    """A certified upper bound of the L2 Lipschitz constant of x ↦ model(x) for inputs of
    ``input_shape`` per example: (in_features,) for a :class:`ResNet`, (channels, *spatial)
    for a :class:`ConvResNet` (classification or regression heads).

    ``scale``: σ per feature (vectors) or channel (signals, images) of the standardization
    z = (x − μ)/σ the model's inputs went through (a sequence, a tensor or a
    :class:`~resode.data.standardize.Standardization`); the
    bound is then for x in the user's units. Batch normalization must be in evaluation mode.
    """
    shape, units, sizes = _structure(model, input_shape)
    for unit in units:
        require_per_example(unit.dynamics, "Lipschitz bound")
    reason = _not_lipschitz(units)
    if reason:
        return LipschitzBound(math.inf, (), shape, reason)
    analysed = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        factors = _factors(analysed, shape, sizes, scale)
    value = math.prod(f.value for f in factors) * (1 + MARGIN)
    return LipschitzBound(value, tuple(factors), shape)


def block_lipschitz(block: ODEBlock, spatial: Sequence[int] = ()) -> Factor:
    """The bound of one ODE unit's map Y₀ ↦ Y_N (``spatial``: its image size for a
    convolutional unit), with every step's; ∞ (and the reason) for per-example normalization."""
    require_per_example(block.dynamics, "Lipschitz bound")
    reason = _not_lipschitz([block])
    if reason:
        return Factor("unit", math.inf, reason)
    with torch.no_grad():
        return unit_factor(copy.deepcopy(block).double().eval(), tuple(spatial), "unit")


# ---- the network's structure and its fixed parts ------------------------------------------


def _structure(model, input_shape) -> tuple[tuple[int, ...], list[ODEBlock], list[tuple]]:
    """The checked per-example input shape, the ODE units and each unit's image size."""
    shape = tuple(int(side) for side in input_shape)
    if isinstance(model, ResNet):
        if shape != (model.in_features,):
            raise ResodeError(
                f"input_shape must be ({model.in_features},) for this ResNet, got {shape}"
            )
        return shape, [model.block], [()]
    if not isinstance(model, ConvResNet):
        raise ResodeError(
            f"a Lipschitz bound needs a ResNet or ConvResNet, got {type(model).__name__}"
        )
    if model.task == "segmentation":
        raise ResodeError(
            "a Lipschitz bound of the logits is for classification and regression heads; "
            "this network segments (one output per pixel)"
        )
    model.check_input_shape(shape)
    sizes = []
    for index in range(len(model.units)):
        factor = 2**index if model.pool else 1
        sizes.append(tuple(side // factor for side in shape[1:]))
    return shape, list(model.units), sizes


def _not_lipschitz(units) -> str:
    for index, unit in enumerate(units):
        norm = unit.dynamics.normalization
        if not norm.identity and not isinstance(norm, BatchNormalization):
            return (
                f"unit {index}: {norm.name} normalization divides by each example's own "
                f"spread, so the network is not globally Lipschitz"
            )
    return ""


def _matrix_norm(weight: torch.Tensor) -> float:
    return bounded(torch.linalg.matrix_norm(weight.reshape(weight.shape[0], -1), ord=2))


def _factors(model, shape, sizes, scale) -> list[Factor]:
    s = model.activation.slope_bound
    factors = [] if scale is None else [_scaling(scale, shape[0])]
    head = Factor("head", _matrix_norm(used_weight(model.head)), "‖W‖₂")
    if isinstance(model, ResNet):
        opening = used_weight(model.opening)
        factors.append(Factor("opening", s * _matrix_norm(opening), f"s‖K₀‖, s = {s:g}"))
        factors.append(unit_factor(model.block, (), "unit"))
        return [*factors, head]
    opening = used_weight(model.opening, sizes[0])
    size = opening.shape[-1]
    if tuple(model.opening.padding) != (size // 2,) * model.spatial_dims:
        raise ResodeError("the opening convolution must have 'same' padding (kernel size // 2)")
    kernel = ConvKernel(opening.shape[0], model.spatial_dims, size)
    norm = bounded(kernel.operator_norms(opening.unsqueeze(0), sizes[0])[0])
    factors.append(Factor("opening", s * norm, f"s‖K₀‖, s = {s:g}, on {size_text(sizes[0])}"))
    for index, unit in enumerate(model.units):
        factors.append(unit_factor(unit, sizes[index], f"unit {index}"))
        if index < len(model.connectors):
            factors.append(_connector_factor(model.connectors[index], s, index))
    pixels = math.prod(sizes[-1])
    if model.lipschitz is None:
        factors.append(Factor("average pooling", 1 / math.sqrt(pixels), f"1/√{pixels} pixels"))
    else:  # scaled by √pixels to norm 1
        factors.append(Factor("average pooling", 1.0, f"the mean times √{pixels}: norm 1"))
    return [*factors, head]


def _scaling(scale, count: int) -> Factor:
    std = scale.std if isinstance(scale, Standardization) else scale
    if isinstance(std, torch.Tensor):
        std = std.detach().cpu().double()
    values = np.asarray(std, dtype=np.float64).reshape(-1)
    if values.size != count or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ResodeError(
            f"scale must give {count} positive σ (one per input feature or channel), "
            f"got {values.size} values"
        )
    return Factor("input scaling", bounded(1 / values.min()), "max 1/σ of z = (x − μ)/σ")


def _connector_factor(connector, s: float, index: int) -> Factor:
    value = s * _matrix_norm(used_weight(connector.conv).flatten(1))
    how = "s‖W‖₂ (1×1)"
    if connector.pool:
        pooling = 0.5 if connector.spatial_dims == 2 else math.sqrt(0.5)
        pooling *= connector.pool_gain
        value *= pooling
        how += f", average pooling ×{connector.pool_gain:g} has norm {pooling:g}"
    return Factor(f"connector {index}", value, how)


# ---- certified radii ----------------------------------------------------------------------


def certified_radii(logits: torch.Tensor, labels: torch.Tensor, lipschitz: float):
    """The certified L2 radius of each example, shape (count,): r = m / (√2 L) with the
    margin m = z_y − max_{j≠y} z_j, 0 where the example is misclassified (m ≤ 0).

    Why √2: each difference z_y − z_j = (e_y − e_j)ᵀ z is a linear read-out of norm
    ‖e_y − e_j‖ = √2 of a map with Lipschitz constant L, so it moves by at most √2 L‖δ‖
    when x moves by δ; for ‖δ‖ < r no class can overtake y (at ‖δ‖ = r at most a tie).
    """
    margin = margins(logits, labels)
    radius = margin / (math.sqrt(2) * lipschitz) if lipschitz > 0 else torch.inf
    return torch.where(margin > 0, radius, torch.zeros_like(margin))


def margins(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """m = z_y − max_{j≠y} z_j per example, shape (count,): > 0 where y wins outright."""
    true = logits.gather(1, labels.view(-1, 1)).squeeze(1)
    others = logits.scatter(1, labels.view(-1, 1), -math.inf)
    return true - others.amax(dim=1)


@dataclass(frozen=True)
class CertifiedAccuracy:
    """Per radius ε, the share of examples classified correctly with radius ≥ ε (``accuracy``);
    ``radii`` per example (0 where misclassified), from the Lipschitz bound ``lipschitz``."""

    eps: tuple[float, ...]
    accuracy: tuple[float, ...]
    radii: torch.Tensor
    lipschitz: float

    def to_dict(self) -> dict:
        return {
            "lipschitz": self.lipschitz,
            "certified_accuracy": {f"{e:g}": a for e, a in zip(self.eps, self.accuracy)},
            "radius_median": float(self.radii.median()) if len(self.radii) else 0.0,
        }


def certified_accuracy(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    eps_list: Sequence[float],
    bound: LipschitzBound | None = None,
    batch_size: int = 512,
) -> CertifiedAccuracy:
    """Certified accuracy of a classifier at each radius of ``eps_list`` on the examples x
    (as the model takes them), labels y (count,). ``bound``: from :func:`lipschitz_bound` for
    inputs of x's shape (computed here when None); with a ``scale`` its radii are in the
    user's units. Logits are computed in float64 on a copy in evaluation mode."""
    check_tensor(x, "x")
    if not isinstance(y, torch.Tensor) or y.shape != x.shape[:1] or y.is_floating_point():
        raise ResodeError(f"y must hold one integer label per example of x, got {y!r:.60}")
    eps = tuple(float(e) for e in eps_list)
    if not eps or any(not math.isfinite(e) or e < 0 for e in eps):
        raise ResodeError(f"eps_list must hold radii ≥ 0, got {list(eps_list)}")
    bound = lipschitz_bound(model, tuple(x.shape[1:])) if bound is None else bound
    if tuple(bound.input_shape) != tuple(x.shape[1:]):
        raise ResodeError(
            f"the bound holds for inputs of shape {tuple(bound.input_shape)}, "
            f"x has {tuple(x.shape[1:])} per example"
        )
    analysed = copy.deepcopy(model).double().eval()
    device = next(analysed.parameters()).device
    with torch.no_grad():
        logits = in_chunks(analysed, x.detach().to(device, torch.float64), batch_size)
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ResodeError("certified accuracy needs class scores (at least two classes)")
    labels = y.to(device).long()
    radii = certified_radii(logits, labels, bound.value).cpu()
    correct = margins(logits, labels).cpu() > 0
    accuracy = tuple(float((correct & (radii >= e)).double().mean()) for e in eps)
    return CertifiedAccuracy(eps, accuracy, radii, bound.value)
