"""Speed of ``resode robustness`` on the digits test split: PGD-20 in L∞ at three radii.

Trains the digits recipe (or uses ``--run DIR``), then times `robustness_of_run` with one
attack (``pgd``, 20 steps, one start) at the radii 0, 0.01, 0.03, 0.1, and, as the baseline
measured in the same process, the bare cost of what the attack must at least do: 20 forward
and backward passes of the network over the 3 × 360 attacked rows (the clean pass aside).
Prints seconds and the ratio (the attack's bookkeeping, the certificate and the figure on
top of the bare passes).

    python benchmarks/robustness.py [--run DIR] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from resode.runs import load_run
from resode.runs.robustness import robustness_of_run
from resode.training.config import TrainConfig
from resode.training.loop import train
from resode.training.recipes import recipe

RADII = [0.0, 0.01, 0.03, 0.1]


def bare_passes(model, x: torch.Tensor, y: torch.Tensor, steps: int = 20) -> float:
    """Seconds of ``steps`` forward and backward passes w.r.t. the input on x."""
    started = time.perf_counter()
    for part, labels in zip(x.split(1080), y.split(1080)):
        delta = torch.zeros_like(part, requires_grad=True)
        for _ in range(steps):
            loss = F.cross_entropy(model(part + delta), labels)
            (gradient,) = torch.autograd.grad(loss, delta)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a trained digits run (default: train one)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    workspace = tempfile.TemporaryDirectory()
    run = args.run
    if run is None:
        run = Path(workspace.name) / "digits"
        config = TrainConfig(**{**recipe("digits").settings, "device": "cpu"})
        train(config, run, progress=False)
    started = time.perf_counter()
    report = robustness_of_run(run, eps=RADII, norm="linf", attacks=["pgd"])
    seconds = time.perf_counter() - started
    model, dataset = load_run(run)
    model.requires_grad_(False)
    rows = len(RADII) - 1
    x = dataset.x_test.repeat(rows, 1, 1, 1)
    y = dataset.y_test.repeat(rows)
    bare = bare_passes(model, x, y)
    accuracy = ", ".join(f"{a:.4f}" for a in report["attacks"][0]["accuracy"])
    print(f"resode robustness, PGD-20 L∞ at {RADII[1:]} on {report['examples']} test images")
    print(f"  accuracy at ε = {RADII}: {accuracy}")
    print(f"  {seconds:.1f} s in all ({report['attack_seconds']:.1f} s attacking)")
    print(f"  bare 20 forward+backward passes over {len(x)} rows: {bare:.1f} s")
    print(f"  ratio robustness / bare passes: {seconds / bare:.2f}")


if __name__ == "__main__":
    main()
