"""Depth transfer: train at one depth, evaluate the same θ(t) at other numbers of steps N'.

A stable dynamics with an integrator whose region holds hλ keeps its accuracy as N' grows
beyond the training depth (it converges to its ODE); an unstable pairing trained at a large
step (standard dynamics, forward Euler, h = T/N large) has learned its discretization and
degrades when the depth changes. peaks, seed 0; prints a table and writes JSON.

    python benchmarks/depth_transfer.py [--epochs 60] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from resode.runs import evaluate_run
from resode.training.config import TrainConfig
from resode.training.loop import train

DEPTHS = [2, 4, 8, 16, 32, 64, 128]
ENTRIES = {
    "antisymmetric + rk4, N = 8": dict(dynamics="antisymmetric", integrator="rk4", steps=8),
    "hamiltonian + verlet, N = 8": dict(dynamics="hamiltonian", integrator="verlet", steps=8),
    "antisymmetric + leapfrog, N = 8": dict(
        dynamics="antisymmetric", integrator="leapfrog", steps=8
    ),
    "standard + euler, N = 4 (h = 2)": dict(
        dynamics="standard", integrator="euler", steps=4, T=8.0
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in ENTRIES.items():
            settings = dict(data="peaks", epochs=args.epochs, T=4.0, seed=0)
            settings.update(options)
            start = time.perf_counter()
            train(TrainConfig(**settings), f"{tmp}/{len(rows)}", progress=False)
            seconds = time.perf_counter() - start
            results = evaluate_run(f"{tmp}/{len(rows)}", steps=DEPTHS)
            accuracy = {r["steps"]: r["test_accuracy"] for r in results}
            rows.append({"entry": name, **settings, "seconds": seconds, "accuracy": accuracy})
            cells = "  ".join(f"{accuracy[n]:.4f}" for n in DEPTHS)
            print(f"{name:34s} {cells}   ({seconds:.0f} s)", flush=True)
    print(f"{'test accuracy at N′ =':34s} " + "  ".join(f"{n:>6d}" for n in DEPTHS))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
