"""Peak memory and time of forward+backward per memory mode of ODEBlock.

``ODEBlock(..., memory="store" | "reversible" | "checkpoint")``, hamiltonian dynamics with
``verlet`` (``--dynamics antisymmetric --integrator leapfrog`` for the other reversible
pairing), width 64, batch 1024, N ∈ {64, 256, 1024}. Each (mode, N) runs in a fresh
subprocess (``--child``): it builds the model and the input, warms up with a 2-step block,
takes a baseline, then runs forward+backward once. CPU: peak resident memory (VmHWM of
/proc/self/status, reset to the current RSS just before the baseline; ``ru_maxrss`` where
/proc is missing) minus the baseline RSS, with glibc told to return large freed blocks
(:data:`ALLOCATOR_ENV`); time in a second process with the default allocator, median of
timed runs after one untimed. CUDA: ``torch.cuda.max_memory_allocated`` minus the memory
allocated at the baseline, and time, in one process.
Target: reversible ≤ 1/20 of store's memory at N = 1024, at ≤ 2× its time.

    python -m benchmarks.memory [--steps 64 256 1024 --device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from resode import ODEBlock

MODES = ("store", "reversible", "checkpoint")
STEPS = (64, 256, 1024)
ROOT = Path(__file__).resolve().parent.parent
MEMORY_TARGET = 1 / 20
TIME_TARGET = 2.0
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
"""For the memory process (glibc): blocks ≥ 128 KiB are mapped and unmapped on free, so the
peak RSS follows the live tensors, not what malloc keeps cached. (Without it, at N = 1024 the
peak read 195 MiB for reversible and 810 MiB for checkpoint instead of ~52 and ~57 MiB.)"""


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the peak RSS (VmHWM) to the current RSS (Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_kib() -> int:
    peak = _status_kib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(settings: dict) -> dict:
    """One (mode, N) measurement in this process: ``measure`` = memory, time or both."""
    device, mode = settings["device"], settings["memory"]
    measure = settings.get("measure", "both")
    if settings.get("threads"):
        torch.set_num_threads(settings["threads"])
    torch.manual_seed(0)
    options = dict(
        T=1.0,
        dynamics=settings["dynamics"],
        integrator=settings["integrator"],
        memory=mode,
    )
    width, batch = settings["width"], settings["batch"]
    block = ODEBlock(width, steps=settings["steps"], **options).to(device)
    y0 = torch.randn(batch, width, device=device)
    warm = ODEBlock(width, steps=2, **options).to(device)  # load kernels, size thread pools
    warm(y0).square().mean().backward()
    del warm

    def run() -> None:
        block(y0).square().mean().backward()

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    result = {}
    if measure in ("memory", "both"):
        result.update(_peak_increase(run, device))
    else:
        run()  # the first full-size pass grows the allocator's pools: not timed
    if measure in ("time", "both"):
        times = []
        for _ in range(settings["repeats"]):
            block.zero_grad(set_to_none=True)
            sync()
            start = time.perf_counter()
            run()
            sync()
            times.append(time.perf_counter() - start)
        result["ms"] = statistics.median(times) * 1e3
    return result


def _peak_increase(run, device: str) -> dict:
    """Peak memory during ``run()`` over the memory in use just before it, in bytes."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
        run()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - baseline
        return {"peak_bytes": peak, "method": "torch.cuda.max_memory_allocated"}
    if _reset_peak():
        baseline_kib, method = _status_kib("VmRSS"), "VmHWM - VmRSS"
    else:
        baseline_kib, method = _peak_kib(), "ru_maxrss"
    run()
    return {"peak_bytes": (_peak_kib() - baseline_kib) * 1024, "method": method}


