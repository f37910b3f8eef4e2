"""IMEX vs explicit steps on ``bars`` segmentation: can a few steps carry a class along a bar?

Every pixel of a bar must be labelled with the colour of its cap, up to 26 px away. A 3×3
convolution moves information about one pixel per explicit step, so a few explicit steps
cannot reach; the implicit solve (I + hL)⁻¹ couples every pixel with every other in one step
(L = MᵀM + εI, M a learned periodic depthwise convolution, solved by FFT). Entries, all with
one ODE unit of ``--width`` channels (no pooling), ``--steps`` N steps, T = 4N (h = 4: large
steps are what the implicit solve affords; ``--T`` to change), the same epochs, optimizer,
seed and data:

    imex               diffusion-reaction + imex   (I + hL)⁻¹ (Y + h σ(KY + b))
    dr-euler           diffusion-reaction + euler  the same network, stepped explicitly
    standard-euler     standard + euler            the plain ResNet Y + h σ(KY + b)
    antisymmetric-rk4  antisymmetric + rk4         stable explicit, 4 evaluations per step

Prints a table (test mIoU, pixel accuracy, seconds) and writes it as JSON with ``--json``.
Default (all four, 3 steps, 8 epochs, 1 thread): about 3 minutes on 2 cores.

    python benchmarks/imex_bars.py [NAME ...] [--steps 3] [--T 12] [--epochs 8] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from resode.training.config import TrainConfig
from resode.training.loop import train

ENTRIES = {
    "imex": dict(dynamics="diffusion-reaction", integrator="imex"),
    "dr-euler": dict(dynamics="diffusion-reaction", integrator="euler"),
    "standard-euler": dict(dynamics="standard", integrator="euler"),
    "antisymmetric-rk4": dict(dynamics="antisymmetric", integrator="rk4"),
}


def run(name: str, steps: int, epochs: int, width: int, seed: int, T: float) -> dict:
    config = TrainConfig(
        data="bars",
        task="segmentation",
        widths=[width],
        steps=steps,
        T=T,
        epochs=epochs,
        batch_size=32,
        lr=0.005,
        seed=seed,
        device="cpu",
        **ENTRIES[name],
    )
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        metrics = train(config, out, progress=False)
        seconds = time.perf_counter() - started
    return {
        "name": name,
        **ENTRIES[name],
        "steps": steps,
        "T": T,
        "epochs": epochs,
        "width": width,
        "test_miou": metrics["test_miou"],
        "test_pixel_accuracy": metrics.get("test_pixel_accuracy", metrics.get("test_accuracy")),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"entries (default: all): {', '.join(ENTRIES)}")
    parser.add_argument("--steps", type=int, default=3, help="steps N of every network")
    parser.add_argument("--T", type=float, help="final time (default: 4 × steps, h = 4)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--width", type=int, default=16, help="channels of the ODE unit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", help="also write the table to this JSON file")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(ENTRIES))
    if unknown:
        parser.error(f"unknown entries {', '.join(unknown)}; choose from {', '.join(ENTRIES)}")
    torch.set_num_threads(args.threads)
    rows = []
    T = 4.0 * args.steps if args.T is None else args.T
    print(
        f"bars, 1 unit × {args.width} channels, {args.steps} steps, T = {T:g}, {args.epochs} epochs"
    )
    print(f"{'entry':17} {'dynamics':18} {'integrator':10} {'test mIoU':>9} {'pixel acc':>9} time")
    for name in args.names or list(ENTRIES):
        row = run(name, args.steps, args.epochs, args.width, args.seed, T)
        rows.append(row)
        accuracy = row["test_pixel_accuracy"]
        shown = f"{accuracy:9.4f}" if accuracy is not None else f"{'—':>9}"
        print(
            f"{name:17} {row['dynamics']:18} {row['integrator']:10} {row['test_miou']:9.4f} "
            f"{shown} {row['seconds']:5.0f} s",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
