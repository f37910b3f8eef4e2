"""Optimizers against wall-clock time: Adam, SGD and Gauss–Newton, each with and without VarPro.

For peaks (classification) and peaks-regression, the same network (width 16, N = 8,
antisymmetric RK4, T = 4) is trained by each optimizer for a fixed time budget per run and
several seeds. Per run the history gives the validation metric after every epoch and the
cumulative training time; the table reports, per optimizer, the median time until the
validation metric first reaches the target (peaks accuracy ≥ 0.97, R² ≥ 0.99; "—" when a seed
never does), how many seeds reached it, and the median final test metric.

    python benchmarks/optimizers.py [--budget SECONDS] [--seeds 0,1] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile

from resode.training.config import TrainConfig
from resode.training.loop import train

NETWORK = dict(width=16, steps=8, T=4.0, dynamics="antisymmetric", integrator="rk4")
TASKS = {
    "peaks": dict(metric="accuracy", target=0.97),
    "peaks-regression": dict(metric="r2", target=0.99),
}
OPTIMIZERS = {
    "adam": dict(optimizer="adam", lr=0.01, batch_size=128),
    "sgd": dict(optimizer="sgd", lr=0.05, momentum=0.9, batch_size=128),
    "gauss-newton": dict(optimizer="gauss-newton", batch_size=1000, cg_iterations=10),
}


def run(data: str, optimizer: str, varpro: bool, seed: int, budget: float) -> dict:
    """One training run limited to ``budget`` seconds; its curve and final test metric."""
    task = TASKS[data]
    config = TrainConfig(
        data=data,
        **NETWORK,
        **OPTIMIZERS[optimizer],
        varpro=varpro,
        seed=seed,
        epochs=1000,
        max_seconds=budget,
        schedule="constant",
        device="cpu",
    )
    with tempfile.TemporaryDirectory() as out:
        metrics = train(config, out, progress=False)
    elapsed, curve = 0.0, []
    for row in metrics["history"]:
        elapsed += row["seconds"]
        curve.append((elapsed, row[f"val_{task['metric']}"]))
    reached = next((t for t, value in curve if value >= task["target"]), None)
    return {
        "data": data,
        "optimizer": optimizer + (" + varpro" if varpro else ""),
        "seed": seed,
        "epochs": len(curve),
        "seconds_to_target": reached,
        "test": metrics[f"test_{task['metric']}"],
        "curve": curve,
    }


def summarize(rows: list[dict]) -> list[dict]:
    table = []
    for data, task in TASKS.items():
        for name in dict.fromkeys(r["optimizer"] for r in rows):
            runs = [r for r in rows if r["data"] == data and r["optimizer"] == name]
            if not runs:
                continue
            times = [r["seconds_to_target"] for r in runs if r["seconds_to_target"] is not None]
            table.append(
                {
                    "data": data,
                    "optimizer": name,
                    "target": f"val {task['metric']} ≥ {task['target']}",
                    "reached": f"{len(times)}/{len(runs)}",
                    "median_seconds": statistics.median(times) if times else None,
                    "median_epochs": statistics.median(r["epochs"] for r in runs),
                    "median_test": statistics.median(r["test"] for r in runs),
                }
            )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    parser.add_argument("--json", help="also write every run (with its curve) to this file")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for data in TASKS:
        for optimizer in OPTIMIZERS:
            for varpro in (False, True):
                for seed in seeds:
                    rows.append(run(data, optimizer, varpro, seed, args.budget))
    print(f"budget {args.budget:g} s per run, seeds {args.seeds}, network {NETWORK}")
    print("| data | optimizer | target | reached | median s to target | epochs | median test |")
    print("|---|---|---|---|---|---|---|")
    for row in summarize(rows):
        seconds = "—" if row["median_seconds"] is None else f"{row['median_seconds']:.1f}"
        print(
            f"| {row['data']} | {row['optimizer']} | {row['target']} | {row['reached']} | "
            f"{seconds} | {row['median_epochs']:g} | {row['median_test']:.4f} |"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
