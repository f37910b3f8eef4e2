"""Forward+backward time of one ODEBlock against a plain hand-written PyTorch loop.

Same math, same weights, same run: width 64, batch 1024, N = 64, one weight set per step,
tanh, standard dynamics f = tanh(K Y + b). The plain loop keeps its weights as Python lists
of per-step tensors (the fast way to write it by hand). Prints the median times and the
ratio resode / plain (target ≤ 1.05).

    python benchmarks/step_time.py [--width 64 --batch 1024 --steps 64 --repeats 30 --device cpu]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from resode import ODEBlock


def plain_step(method: str, Y, K, b, h):
    def f(Z):
        return torch.tanh(F.linear(Z, K, b))

    if method == "euler":
        return Y + h * f(Y)
    k1 = f(Y)
    k2 = f(Y + (h / 2) * k1)
    k3 = f(Y + (h / 2) * k2)
    k4 = f(Y + h * k3)
    return Y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)


def measure(width: int, batch: int, steps: int, method: str, repeats: int, device: str) -> dict:
    torch.manual_seed(0)
    block = ODEBlock(width, T=1.0, steps=steps, dynamics="standard", integrator=method).to(device)
    Ks = [torch.nn.Parameter(k.detach().clone()) for k in block.dynamics.weight.values]
    bs = [torch.nn.Parameter(v.detach().clone()) for v in block.dynamics.bias.values]
    y0 = torch.randn(batch, width, device=device)
    h = block.h

    def plain() -> torch.Tensor:
        Y = y0
        for K, b in zip(Ks, bs):
            Y = plain_step(method, Y, K, b, h)
        Y.square().mean().backward()
        return Y

    def ours() -> torch.Tensor:
        Y = block(y0)
        Y.square().mean().backward()
        return Y

    with torch.no_grad():  # same math: both give the same Y_N
        torch.testing.assert_close(block(y0), _no_grad_plain(method, y0, Ks, bs, h))

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    times = {"plain": [], "resode": []}
    for _ in range(3):
        plain(), ours()
    for _ in range(repeats):  # interleaved, so drifts in machine load hit both alike
        for name, fn in (("plain", plain), ("resode", ours)):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    plain_ms = statistics.median(times["plain"]) * 1e3
    ours_ms = statistics.median(times["resode"]) * 1e3
    return {
        "method": method,
        "plain_ms": plain_ms,
        "resode_ms": ours_ms,
        "ratio": ours_ms / plain_ms,
    }


def _no_grad_plain(method, y0, Ks, bs, h):
    Y = y0
    for K, b in zip(Ks, bs):
        Y = plain_step(method, Y, K, b, h)
    return Y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    rows = [
        measure(args.width, args.batch, args.steps, method, args.repeats, args.device)
        for method in ("euler", "rk4")
    ]
    print(
        f"width {args.width}, batch {args.batch}, N = {args.steps}, device {args.device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"{'method':8} {'plain ms':>10} {'resode ms':>10} {'ratio':>7}")
    for row in rows:
        times = f"{row['plain_ms']:10.2f} {row['resode_ms']:10.2f}"
        print(f"{row['method']:8} {times} {row['ratio']:7.3f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"settings": vars(args), "results": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
