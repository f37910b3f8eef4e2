"""Tables: resode against a linear model and a tree ensemble, 5-fold cross-validation.

The tables are those that ship with scikit-learn (wine, breast cancer, iris, diabetes, read
with ``as_frame=True`` and written to CSV as a user would have them) and two of the project's
own (the 2-D ``peaks`` and ``circles`` points as CSV). Each is trained exactly as
``resode train --data csv:FILE --target COLUMN --folds 5`` would (the settings resode picks
for a user's table, the same folds for every model); the baselines are scikit-learn's
logistic (ridge) regression and histogram gradient boosting, fitted on the same training
rows with the same encoding. Prints a Markdown table: the test metric, mean ± sample standard
deviation over the folds, the seconds per fit, and whether resode holds the must-hold line
(its mean ≥ the linear baseline's mean − one standard deviation).

    python benchmarks/tables.py [NAME ...] [--folds 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

TABLES = ("wine", "breast-cancer", "iris", "diabetes", "peaks", "circles")


def write_table(name: str, folder: Path) -> tuple[Path, str]:
    """The CSV of table ``name`` in ``folder`` and its target column."""
    import pandas as pd
    from sklearn import datasets

    loaders = {
        "wine": datasets.load_wine,
        "breast-cancer": datasets.load_breast_cancer,
        "iris": datasets.load_iris,
    }
    if name in loaders:
        frame = loaders[name](as_frame=True).frame
    elif name == "diabetes":
        frame = datasets.load_diabetes(as_frame=True, scaled=False).frame
    else:
        from resode.data import load_dataset

        data = load_dataset(name, seed=0, sizes=(600, 1, 1))
        x, y = data.x_train.numpy(), data.y_train.numpy()
        frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "target": y})
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path, "target"


def measure(name: str, folds: int, folder: Path) -> dict:
    """5-fold results of resode and the baselines on table ``name``."""
    from resode.runs.folds import train_folds
    from resode.training.recipes import compose_config

    path, target = write_table(name, folder)
    config = compose_config({"data": f"csv:{path}", "target": target, "folds": folds}, None, None)
    start = time.perf_counter()
    document = train_folds(config, folder / name, progress=False)
    seconds = time.perf_counter() - start
    rows = len(np.loadtxt(path, delimiter=",", skiprows=1, usecols=0))
    return {"table": name, "rows": rows, "seconds": seconds, "summary": document["summary"]}


def _cell(summary: dict, metric: str) -> str:
    entry = summary.get(metric)
    if entry is None:
        return "—"
    return f"{entry['mean']:.3f} ± {entry['std']:.3f}"


def markdown(results: list[dict]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| table | rows | metric | resode | logistic / ridge | gradient boosting "
        "| s per fit (resode / linear / trees) | resode ≥ linear − std |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        summary = result["summary"]
        linear = "logistic" if "logistic" in summary else "ridge"
        metric = "test_accuracy" if "test_accuracy" in summary["resode"] else "test_r2"
        ours, theirs = summary["resode"][metric], summary[linear][metric]
        holds = ours["mean"] >= theirs["mean"] - theirs["std"]
        trees = summary["gradient_boosting"][metric]["mean"]
        verdict = "yes" if holds else "**no**"
        verdict += " (trees better)" if round(trees, 3) > round(ours["mean"], 3) else ""
        times = " / ".join(
            f"{summary[m]['seconds']['mean']:.2f}" for m in ("resode", linear, "gradient_boosting")
        )
        lines.append(
            f"| {result['table']} | {result['rows']} | {metric.removeprefix('test_')} "
            f"| {_cell(summary['resode'], metric)} | {_cell(summary[linear], metric)} "
            f"| {_cell(summary['gradient_boosting'], metric)} | {times} | {verdict} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"tables (default all): {', '.join(TABLES)}")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(TABLES))
    if unknown:
        parser.error(f"unknown tables {', '.join(unknown)}; choose from {', '.join(TABLES)}")
    args.names = args.names or list(TABLES)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.names:
            results.append(measure(name, args.folds, Path(folder)))
            print(f"{name}: {results[-1]['seconds']:.1f} s", flush=True)
            if args.json is not None:
                args.json.write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
