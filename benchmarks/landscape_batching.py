"""Evaluating many parameter sets: one ``functional_call`` per set vs ``vmap`` over stacks.

    python benchmarks/landscape_batching.py RUN_DIR [--sets 64] [--repeats 3]

Times the test loss of ``sets`` copies of a run's parameters both ways (the ODEBlock's
finiteness check is data-dependent control flow that ``vmap`` refuses, so it is switched off
for the batched way only) and prints seconds per parameter set.
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import torch
from torch.func import functional_call, vmap

from resode.runs import load_run
from resode.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--sets", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model, dataset = load_run(args.run)
    task, (x, y) = get_task(dataset.task), dataset.split("test")
    theta = {name: value.detach() for name, value in model.named_parameters()}

    def loss(parameters):
        return task.loss(functional_call(model, parameters, (x,)), y)

    stacked = {k: v.expand(args.sets, *v.shape).clone() for k, v in theta.items()}
    for _ in range(args.repeats):
        with torch.no_grad():
            started = time.perf_counter()
            looped = torch.stack([loss(theta) for _ in range(args.sets)])
            loop_time = time.perf_counter() - started
            with mock.patch("resode.model.block.check_tensor", lambda value, *a, **k: value):
                started = time.perf_counter()
                batched = vmap(loss)(stacked)
                vmap_time = time.perf_counter() - started
        assert torch.allclose(looped, batched, rtol=1e-5)
        print(
            f"{args.sets} sets, {len(x)} examples: loop {loop_time / args.sets * 1e3:.2f} ms/set, "
            f"vmap {vmap_time / args.sets * 1e3:.2f} ms/set"
        )


if __name__ == "__main__":
    main()