def _run_child(settings: dict, env: dict | None = None) -> dict:
    command = [sys.executable, "-m", "benchmarks.memory", "--child", json.dumps(settings)]
    environment = {**os.environ, **(env or {})}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        return {"error": lines[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_cell(settings: dict) -> dict:
    """Memory and time of one (mode, N): on CPU in two processes (see ALLOCATOR_ENV)."""
    if settings["device"].startswith("cuda"):
        return _run_child({**settings, "measure": "both"})
    memory = _run_child({**settings, "measure": "memory"}, ALLOCATOR_ENV)
    timing = _run_child({**settings, "measure": "time"})
    if "error" in memory or "error" in timing:
        return {"error": memory.get("error") or timing.get("error")}
    return {**memory, **timing}


def availability(dynamics: str, integrator: str) -> str | None:
    """None if ODEBlock has memory modes and the integrator, else why not."""
    try:
        ODEBlock(4, steps=2, dynamics=dynamics, integrator=integrator, memory="store")
    except Exception as error:  # any refusal (unknown name, bad pairing) skips the table
        return f"integrator {integrator!r} not available ({error})"
    return None


def memory_table(
    modes: tuple[str, ...] = MODES,
    steps: tuple[int, ...] = STEPS,
    width: int = 64,
    batch: int = 1024,
    device: str = "cpu",
    dynamics: str = "hamiltonian",
    integrator: str = "verlet",
    repeats: int = 2,
    threads: int | None = None,
) -> dict:
    """Peak memory (bytes over baseline) and time per (mode, N), each in a fresh process."""
    settings = dict(
        width=width,
        batch=batch,
        device=device,
        dynamics=dynamics,
        integrator=integrator,
        repeats=repeats,
        threads=threads,
    )
    result: dict = {**settings, "modes": list(modes), "steps": list(steps), "rows": []}
    skipped = availability(dynamics, integrator)
    if skipped:
        print(skipped)
        result["skipped"] = skipped
        return result
    for n in steps:
        for mode in modes:
            row = {"memory": mode, "steps": n}
            row.update(measure_cell({**settings, "memory": mode, "steps": n}))
            result["rows"].append(row)
    result["verdict"] = _verdict(result["rows"], max(steps))
    return result


def _verdict(rows: list[dict], steps: int) -> dict | None:
    """Reversible against store at the largest N: memory and time ratios."""
    cells = {row["memory"]: row for row in rows if row["steps"] == steps and "error" not in row}
    if "store" not in cells or "reversible" not in cells:
        return None
    store, reversible = cells["store"], cells["reversible"]
    memory = reversible["peak_bytes"] / max(store["peak_bytes"], 1)
    slowdown = reversible["ms"] / store["ms"]
    return {
        "steps": steps,
        "memory_ratio": memory,
        "time_ratio": slowdown,
        "memory_ok": memory <= MEMORY_TARGET,
        "time_ok": slowdown <= TIME_TARGET,
    }


def format_table(result: dict) -> list[str]:
    if "skipped" in result:
        return [result["skipped"]]
    lines = [
        f"{result['dynamics']}, {result['integrator']}, width {result['width']}, "
        f"batch {result['batch']}, device {result['device']}",
        f"{'N':>5} {'memory':11} {'peak MiB':>9} {'ms':>9}",
    ]
    for row in result["rows"]:
        if "error" in row:
            cells = f"error: {row['error']}"
        else:
            cells = f"{row['peak_bytes'] / 2**20:9.1f} {row['ms']:9.1f}"
        lines.append(f"{row['steps']:5} {row['memory']:11} {cells}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEPS))
    parser.add_argument("--modes", nargs="+", default=list(MODES))
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dynamics", default="hamiltonian")
    parser.add_argument("--integrator", default="verlet")
    parser.add_argument("--json", help="also write the table to this JSON file")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    result = memory_table(
        tuple(args.modes),
        tuple(args.steps),
        args.width,
        args.batch,
        args.device,
        repeats=args.repeats,
        dynamics=args.dynamics,
        integrator=args.integrator,
    )
    print("\n".join(format_table(result)))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
