"""Cost of ``--guard B``: training time with a stability check every B batches vs none.

Same run (peaks, the main job's network, seeded) trained for a few epochs with guard off,
every 10 batches and every batch; prints seconds per epoch and the ratio to no guard.

    python benchmarks/guard_overhead.py [--epochs 5 --data peaks]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from resode.training.config import TrainConfig
from resode.training.loop import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--data", default="peaks")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    config = TrainConfig(data=args.data, epochs=args.epochs, device="cpu")
    timings: dict[int, float] = {}
    for _ in range(args.repeats):  # interleaved; the best of the repeats counts
        for guard in (0, 10, 1):
            with tempfile.TemporaryDirectory() as out:
                started = time.perf_counter()
                train(config, out, progress=False, guard=guard)
                elapsed = (time.perf_counter() - started) / args.epochs
            timings[guard] = min(timings.get(guard, float("inf")), elapsed)
    print(f"{args.data}, {args.epochs} epochs, batch {config.batch_size}: seconds per epoch")
    for guard, seconds in timings.items():
        label = "off" if guard == 0 else f"every {guard} batch" + ("es" if guard > 1 else "")
        print(f"guard {label:18} {seconds:7.3f} s   ratio {seconds / timings[0]:.3f}")


if __name__ == "__main__":
    main()
