"""Run the step-time, throughput and memory benchmarks; print one table and write JSON.

    python -m benchmarks [--device cpu|cuda] [--quick] [--out runs/bench/bench.json]
                         [--skip step_time throughput memory] [--threads T]

``--quick`` is a smoke run at small sizes (its numbers say nothing about the targets).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from .memory import format_table, memory_table
from .step_time import format_rows, measure
from .throughput import format_result, measure_throughput

FULL = dict(
    step_time=dict(width=64, batch=1024, steps=64, repeats=30),
    throughput=dict(width=256, batch=4096, steps=64, repeats=7),
    memory=dict(steps=(64, 256, 1024), width=64, batch=1024, repeats=2),
)
QUICK = dict(
    step_time=dict(width=16, batch=64, steps=8, repeats=3),
    throughput=dict(width=32, batch=256, steps=8, repeats=3),
    memory=dict(steps=(16, 64), width=32, batch=256, repeats=1),
)
STEP_TARGET_PLAIN = 1.05
STEP_TARGET_PEER = 0.85


def summary_rows(results: dict) -> list[tuple[str, str, str, str]]:
    """(benchmark, quantity, measured, target met?) for every target."""
    quick = bool(results.get("settings", {}).get("quick"))

    def verdict(ok: bool) -> str:
        if quick:  # the targets are stated for the full sizes
            return "n/a (--quick)"
        return "met" if ok else "MISSED"

    rows = []
    for row in results.get("step_time", []):
        method = row["method"]
        rows.append(
            (
                "step time",
                f"{method}: resode / plain",
                f"{row['ratio']:.3f}",
                f"≤ {STEP_TARGET_PLAIN}: {verdict(row['ratio'] <= STEP_TARGET_PLAIN)}",
            )
        )
        if "ratio_torchdiffeq" in row:
            ratio = row["ratio_torchdiffeq"]
            rows.append(
                (
                    "step time",
                    f"{row['torchdiffeq_method']}: resode / torchdiffeq",
                    f"{ratio:.3f}",
                    f"≤ {STEP_TARGET_PEER}: {verdict(ratio <= STEP_TARGET_PEER)}",
                )
            )
        else:
            rows.append(("step time", f"{method}: resode / torchdiffeq", "-", row.get("note", "")))
    throughput = results.get("throughput")
    if throughput:
        rows.append(("throughput", "sgemm GFLOP/s", f"{throughput['sgemm_gflops']:.1f}", ""))
        if "onednn_gemm_gflops" in throughput:
            measured = f"{throughput['onednn_gemm_gflops']:.1f}"
            rows.append(("throughput", "oneDNN GEMM GFLOP/s (reference)", measured, ""))
        for name in ("resode", "resode_eager", "plain"):
            if name in throughput:
                cell = throughput[name]
                target = ""
                if name == "resode":
                    ok = cell["fraction"] >= throughput["target_fraction"]
                    target = f"≥ {throughput['target_fraction']:.0%}: {verdict(ok)}"
                measured = f"{cell['gflops']:.1f} GFLOP/s = {100 * cell['fraction']:.1f} %"
                rows.append(("throughput", f"{name} (% of sgemm)", measured, target))
    memory = results.get("memory")
    if memory:
        if "skipped" in memory:
            rows.append(("memory", "memory modes", "-", memory["skipped"]))
        for row in memory.get("rows", []):
            name = f"N = {row['steps']} {row['memory']}"
            if "error" in row:
                rows.append(("memory", name, "error", row["error"][:60]))
            else:
                measured = f"{row['peak_bytes'] / 2**20:.1f} MiB, {row['ms']:.0f} ms"
                rows.append(("memory", name, measured, ""))
        check = memory.get("verdict")
        if check:
            n = check["steps"]
            rows.append(
                (
                    "memory",
                    f"N = {n} reversible / store memory",
                    f"{check['memory_ratio']:.3f}",
                    f"≤ 1/20: {verdict(check['memory_ok'])}",
                )
            )
            rows.append(
                (
                    "memory",
                    f"N = {n} reversible / store time",
                    f"{check['time_ratio']:.2f}",
                    f"≤ 2: {verdict(check['time_ok'])}",
                )
            )
    return rows


def format_summary(rows: list[tuple[str, str, str, str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    header = ("benchmark", "quantity", "measured", "target")
    widths = [max(w, len(h)) for w, h in zip(widths, header)]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(header, widths))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--out", default="runs/bench/bench.json", help="JSON file to write")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=("step_time", "throughput", "memory")
    )
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    sizes = QUICK if args.quick else FULL
    results: dict = {
        "settings": {**vars(args), "sizes": sizes},
        "environment": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
    }
    if "step_time" not in args.skip:
        print("step time (forward+backward) …", flush=True)
        results["step_time"] = [
            measure(method=method, device=args.device, **sizes["step_time"])
            for method in ("euler", "rk4")
        ]
        print("\n".join(format_rows(results["step_time"])), flush=True)
    if "throughput" not in args.skip:
        print("throughput …", flush=True)
        results["throughput"] = measure_throughput(device=args.device, **sizes["throughput"])
        print("\n".join(format_result(results["throughput"])), flush=True)
    if "memory" not in args.skip:
        print("memory modes (one process per cell) …", flush=True)
        results["memory"] = memory_table(
            device=args.device, threads=args.threads, **sizes["memory"]
        )
        print("\n".join(format_table(results["memory"])), flush=True)
    rows = summary_rows(results)
    if rows:
        print()
        print(format_summary(rows))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
