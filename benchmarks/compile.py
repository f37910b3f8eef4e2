"""``torch.compile`` against eager PyTorch: step time, inference time and compile time.

Two networks, each timed eager and compiled in the same run on the same inputs and weights:

- dense: ``ResNet(2, 64, 5)``, N = 16, batch 1024 (the peaks shape, width 64);
- conv: ``ConvResNet`` on 1×16×16 images (digits-like), one unit of 16 channels, N = 4,
  10 classes, batch 256.

Both use the default block (antisymmetric dynamics, classic RK4, tanh). A training step is
forward + cross-entropy + backward (no optimizer); inference is a forward pass in eval mode
under ``torch.no_grad``. Times are medians over ``--repeats`` calls after ``--warmup`` calls.
The compile time is the first call of the compiled network (in each mode), with an empty
compile cache, so it includes tracing and code generation. The compiled outputs are checked
against the eager ones before timing.

    python benchmarks/compile.py [--repeats 20 --threads 1 --device cpu --size 16] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from resode import ConvResNet, ResNet


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(call: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    started = time.perf_counter()
    call()
    _sync(device)
    return time.perf_counter() - started


def cases(size: int) -> dict[str, tuple[torch.nn.Module, torch.Tensor, torch.Tensor]]:
    """Name → (network, inputs, labels)."""
    generator = torch.Generator().manual_seed(0)
    dense = ResNet(2, 64, 5, steps=16)
    x_dense = torch.randn(1024, 2, generator=generator)
    conv = ConvResNet(1, [16], 10, spatial_dims=2, steps=4)
    x_conv = torch.randn(256, 1, size, size, generator=generator)
    return {
        "dense (width 64, N 16, batch 1024)": (dense, x_dense, torch.randint(5, (1024,))),
        f"conv ({size}×{size}, 16 channels, N 4, batch 256)": (
            conv,
            x_conv,
            torch.randint(10, (256,)),
        ),
    }


def measure(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int, warmup: int
) -> dict:
    """Eager and compiled times (seconds) of a training step and of inference."""
    device = x.device
    compiled = torch.compile(model)

    def step(network) -> Callable[[], None]:
        def call() -> None:
            model.zero_grad(set_to_none=True)
            F.cross_entropy(network(x), y).backward()

        return call

    def infer(network) -> Callable[[], torch.Tensor]:
        def call() -> torch.Tensor:
            with torch.no_grad():
                return network(x)

        return call

    result = {}
    model.train()
    result["compile_step_s"] = _timed(step(compiled), device)
    model.eval()
    result["compile_inference_s"] = _timed(infer(compiled), device)
    result["max_abs_difference"] = float((infer(compiled)() - infer(model)()).abs().max())
    for mode, make in (("step", step), ("inference", infer)):
        model.train(mode == "step")
        calls = {"eager": make(model), "compiled": make(compiled)}
        for call in calls.values():
            for _ in range(warmup):
                call()
        times = {name: [] for name in calls}
        for _ in range(repeats):  # interleaved, so that load on the machine hits both alike
            for name, call in calls.items():
                times[name].append(_timed(call, device))
        for name, values in times.items():
            result[f"{name}_{mode}_s"] = statistics.median(values)
    return result


def format_table(results: dict[str, dict]) -> str:
    lines = [
        "| network | step eager | step compiled | speed-up | inference eager "
        "| inference compiled | speed-up | compile (step + inference) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        step = r["eager_step_s"] / r["compiled_step_s"]
        inference = r["eager_inference_s"] / r["compiled_inference_s"]
        lines.append(
            f"| {name} | {1e3 * r['eager_step_s']:.1f} ms | {1e3 * r['compiled_step_s']:.1f} ms "
            f"| {step:.2f}× | {1e3 * r['eager_inference_s']:.1f} ms "
            f"| {1e3 * r['compiled_inference_s']:.1f} ms | {inference:.2f}× "
            f"| {r['compile_step_s']:.1f} s + {r['compile_inference_s']:.1f} s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=16, help="image side of the conv case")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    results = {}
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # a cold compile, every run
        for name, (model, x, y) in cases(args.size).items():
            torch.manual_seed(0)
            torch._dynamo.reset()
            model, x, y = model.to(device), x.to(device), y.to(device)
            results[name] = measure(model, x, y, args.repeats, args.warmup)
            print(f"{name}: {json.dumps(results[name])}", flush=True)
    print(f"\ntorch {torch.__version__}, {device}, {args.threads} thread(s)\n")
    print(format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "device": str(device), "results": results}, f)


if __name__ == "__main__":
    main()
