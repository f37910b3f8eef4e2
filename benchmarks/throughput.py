"""Achieved GFLOP/s of an ODEBlock's forward+backward next to the machine's sgemm.

Width 256, batch 4096, N = 64, forward Euler, standard dynamics, tanh. Only matmul FLOPs
count: 2·B·n² per evaluation of f forward and 4·B·n² backward (∂Y and ∂K), one evaluation
per Euler step. sgemm is ``torch.mm`` of (B × n)·(n × n) in the same run (median of
repeats). Reported: resode, resode with the fusion of :mod:`resode.model.fused` switched off (the
eager ops) and the plain hand-written loop, each as GFLOP/s and as a fraction of sgemm
(target for resode: ≥ 70 %); also, for reference, the oneDNN GEMM that the fused layer
uses for two of its three GEMMs (at the same size, where available).

    python -m benchmarks.throughput [--width 256 --batch 4096 --steps 64 --repeats 7]
"""

from __future__ import annotations

import argparse
import json
from contextlib import nullcontext

import torch

from resode import ODEBlock

from .step_time import interleaved_medians, plain_step

try:
    from resode.model import fused
except ImportError:  # an older resode without the fused dense layer
    fused = None

TARGET = 0.70


def measure_throughput(
    width: int = 256,
    batch: int = 4096,
    steps: int = 64,
    repeats: int = 7,
    device: str = "cpu",
    gemms_per_sample: int = 40,
) -> dict:
    """GFLOP/s of resode (fused and eager), the plain loop and sgemm, measured interleaved."""
    torch.manual_seed(0)
    block = ODEBlock(width, T=1.0, steps=steps, dynamics="standard", integrator="euler")
    block = block.to(device)
    Ks = [torch.nn.Parameter(k.detach().clone()) for k in block.dynamics.weight.values]
    bs = [torch.nn.Parameter(v.detach().clone()) for v in block.dynamics.bias.values]
    y0 = torch.randn(batch, width, device=device)
    a = torch.randn(batch, width, device=device)
    w = torch.randn(width, width, device=device)
    h = block.h

    def resode(eager: bool = False):
        def run() -> None:
            with fused.disabled() if eager else nullcontext():
                block(y0).square().mean().backward()

        return run

    def plain() -> None:
        Y = y0
        for K, b in zip(Ks, bs):
            Y = plain_step("euler", Y, K, b, h)
        Y.square().mean().backward()

    def sgemm() -> None:
        for _ in range(gemms_per_sample):
            torch.mm(a, w)

    def onednn_gemm() -> None:
        for _ in range(gemms_per_sample):
            torch.ops.mkldnn._linear_pointwise(a, w, None, "none", [], "")

    contenders = {"resode": resode(), "plain": plain, "sgemm": sgemm}
    if fused is not None:
        contenders["resode_eager"] = resode(eager=True)
        if fused._onednn(a):
            contenders["onednn_gemm"] = onednn_gemm
    seconds = interleaved_medians(contenders, repeats, device, warmup=1)
    gemm_flops = 2 * batch * width**2 * gemms_per_sample
    sgemm_gflops = gemm_flops / seconds.pop("sgemm") / 1e9
    flops = steps * 6 * batch * width**2
    result = {
        "width": width,
        "batch": batch,
        "steps": steps,
        "device": device,
        "sgemm_gflops": sgemm_gflops,
        "target_fraction": TARGET,
    }
    if "onednn_gemm" in seconds:  # the GEMM the fused layer uses in part, for reference
        result["onednn_gemm_gflops"] = gemm_flops / seconds.pop("onednn_gemm") / 1e9
    for name, value in seconds.items():
        gflops = flops / value / 1e9
        result[name] = {"ms": value * 1e3, "gflops": gflops, "fraction": gflops / sgemm_gflops}
    return result


def format_result(result: dict) -> list[str]:
    lines = [
        f"width {result['width']}, batch {result['batch']}, N = {result['steps']}, Euler: "
        f"sgemm (torch.mm) {result['sgemm_gflops']:.1f} GFLOP/s"
        + (
            f", oneDNN GEMM {result['onednn_gemm_gflops']:.1f} GFLOP/s"
            if "onednn_gemm_gflops" in result
            else ""
        )
    ]
    for name in ("resode", "resode_eager", "plain"):
        if name in result:
            row = result[name]
            lines.append(
                f"{name:13} {row['ms']:9.1f} ms {row['gflops']:8.1f} GFLOP/s "
                f"{100 * row['fraction']:6.1f} % of sgemm"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write the result to this JSON file")
    args = parser.parse_args()
    result = measure_throughput(args.width, args.batch, args.steps, args.repeats, args.device)
    print("\n".join(format_result(result)))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
