"""Accuracy benchmarks of the learning tasks: one seeded training run per entry.

Prints, per entry, the task metric on the test split, the wall-clock time and the target;
writes the table as JSON with ``--json``. The entries are the shipped recipes (their settings
are read from the recipe files, whose ``[measured]`` tables record these results), plus
comparisons. Entries (all on CPU, seed 0):

    peaks, ellipses,  dense, classification          the main job's network
    spirals, circles
    digits            2-D conv, classification          target test accuracy ≥ 0.985 in < 180 s
    mnist1d           1-D conv, classification          target test accuracy ≥ 0.95  in < 600 s
    shapes            2-D conv U-shaped, segmentation   target test mIoU ≥ 0.90
    bars              antisymmetric + RK4, segmentation report mIoU ...
    bars-standard     standard + forward Euler          ... at equal depth
    peaks-regression  dense, regression                 target test R² ≥ 0.99
    diabetes          dense, regression                 R² next to a ridge baseline (same split)
    mnist, fashion-mnist, cifar10, cifar100,            only when named: they read files
    cifar10-hamiltonian, -antisymmetric, -parabolic     (the paper recipes: GPU runs)
                                                        ($RESODE_DATA_DIR, see docs/guide/data.md)

    python benchmarks/tasks.py [NAME ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from resode.data import STANDARD_SETS, dataset_task, load_dataset
from resode.runs import HEADLINE
from resode.training.config import TrainConfig
from resode.training.loop import train
from resode.training.recipes import recipes

TARGETS = {
    "digits": dict(target=0.985, budget=180),
    "mnist1d": dict(target=0.95, budget=600),
    "shapes": dict(target=0.90),
    "peaks-regression": dict(target=0.99),
}
"""Targets of the entries that have one: the test metric to reach, within ``budget`` seconds."""
COMPARISONS = {"bars-standard": ("bars", dict(dynamics="standard", integrator="euler"))}
"""Extra entries: a recipe with some settings changed, to compare with the recipe itself."""


def _entries() -> dict[str, dict]:
    """One entry per shipped recipe (its settings: the recipe file), plus the comparisons."""
    entries = {}
    for name, recipe in recipes().items():
        entries[name] = dict(config=dict(recipe.settings), recipe=name, **TARGETS.get(name, {}))
    for name, (base, changes) in COMPARISONS.items():
        entries[name] = dict(config={**recipes()[base].settings, **changes}, recipe=base)
    for entry in entries.values():
        entry["metric"] = "test_" + HEADLINE[dataset_task(entry["config"]["data"])]
    return entries


ENTRIES: dict[str, dict] = _entries()
"""The benchmark entries: the settings of each come from the recipe files in
``src/resode/training/recipes`` (one source of truth)."""


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
    default = [n for n, entry in ENTRIES.items() if entry["config"]["data"] not in STANDARD_SETS]
    for name in args.names or default:
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
