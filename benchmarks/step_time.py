"""Forward+backward time of one ODEBlock against a plain hand-written loop and torchdiffeq.

Same math, same weights, same run: width 64, batch 1024, N = 64, one weight set per step,
tanh, standard dynamics f = tanh(K Y + b). The plain loop keeps its weights as Python lists
of per-step tensors (the fast way to write it by hand). Targets: resode ≤ 1.05× plain and
≤ 0.85× torchdiffeq.

torchdiffeq (optional: ``pip install torchdiffeq`` or the ``bench`` extra) integrates with
``odeint`` on the fixed grid t_l = l/N (``grid_constructor``), and its vector field looks
up the weights of step l from the same Python lists by bisecting the grid with float(t).
Its ``rk4`` is Kutta's 3/8 rule (stages at t_l + h/3, t_l + 2h/3 and t_{l+1}), not the
classic RK4, so (a) the last stage sits on the next grid node: ``perturb=True`` moves it to
just below t_{l+1} (and the first just above t_l), so that the lookup gives step l, the
constant-weights rule of resode; (b) it is compared with resode running the same 3/8
tableau. Y_N is checked equal before timing.

    python benchmarks/step_time.py [--width 64 --batch 1024 --steps 64 --repeats 30 --device cpu]
"""

from __future__ import annotations

import argparse
import bisect
import copy
import json
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from resode import ODEBlock
from resode.integrators import ButcherTableau, ExplicitRungeKutta

try:
    from torchdiffeq import odeint
except ImportError:  # an optional benchmark extra
    odeint = None

RK4_3_8 = ButcherTableau(
    "rk4-3/8",
    a=(
        (0.0, 0.0, 0.0, 0.0),
        (1 / 3, 0.0, 0.0, 0.0),
        (-1 / 3, 1.0, 0.0, 0.0),
        (1.0, -1.0, 1.0, 0.0),
    ),
    b=(1 / 8, 3 / 8, 3 / 8, 1 / 8),
    c=(0.0, 1 / 3, 2 / 3, 1.0),
    order=4,
)
"""torchdiffeq's ``rk4`` (``rk4_alt_step_func``): Kutta's 3/8 rule."""

TORCHDIFFEQ_TABLEAU = {"euler": None, "rk4": RK4_3_8}
"""The tableau resode needs to match torchdiffeq's method (None: resode's own, same name)."""


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


