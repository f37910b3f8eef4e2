"""Normalization in the image recipes: each recipe with norm none, batch and group, and the
depth change of each.

For every recipe named (default: shapes and digits) and every norm, one run with the recipe's
settings (seed 0) and that norm: its test metric, training seconds and how far one example
alone moves from the same example predicted inside the test batch (it is 0 up to rounding
when the network maps each example on its own). The runs of the recipe given with
``--depths`` are evaluated at N′ = N/2 … 4N steps (the same θ(t) and, for batch normalization,
running statistics μ(t), σ²(t), read at the new stage times).

    python benchmarks/normalization.py [RECIPE ...] [--norms none,batch,group]
        [--depths digits] [--steps N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from resode.runs import evaluate_run, load_run
from resode.training.config import TrainConfig
from resode.training.loop import train
from resode.training.recipes import recipes


def alone_vs_batch(run: str, examples: int = 64) -> float:
    """max |p(one example alone) − p(it inside the batch)| over the first test examples."""
    model, dataset = load_run(run)
    x = dataset.x_test[:examples]
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(len(x))])
    return float((together - alone).abs().max())


def measure(recipe: str, norm: str, out: str, steps: int | None = None) -> dict:
    settings = {**recipes()[recipe].settings, "norm": norm, "seed": 0}
    if steps is not None:
        settings["steps"] = steps
    started = time.perf_counter()
    train(TrainConfig(**settings, device="cpu"), out, progress=False)
    seconds = time.perf_counter() - started
    (result,) = evaluate_run(out)
    metric = recipes()[recipe].measured["metric"]
    return {"recipe": recipe, "norm": norm, "metric": metric, "value": result[metric],
            "seconds": round(seconds, 1), "alone_vs_batch": alone_vs_batch(out)}  # fmt: skip


def depths(run: str, steps: int) -> dict[int, float]:
    counts = sorted({max(1, steps // 2), steps, 2 * steps, 4 * steps})
    return {n: r["test_accuracy"] for n, r in zip(counts, evaluate_run(run, steps=counts))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", default=["shapes", "digits"])
    parser.add_argument("--norms", default="none,batch,group")
    parser.add_argument("--depths", default="digits", help="recipe whose batch-norm run to deepen")
    parser.add_argument("--steps", type=int, default=None, help="N instead of the recipe's")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in args.recipes:
            for norm in args.norms.split(","):
                out = f"{tmp}/{recipe}-{norm}"
                row = measure(recipe, norm, out, args.steps)
                rows.append(row)
                print(f"{recipe:8s} norm {norm:6s} {row['metric']} {row['value']:.4f} in "
                      f"{row['seconds']:.0f} s; alone vs batch {row['alone_vs_batch']:.1e}",
                      flush=True)  # fmt: skip
                if recipe == args.depths:
                    steps = args.steps or recipes()[recipe].settings["steps"]
                    row["depths"] = depths(out, steps)
                    cells = ", ".join(f"N′ = {n}: {a:.4f}" for n, a in row["depths"].items())
                    print(f"{recipe} norm {norm}, trained at N = {steps}: {cells}", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
