"""The landscape experiment's hand-written Euler loop against the library's step loop.

    python benchmarks/landscape_loop.py [--grid 101] [--rounds 20]

Times the experiment's forward passes (N = 5 and N = 100 on grid² parameter sets θ, 40
examples of width 3, float64) three ways, alternated round by round:

- ``hand``: :func:`resode.experiments.landscape.landscape_forward`, in-place updates;
- ``library``: the same field f(Y; K) = tanh(Y Kᵀ) stepped by forward Euler through
  :meth:`~resode.integrators.base.Integrator.iterate` (a new slope and state each step);
- ``library_buffer``: as ``library``, the field writing its slope into one reused buffer
  (safe for forward Euler's single stage only).

Checks that all three give bit-identical states and prints seconds and the median ratio
of each to ``hand``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from resode.experiments import landscape
from resode.integrators import get_integrator

EULER = get_integrator("euler")


def _start(thetas: torch.Tensor, y0: torch.Tensor, T: float, steps: int):
    kernels_t = landscape.landscape_kernels(thetas).transpose(1, 2).contiguous()
    return kernels_t, T / steps, y0.expand(thetas.shape[0], *y0.shape).clone()


def library(thetas: torch.Tensor, y0: torch.Tensor, T: float, steps: int) -> torch.Tensor:
    kernels_t, h, y = _start(thetas, y0, T, steps)
    with torch.no_grad():
        return EULER.solve(lambda s, k: torch.bmm(s, k).tanh(), y, h, [(kernels_t,)] * steps)


def library_buffer(thetas: torch.Tensor, y0: torch.Tensor, T: float, steps: int) -> torch.Tensor:
    kernels_t, h, y = _start(thetas, y0, T, steps)
    slope = torch.empty_like(y)

    def field(state: torch.Tensor, kernel_t: torch.Tensor) -> torch.Tensor:
        return torch.bmm(state, kernel_t, out=slope).tanh_()

    with torch.no_grad():
        return EULER.solve(field, y, h, [(kernels_t,)] * steps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grid", type=int, default=101)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    shape = (2 * landscape.EXAMPLES, landscape.WIDTH)
    y0 = 0.1 * torch.randn(*shape, generator=generator, dtype=torch.float64)
    axis = torch.linspace(*landscape.THETA_RANGE, args.grid, dtype=torch.float64)
    theta2, theta1 = torch.meshgrid(axis, axis, indexing="ij")
    thetas = torch.stack([theta1.reshape(-1), theta2.reshape(-1)], dim=1)
    ways = {
        "hand": landscape.landscape_forward,
        "library": library,
        "library_buffer": library_buffer,
    }
    for steps in (5, 100):
        reference = landscape.landscape_forward(thetas, y0, landscape.T_FINAL, steps)
        for name, forward in ways.items():
            assert torch.equal(forward(thetas, y0, landscape.T_FINAL, steps), reference), name
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for round_ in range(args.rounds):
        for name in list(ways) if round_ % 2 == 0 else list(ways)[::-1]:
            started = time.perf_counter()
            for steps in (5, 100):
                ways[name](thetas, y0, landscape.T_FINAL, steps)
            seconds[name].append(time.perf_counter() - started)
    for name, values in seconds.items():
        ratio = statistics.median(a / b for a, b in zip(values, seconds["hand"]))
        print(
            f"{name:15s} median {statistics.median(values):.3f} s, min {min(values):.3f} s, "
            f"median ratio to hand {ratio:.2f}"
        )


if __name__ == "__main__":
    main()
