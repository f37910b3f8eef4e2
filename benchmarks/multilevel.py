"""Multilevel training against direct training at the finest depth, at equal wall clock.

For each task, two runs get the same training-time budget B (``max_seconds``, the sum of
the epochs' train + validation seconds; each stops after the epoch that exceeds it):

    multilevel  --multilevel 4,8,16,32   B split evenly over the levels (time left / levels left)
    direct      --steps 32               all of B at the final depth

Both use a constant learning rate (a time-limited run would never finish a cosine schedule)
and enough epochs that the budget, not the epoch count, ends them. Entries (CPU, seed 0):

    peaks    dense ResNet, width 16, antisymmetric + RK4, T = 4
    digits   2-D ConvResNet, widths 16,32, antisymmetric + RK4, T = 2

Prints, per level, the depth, epochs, seconds and test metric, then the final test metric of
both runs; writes everything as JSON with ``--out``.

    python benchmarks/multilevel.py [peaks digits] [--budget-peaks 40 --budget-digits 90]
                                    [--levels 4,8,16,32] [--threads 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from resode.storage import write_json
from resode.training.config import TrainConfig
from resode.training.loop import train

TASKS: dict[str, dict] = {
    "peaks": dict(
        config=dict(data="peaks", width=16, T=4.0, batch_size=64, lr=0.01),
        metric="test_accuracy",
        budget=40.0,
    ),
    "digits": dict(
        config=dict(data="digits", widths=[16, 32], T=2.0, batch_size=64, lr=0.005),
        metric="test_accuracy",
        budget=90.0,
    ),
}
MANY_EPOCHS = 10_000  # per level: the time budget ends every run


def _run(config: TrainConfig) -> dict:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        metrics = train(config, out, progress=False)
    metrics["wall_seconds"] = time.perf_counter() - started  # also checkpoints and plots
    return metrics


def compare(name: str, levels: list[int], budget: float, seed: int) -> dict:
    """One task: the multilevel run and the direct run at depth levels[-1], same budget."""
    task = TASKS[name]
    common = dict(
        task["config"],
        epochs=MANY_EPOCHS,
        schedule="constant",
        max_seconds=budget,
        seed=seed,
        device="cpu",
    )
    multilevel = _run(TrainConfig(multilevel=levels, **common))
    direct = _run(TrainConfig(steps=levels[-1], **common))
    metric = task["metric"]
    return {
        "task": name,
        "metric": metric,
        "budget_seconds": budget,
        "levels": [
            {k: level[k] for k in ("steps", "epochs", "seconds", metric)}
            for level in multilevel["levels"]
        ],
        "multilevel": {
            "epochs": multilevel["epochs"],
            "seconds": multilevel["seconds"],
            "wall_seconds": multilevel["wall_seconds"],
            metric: multilevel[metric],
        },
        "direct": {
            "steps": levels[-1],
            "epochs": direct["epochs"],
            "seconds": direct["seconds"],
            "wall_seconds": direct["wall_seconds"],
            metric: direct[metric],
        },
    }


def _print(result: dict) -> None:
    metric = result["metric"]
    print(f"\n{result['task']}: budget {result['budget_seconds']:g} s of training time")
    print(f"  {'run':<12} {'N':>4} {'epochs':>7} {'seconds':>8} {metric:>14}")
    for index, level in enumerate(result["levels"]):
        label = f"level {index + 1}"
        print(
            f"  {label:<12} {level['steps']:>4} {level['epochs']:>7} "
            f"{level['seconds']:>8.1f} {level[metric]:>14.4f}"
        )
    final = result["levels"][-1]["steps"]
    for run in ("multilevel", "direct"):
        row = result[run]
        print(
            f"  {run:<12} {final:>4} {row['epochs']:>7} {row['seconds']:>8.1f} {row[metric]:>14.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", help=f"any of {', '.join(TASKS)} (default: all)")
    parser.add_argument("--levels", default="4,8,16,32", help="multilevel depths")
    for name, task in TASKS.items():
        parser.add_argument(
            f"--budget-{name}",
            type=float,
            default=task["budget"],
            help=f"training seconds per run for {name} (default: {task['budget']:g})",
        )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()
    unknown = sorted(set(args.tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown task {', '.join(unknown)}; choose from {', '.join(TASKS)}")
    torch.set_num_threads(args.threads)
    levels = [int(part) for part in args.levels.split(",")]
    results = []
    for name in args.tasks or list(TASKS):
        budget = getattr(args, f"budget_{name}")
        results.append(compare(name, levels, budget, args.seed))
        _print(results[-1])
    if args.out:
        document = {
            "threads": args.threads,
            "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()),
            "results": results,
        }
        write_json(args.out, document)
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
