"""Loss landscapes of trained networks (Li et al. 2018, *Visualizing the loss landscape*).

- Plane: E(θ + a·d₁ + b·d₂) on a grid of (a, b) ∈ [−span, span]², d₁, d₂ random Gaussian
  directions with *filter normalization*: every filter d_f (a row of a dense K, an output
  filter of a convolution, per time slice for weights on a time grid) is rescaled to
  d_f ← d_f ‖θ_f‖ / ‖d_f‖; one-dimensional parameters (biases, normalization) get d = 0.
- Segment: E((1 − α) θ_A + α θ_B) between two runs of one architecture, α past both ends.
- Roughness: the share of strict local minima among the plane's interior grid points, and
  the extreme Hessian eigenvalues λ_max, λ_min at θ (power iteration on Hessian-vector
  products); |λ_min / λ_max| ≈ 0 is locally convex, larger is more non-convex.

The grid is evaluated one parameter set per forward pass with ``torch.func.functional_call``
on the whole split (in chunks of examples); this is compute-bound, so stacking parameter
sets under ``vmap`` was measured to gain nothing here (see :func:`plane`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.func import functional_call

from ..data import Dataset
from ..errors import ResodeError, check_int, check_positive
from ..model.timegrid import TimeParameter
from ..tasks import get_task

Parameters = dict[str, torch.Tensor]

SEGMENT_EXTENSION = 0.25
"""How far the segment goes past each run, as a share of the distance between them."""


def _filter_dims(name: str, value: torch.Tensor, time_grids: set[str]) -> int | None:
    """Leading dims that index filters (1; 2 for a time grid's (G, out, …)); None: no direction."""
    leading = 2 if name in time_grids else 1
    return leading if value.dim() > leading else None


def filter_normalized_direction(model: nn.Module, generator: torch.Generator) -> Parameters:
    """A Gaussian direction d with ‖d_f‖ = ‖θ_f‖ for every filter f; zero for 1-D parameters.

    A filter is ``p[i]`` of a weight ``p`` (dense row, conv output filter) and ``p[g, i]`` of
    the values of a :class:`TimeParameter` (time slice g, row or output filter i).
    """
    time_grids = {
        f"{name}.values" if name else "values"
        for name, module in model.named_modules()
        if isinstance(module, TimeParameter)
    }
    direction = {}
    for name, value in model.named_parameters():
        value = value.detach()
        leading = _filter_dims(name, value, time_grids)
        if leading is None:
            direction[name] = torch.zeros_like(value)
            continue
        noise = torch.randn(value.shape, generator=generator, dtype=value.dtype)
        noise = noise.to(value.device)
        rows = value.flatten(leading).norm(dim=-1) / noise.flatten(leading).norm(dim=-1)
        direction[name] = noise * rows.reshape(*rows.shape, *[1] * (value.dim() - leading))
    return direction


def split_loss(model: nn.Module, dataset: Dataset, split: str) -> Callable[[Parameters], float]:
    """θ ↦ E(θ): the task loss of ``model`` with parameters θ on a split (no gradients)."""
    task = get_task(dataset.task)
    x, y = dataset.split(split)
    if not len(x):
        raise ResodeError(f"the {split} split of {dataset.name} is empty")
    chunk = max(1, min(4096, 2**22 // max(1, x[0].numel() * 64)))
    parts = list(zip(x.split(chunk), y.split(chunk)))
    buffers = dict(model.named_buffers())

    @torch.no_grad()
    def loss(parameters: Parameters) -> float:
        total = 0.0
        for xs, ys in parts:
            output = functional_call(model, {**parameters, **buffers}, (xs,))
            total += float(task.loss(output, ys).double()) * len(xs)
        return total / len(x)

    return loss


def _evaluate(loss: Callable[[Parameters], float], points: Iterable[Parameters]) -> torch.Tensor:
    return torch.tensor([loss(point) for point in points], dtype=torch.float64)


def _centre(model: nn.Module) -> Parameters:
    return {name: value.detach() for name, value in model.named_parameters()}


def plane(
    model: nn.Module,
    dataset: Dataset,
    split: str = "test",
    grid: int = 41,
    span: float = 1.0,
    seed: int = 0,
    hessian_iterations: int = 20,
) -> dict:
    """E(θ + a d₁ + b d₂) on ``grid`` × ``grid`` points of [−span, span]², with roughness.

    ``values[i][j]`` is at (a, b) = (``alpha[j]``, ``beta[i]``); the centre is θ exactly.
    """
    grid, span = check_grid(grid), check_positive("span", span)
    generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    d1 = filter_normalized_direction(model, generator)
    d2 = filter_normalized_direction(model, generator)
    theta, loss = _centre(model), split_loss(model, dataset, split)
    axis = torch.linspace(-span, span, grid, dtype=torch.float64)
    if grid % 2:
        axis[grid // 2] = 0.0  # the centre is θ itself
    started = time.perf_counter()
    points = (
        {k: v + float(a) * d1[k] + float(b) * d2[k] for k, v in theta.items()}
        for b in axis
        for a in axis
    )
    values = _evaluate(loss, points).reshape(grid, grid)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    hessian = hessian_extremes(model, dataset, split, hessian_iterations, seed)
    return {
        "kind": "plane",
        "split": split,
        "seed": seed,
        "span": span,
        "alpha": axis.tolist(),
        "beta": axis.tolist(),
        "values": values.tolist(),
        "centre_loss": loss(theta),
        "roughness": {**strict_minima(values), "hessian": hessian},
        "seconds": {"grid": seconds, "hessian": time.perf_counter() - started},
    }


def segment(
    model_a: nn.Module, model_b: nn.Module, dataset: Dataset, split: str = "test", grid: int = 41
) -> dict:
    """E((1 − α) θ_A + α θ_B): ``grid`` points on [0, 1], the same spacing a quarter (at least
    one point) past both ends; ``barrier`` = max over [0, 1] of E(α) − ((1 − α) E(0) + α E(1))."""
    grid = check_grid(grid)
    extra = max(1, round(SEGMENT_EXTENSION * (grid - 1)))
    steps = torch.arange(-extra, grid + extra, dtype=torch.float64)
    alpha = steps / (grid - 1)  # exactly 0 and 1 at the runs
    theta_a, theta_b = _centre(model_a), _centre(model_b)
    loss = split_loss(model_a, dataset, split)
    started = time.perf_counter()
    points = (
        {k: (1 - float(t)) * theta_a[k] + float(t) * theta_b[k] for k in theta_a} for t in alpha
    )
    values = _evaluate(loss, points)
    inside = (alpha >= 0) & (alpha <= 1)
    ends = values[extra], values[extra + grid - 1]
    chord = (1 - alpha) * ends[0] + alpha * ends[1]
    return {
        "kind": "segment",
        "split": split,
        "alpha": alpha.tolist(),
        "values": values.tolist(),
        "ends": [float(ends[0]), float(ends[1])],
        "roughness": {"barrier": float((values - chord)[inside].max())},
        "seconds": {"grid": time.perf_counter() - started},
    }


def check_grid(grid: object) -> int:
    value = check_int("grid", grid)
    if value < 3:
        raise ResodeError(f"grid must have at least 3 points per axis, got {value}")
    return value


def strict_minima(values: torch.Tensor) -> dict:
    """Interior grid points strictly below all 8 neighbours: their count and share."""
    inner = values[1:-1, 1:-1]
    rows, cols = values.shape
    lower = torch.ones_like(inner, dtype=torch.bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                lower &= inner < values[1 + di : rows - 1 + di, 1 + dj : cols - 1 + dj]
    count = int(lower.sum())
    return {"strict_minima": count, "strict_minima_share": count / inner.numel()}


def hessian_extremes(
    model: nn.Module,
    dataset: Dataset,
    split: str = "test",
    iterations: int = 20,
    seed: int = 0,
    samples: int = 2048,
) -> dict:
    """λ_max, λ_min of ∇²E(θ) on up to ``samples`` examples of a split, by power iteration on
    H v (then on H − λ₁ I for the other end of the spectrum), and |λ_min / λ_max|."""
    task = get_task(dataset.task)
    x, y = (part[:samples] for part in dataset.split(split))
    parameters = [p for p in model.parameters() if p.requires_grad]
    with torch.enable_grad():
        gradient = torch.autograd.grad(task.loss(model(x), y), parameters, create_graph=True)

    def hvp(vector: list[torch.Tensor]) -> list[torch.Tensor]:
        with torch.enable_grad():
            return torch.autograd.grad(
                gradient, parameters, vector, retain_graph=True, materialize_grads=True
            )

    generator = torch.Generator().manual_seed(seed)
    first = _power_iteration(hvp, parameters, iterations, generator, shift=0.0)
    other = first + _power_iteration(hvp, parameters, iterations, generator, shift=first)
    high, low = max(first, other), min(first, other)
    return {"max": high, "min": low, "ratio": abs(low / high) if high else float("inf")}


def _power_iteration(hvp, parameters, iterations, generator, shift: float) -> float:
    """The eigenvalue of largest modulus of H − shift·I (its Rayleigh quotient)."""
    vector = [
        torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device) for p in parameters
    ]
    value = 0.0
    for _ in range(iterations):
        norm = torch.sqrt(sum(v.square().sum() for v in vector))
        vector = [v / norm for v in vector]
        product = [hv - shift * v for hv, v in zip(hvp(vector), vector)]
        value = float(sum((hv * v).sum() for hv, v in zip(product, vector)))
        vector = [hv.detach() for hv in product]
    return value
