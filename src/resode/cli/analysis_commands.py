"""The sub-commands that analyse a trained run: stability, gradients, landscape, robustness.
Each calls the Python API (:mod:`resode.runs`) and prints a short summary."""

from __future__ import annotations

import argparse


def run_gradients(args: argparse.Namespace) -> int:
    from ..errors import check_int
    from ..runs import gradients_of_run

    samples = check_int("samples", args.samples)
    report = gradients_of_run(args.run, args.out, samples=samples, split=args.split)
    for name in ("initial", "trained"):
        for index, unit in enumerate(report[name]):
            where = f" unit {index}" if len(report[name]) > 1 else ""
            print(
                f"{name}{where}: ‖∂E/∂Y_0‖/‖∂E/∂Y_N‖ = {unit['state_ratio_first_last']:.3g}, "
                f"‖∂E/∂θ_first‖/‖∂E/∂θ_last‖ = {unit['weight_ratio_first_last']:.3g}"
            )
    out = args.out or args.run
    print(f"wrote {out / 'gradients.json'} and {out / 'gradients.png'}")
    return 0


def run_stability(args: argparse.Namespace) -> int:
    from ..errors import check_int
    from ..runs import analyze_run

    report = analyze_run(args.run, args.out, samples=check_int("samples", args.samples))
    for index, unit in enumerate(report["units"]):
        print_unit_report(unit, index if len(report["units"]) > 1 else None)
    out = args.out or args.run
    print(f"wrote {out / 'stability.json'} and {out / 'spectrum.png'}")
    return 0


def print_unit_report(report: dict, index: int | None) -> None:
    steps = report["per_step"]
    unit = f"unit {index}: " if index is not None else ""
    print(
        f"{unit}{report['dynamics']} + {report['integrator']}, T = {report['T']:g}, "
        f"N = {report['steps']}, h = {report['h']:.4g}, {report['examples']} examples"
    )
    header = ("step", "max Re λ", "ρ(J)", "unstable", "class", "|R(hλ)|max", "in region")
    print(
        f"{header[0]:>4} {header[1]:>11} {header[2]:>9} {header[3]:>8} "
        f"{header[4]:>14} {header[5]:>10} {header[6]:>9} {'|μ| step map':>12}"
    )
    step_map = (report["step_map"] or {}).get("max_modulus", [float("nan")] * report["steps"])
    for l in range(report["steps"]):
        print(
            f"{l:4d} {steps['max_real'][l]:11.3e} {steps['spectral_radius'][l]:9.4f} "
            f"{steps['unstable_share'][l]:8.1%} {steps['class'][l]:>14} "
            f"{steps['amplification'][l]:10.4f} {'yes' if steps['inside_region'][l] else 'NO':>9} "
            f"{step_map[l]:12.6f}"
        )
    sens = report["sensitivity"]
    print(
        f"forward sensitivity: growth mean {sens['growth_mean']:.3f}, "
        f"max {sens['growth_max']:.3f}; ‖∂Y_N/∂Y_0‖₂ mean {sens['singular_value_mean']:.3f}, "
        f"max {sens['singular_value_max']:.3f}"
    )
    bound, ftle = report["log_norm"], report["lyapunov"]
    print(
        f"growth bound exp(Σ h μ₂(J)): mean {bound['growth_bound_mean']:.3f}, "
        f"max {bound['growth_bound_max']:.3f} (≥ measured growth; μ₂ > 0 in "
        f"{bound['positive_share']:.0%} of steps × examples)"
    )
    leading = ", ".join(f"{v:.4f}" for v in ftle["max"])
    print(f"finite-time Lyapunov exponents (max over examples, per unit time): {leading}")
    print(f"verdict: {report['verdict']}")
    assessment = report.get("assessment") or {"evidence": [], "advice": ""}
    for item in assessment["evidence"]:
        print(f"  {item['name']:<16} {item['says']:<14} {item['detail']}")
    if assessment["advice"]:
        print(f"advice: {assessment['advice']}")


def run_robustness(args: argparse.Namespace) -> int:
    from ..runs.robustness import robustness_of_run

    report = robustness_of_run(
        args.run, args.out, eps=args.eps, norm=args.norm, attacks=args.attacks,
        split=args.split, samples=args.samples, seed=args.seed, device=args.device,
    )  # fmt: skip
    norm = "L2" if report["norm"] == "l2" else "L∞"
    print(f"{report['examples']} {report['split']} examples, {norm} radii in input units")
    print(f"{'ε':>10}" + "".join(f"{c['kind']:>10}" for c in report["attacks"]) + "   certified")
    certified = report["certified_accuracy"] or [None] * len(report["eps"])
    for index, eps in enumerate(report["eps"]):
        cells = "".join(f"{c['accuracy'][index]:>10.4f}" for c in report["attacks"])
        sure = "—" if certified[index] is None else f"{certified[index]:.4f}"
        print(f"{eps:>10.4g}{cells}   {sure:>9}")
    bounds = report["lipschitz"]
    upper = "∞ (" + bounds["reason"] + ")" if bounds["upper_bound"] is None else (
        f"{bounds['upper_bound']:.4g}"
    )  # fmt: skip
    print(f"Lipschitz constant: ≥ {bounds['lower_bound']:.4g} (found), ≤ {upper} (certified)")
    out = args.out or args.run
    print(f"wrote {out / 'robustness.json'} and {out / 'robustness.png'}")
    return 0


def run_landscape(args: argparse.Namespace) -> int:
    from ..runs import landscape_of_run

    options = {"split": args.split, "grid": args.grid, "span": args.span, "seed": args.seed}
    result = landscape_of_run(args.run, args.out, between=args.between, **options)
    roughness = ", ".join(
        f"{key} {value:.4g}" for key, value in result["roughness"].items() if key != "hessian"
    )
    if "hessian" in result["roughness"]:
        hessian = result["roughness"]["hessian"]
        roughness += f", Hessian λmax {hessian['max']:.4g} λmin {hessian['min']:.4g}"
    print(f"{result['kind']}: {roughness}; {result['seconds']['grid']:.1f} s")
    print(f"wrote {(args.out or args.run) / 'landscape.json'} and landscape.png")
    return 0
