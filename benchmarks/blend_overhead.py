"""Cost of blending Runge–Kutta stages at weight jumps: the step as it was vs as it is now.

A default ``ODEBlock`` (antisymmetric, RK4, N = M = 8) of the given width, forward and
backward on one batch, timed with the Runge–Kutta step that passes its stage parameters
straight to the field (as before blending existed) and with today's step, which asks first
whether a stage is a ``Blend``. Both on the same block, interleaved; with M = N no stage is
a blend, so the ratio should be 1. For information also a grid M = 3 (jumps inside steps,
some stages blended: one more evaluation of f each).

    python benchmarks/blend_overhead.py [--width 32 --batch 256 --iterations 20 --rounds 30]
                                        [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from resode import ODEBlock
from resode.integrators import ExplicitRungeKutta

BEFORE = "step before blending, M = N"


class PlainStages(ExplicitRungeKutta):
    """The Runge–Kutta step without the blend check: field(stage, parameters) per stage."""

    def step(self, field, y, h, stage_parameters):
        slopes = []
        for terms, parameters in zip(self._stage_terms, stage_parameters):
            stage = y
            for j, a_ij in terms:
                stage = torch.add(stage, slopes[j], alpha=h * a_ij)
            slopes.append(field(stage, parameters))
        result = y
        for i, b_i in self._update_terms:
            result = torch.add(result, slopes[i], alpha=h * b_i)
        return result


def seconds_per_pass(block: ODEBlock, y0: torch.Tensor, iterations: int) -> float:
    started = time.perf_counter()
    for _ in range(iterations):
        block(y0).square().sum().backward()
    return (time.perf_counter() - started) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    block = ODEBlock(args.width)
    jumps = ODEBlock(args.width, block.spec, grid=3)
    y0 = torch.randn(args.batch, args.width)
    current = block.integrator
    before = PlainStages(current.tableau)
    cases = {
        BEFORE: (block, before),
        "step now, M = N": (block, current),
        "step now, M = 3 (blends)": (jumps, current),
    }
    best = dict.fromkeys(cases, float("inf"))
    ratios: dict[str, list[float]] = {label: [] for label in cases}
    labels = list(cases)
    for round_ in range(args.rounds):  # interleaved, in turns, so load hits all cases alike
        seconds = {}
        for label in labels[round_ % 3 :] + labels[: round_ % 3]:
            model, integrator = cases[label]
            model.integrator = integrator
            seconds_per_pass(model, y0, 3)  # warm up
            seconds[label] = seconds_per_pass(model, y0, args.iterations)
            best[label] = min(best[label], seconds[label])
        for label in cases:
            ratios[label].append(seconds[label] / seconds[BEFORE])
    block.integrator = current
    print(
        f"ODEBlock({args.width}) {block.spec.integrator}, N = {block.steps}, batch "
        f"{args.batch}, {args.threads} thread(s), forward + backward: best time of "
        f"{args.rounds} rounds, median of the ratios to the step before within a round"
    )
    for label, seconds in best.items():
        ratio = statistics.median(ratios[label])
        print(f"{label:30} {seconds * 1e3:8.3f} ms   ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
