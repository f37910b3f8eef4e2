"""Accuracy benchmarks of the learning tasks: one seeded training run per entry.

Prints, per entry, the task metric on the test split, the wall-clock time and the target;
writes the table as JSON with ``--json``. Entries (all on CPU, seed 0):

    digits            2-D conv, classification          target test accuracy ≥ 0.985 in < 180 s
    mnist1d           1-D conv, classification          target test accuracy ≥ 0.95  in < 600 s
    shapes            2-D conv U-shaped, segmentation   target test mIoU ≥ 0.90
    bars-stable       antisymmetric + RK4, segmentation report mIoU ...
    bars-standard     standard + forward Euler          ... at equal depth
    peaks-regression  dense, regression                 target test R² ≥ 0.99
    diabetes          dense, regression                 R² next to a ridge baseline (same split)

    python benchmarks/tasks.py [NAME ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from resode.data import load_dataset
from resode.training.config import TrainConfig
from resode.training.loop import train

BARS = dict(data="bars", widths=[16], steps=8, T=8.0, epochs=12, batch_size=32, lr=0.005)
ENTRIES: dict[str, dict] = {
    "digits": dict(
        config=dict(
            data="digits", widths=[16, 32], steps=4, T=2.0, epochs=40, batch_size=64, lr=0.005
        ),
        metric="test_accuracy",
        target=0.985,
        budget=180,
    ),
    "mnist1d": dict(
        config=dict(
            data="mnist1d",
            widths=[32, 64],
            steps=4,
            T=2.0,
            epochs=60,
            batch_size=64,
            lr=0.005,
            kernel_size=5,
        ),
        metric="test_accuracy",
        target=0.95,
        budget=600,
    ),
    "shapes": dict(
        config=dict(
            data="shapes",
            widths=[16, 32, 64],
            steps=4,
            T=2.0,
            epochs=10,
            batch_size=32,
            lr=0.005,
            dynamics="standard",
            activation="relu",
            norm="batch",
        ),
        metric="test_miou",
        target=0.90,
    ),
    "bars-stable": dict(
        config=dict(BARS, dynamics="antisymmetric", integrator="rk4"), metric="test_miou"
    ),
    "bars-standard": dict(
        config=dict(BARS, dynamics="standard", integrator="euler"), metric="test_miou"
    ),
    "peaks-regression": dict(
        config=dict(
            data="peaks-regression", width=32, steps=8, T=4.0, epochs=60, batch_size=64, lr=0.005
        ),
        metric="test_r2",
        target=0.99,
    ),
    "diabetes": dict(
        config=dict(
            data="diabetes",
            width=16,
            steps=4,
            T=1.0,
            epochs=100,
            batch_size=32,
            lr=0.003,
            weight_decay=1e-3,
        ),
        metric="test_r2",
    ),
}


def ridge_baseline(seed: int = 0) -> float:
    """Test R² of scikit-learn's RidgeCV on the same diabetes split and standardization."""
    from sklearn.linear_model import RidgeCV

    data = load_dataset("diabetes", seed=seed)
    model = RidgeCV(alphas=[0.01, 0.1, 1.0, 10.0, 100.0]).fit(
        data.x_train.numpy(), data.y_train.numpy().ravel()
    )
    return float(model.score(data.x_test.numpy(), data.y_test.numpy().ravel()))


def run(name: str) -> dict:
    entry = ENTRIES[name]
    config = TrainConfig(**entry["config"], device="cpu")
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        metrics = train(config, out, progress=False)
        seconds = time.perf_counter() - started
    row = {
        "name": name,
        "metric": entry["metric"],
        "value": metrics[entry["metric"]],
        "seconds": seconds,
        "config": config.to_dict(),
    }
    if "target" in entry:
        row["target"] = entry["target"]
        row["met"] = row["value"] >= entry["target"] and seconds <= entry.get("budget", 1e9)
    if name == "diabetes":
        row["ridge_r2"] = ridge_baseline(config.seed)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"entries (default: all): {', '.join(ENTRIES)}")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(ENTRIES))
    if unknown:
        parser.error(f"unknown entries {', '.join(unknown)}; choose from {', '.join(ENTRIES)}")
    rows = []
    for name in args.names or list(ENTRIES):
        row = run(name)
        rows.append(row)
        extra = f"  ridge R² {row['ridge_r2']:.4f}" if "ridge_r2" in row else ""
        target = f"  target {row['target']}" if "target" in row else ""
        met = {True: "  met", False: "  NOT met"}.get(row.get("met"), "")
        print(
            f"{name:17} {row['metric']:14} {row['value']:.4f}  {row['seconds']:7.1f} s"
            f"{target}{met}{extra}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
