"""Refusing a run whose network cannot fit in memory, before anything is allocated.

The network is built on PyTorch's ``meta`` device (shapes without storage), which counts its
weights W exactly. Training keeps at least the weights and their gradients (2 W numbers;
Adam keeps 2 W more, SGD with momentum W), and a batch of B examples keeps at least one state
per step of the first ODE unit for the backward pass: B·n·N numbers with the memory mode
``store``, B·n·2√N with ``checkpoint``, B·n with ``reversible`` and ``adjoint`` (n: the
numbers in one example's state). These are lower bounds, so a refusal is certain: the run
would fail (or swap) anyway; what passes may still need more.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..errors import ResodeError
from .config import DTYPES, TrainConfig
from .factory import build_model

OPTIMIZER_COPIES = {"adam": 2, "sgd": 1, "gauss-newton": 2}
"""Numbers per weight an optimizer keeps besides the weight and its gradient (at least)."""
GIB = 2**30


def available_bytes(device: torch.device) -> int | None:
    """Memory a run can still take on ``device``: free GPU memory, or on a CPU the smaller of
    Linux's MemAvailable and the cgroup's limit; None where unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            found.append(int(text))
    return min(found) if found else None


def least_bytes(config: TrainConfig, info: dict) -> tuple[int, int]:
    """(weights, activations): lower bounds of the bytes training the network needs."""
    with torch.device("meta"):
        model = build_model(config, info)
    state = _first_state(config, info)
    size = torch.empty((), dtype=DTYPES[config.dtype], device="meta").element_size()
    weights = sum(p.numel() for p in model.parameters())
    copies = 2 + OPTIMIZER_COPIES.get(config.optimizer, 0)
    steps = _first_unit_steps(config)
    kept = {"store": steps, "checkpoint": 2 * math.isqrt(steps) + 1}.get(config.memory, 1)
    return weights * copies * size, config.batch_size * state * kept * size


def check_fits(config: TrainConfig, info: dict, device: torch.device) -> None:
    """Refuse, in one line, a network that cannot fit in the memory ``device`` has left."""
    available = available_bytes(device)
    if available is None:
        return
    weights, activations = least_bytes(config, info)
    if weights + activations <= available:
        return
    raise ResodeError(
        f"the network cannot fit in memory: training it needs at least "
        f"{(weights + activations) / GIB:.1f} GiB ({weights / GIB:.1f} GiB for weights, "
        f"gradients and optimizer state, {activations / GIB:.1f} GiB for a batch's states) "
        f"and {device.type} has {available / GIB:.1f} GiB available; lower --steps, --width "
        "(--widths), --grid or --batch-size, or use --memory checkpoint"
    )


def _first_state(config: TrainConfig, info: dict) -> int:
    """Numbers in one example's state in the first ODE unit: the width for vectors, the first
    unit's channels times the input's pixels (or samples) for images (signals)."""
    if info["kind"] == "vector":
        return config.width
    return config.unit_widths()[0] * math.prod(info["input_shape"][1:])


def _first_unit_steps(config: TrainConfig) -> int:
    steps = config.levels()[-1]
    return steps[0] if isinstance(steps, list) else steps