class PerStepField:
    """torchdiffeq's f(t, Y) = tanh(K_l Y + b_l), l = the grid interval holding t (l < N).

    On CPU, l comes from bisecting the grid nodes with float(t). On CUDA float(t) would
    synchronize, so l is counted instead: ``stages`` calls per step, reset by :meth:`start`.
    """

    def __init__(self, Ks: list, bs: list, grid: torch.Tensor, stages: int | None = None):
        self.Ks, self.bs = Ks, bs
        self.nodes = grid.tolist()
        self.last = len(Ks) - 1
        self.stages = stages
        self.calls = 0

    def start(self) -> None:
        self.calls = 0

    def __call__(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.stages is None:
            l = bisect.bisect_right(self.nodes, float(t)) - 1
        else:
            l, self.calls = self.calls // self.stages, self.calls + 1
        l = min(l, self.last)
        return torch.tanh(F.linear(y, self.Ks[l], self.bs[l]))


def torchdiffeq_solve(method: str, field: PerStepField, y0, grid: torch.Tensor) -> torch.Tensor:
    """Y_N by ``odeint`` on the fixed grid (the nodes of ``field``)."""
    options = {"grid_constructor": lambda func, y, t: grid, "perturb": method != "euler"}
    field.start()
    return odeint(field, y0, grid[[0, -1]], method=method, options=options)[-1]


def interleaved_medians(
    contenders: dict[str, Callable[[], object]], repeats: int, device: str, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per call; calls interleaved so drifts in machine load hit all alike."""

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(
    width: int,
    batch: int,
    steps: int,
    method: str,
    repeats: int,
    device: str,
    peers: bool = True,
) -> dict:
    """Median forward+backward ms of resode, the plain loop and (if installed) torchdiffeq."""
    torch.manual_seed(0)
    block = ODEBlock(width, T=1.0, steps=steps, dynamics="standard", integrator=method).to(device)
    Ks = [torch.nn.Parameter(k.detach().clone()) for k in block.dynamics.weight.values]
    bs = [torch.nn.Parameter(v.detach().clone()) for v in block.dynamics.bias.values]
    y0 = torch.randn(batch, width, device=device)
    h = block.h

    def backward_of(forward: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            forward().square().mean().backward()

        return run

    def plain() -> torch.Tensor:
        Y = y0
        for K, b in zip(Ks, bs):
            Y = plain_step(method, Y, K, b, h)
        return Y

    contenders = {"plain": backward_of(plain), "resode": backward_of(lambda: block(y0))}
    with torch.no_grad():  # same math: both give the same Y_N
        torch.testing.assert_close(block(y0), plain())
    note = None
    use_peer = peers and odeint is not None and method in TORCHDIFFEQ_TABLEAU
    if use_peer:
        grid = torch.linspace(0.0, 1.0, steps + 1, device=device)
        stages = None if device == "cpu" else (1 if method == "euler" else 4)
        field = PerStepField(Ks, bs, grid, stages)
        twin = block
        if TORCHDIFFEQ_TABLEAU[method] is not None:
            twin = copy.deepcopy(block)
            twin.integrator = ExplicitRungeKutta(TORCHDIFFEQ_TABLEAU[method])
        with torch.no_grad():
            peer_y = torchdiffeq_solve(method, field, y0, grid)
            torch.testing.assert_close(peer_y, twin(y0), rtol=1e-4, atol=1e-5)
        contenders["torchdiffeq"] = backward_of(lambda: torchdiffeq_solve(method, field, y0, grid))
        if twin is not block:
            contenders["resode_same_method"] = backward_of(lambda: twin(y0))
    elif peers:
        note = "torchdiffeq not installed" if odeint is None else f"no torchdiffeq {method!r}"
    seconds = interleaved_medians(contenders, repeats, device)
    ms = {name: value * 1e3 for name, value in seconds.items()}
    row = {
        "method": method,
        "plain_ms": ms["plain"],
        "resode_ms": ms["resode"],
        "ratio": ms["resode"] / ms["plain"],
    }
    if use_peer:
        same = ms.get("resode_same_method", ms["resode"])
        row.update(
            torchdiffeq_method=method if twin is block else f"{method} (3/8 rule)",
            torchdiffeq_ms=ms["torchdiffeq"],
            resode_same_method_ms=same,
            ratio_torchdiffeq=same / ms["torchdiffeq"],
        )
    if note:
        row["note"] = note
    return row


def format_rows(rows: list[dict]) -> list[str]:
    lines = [f"{'method':8} {'plain ms':>9} {'resode ms':>10} {'ratio':>6}   torchdiffeq"]
    for row in rows:
        times = f"{row['plain_ms']:9.2f} {row['resode_ms']:10.2f} {row['ratio']:6.3f}"
        if "torchdiffeq_ms" in row:
            peer = (
                f"{row['torchdiffeq_method']}: {row['torchdiffeq_ms']:.2f} ms, "
                f"resode {row['resode_same_method_ms']:.2f} ms, "
                f"ratio {row['ratio_torchdiffeq']:.3f}"
            )
        else:
            peer = row.get("note", "skipped")
        lines.append(f"{row['method']:8} {times}   {peer}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-torchdiffeq", action="store_true", help="skip the peer column")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    rows = [
        measure(
            args.width,
            args.batch,
            args.steps,
            method,
            args.repeats,
            args.device,
            peers=not args.no_torchdiffeq,
        )
        for method in ("euler", "rk4")
    ]
    print(
        f"width {args.width}, batch {args.batch}, N = {args.steps}, device {args.device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print("\n".join(format_rows(rows)))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"settings": vars(args), "results": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
