"""The ``resode`` command: a thin layer over the Python API.

    resode train [--data peaks --dynamics antisymmetric --integrator rk4 ...] [--out DIR]
    resode train --multilevel 4,8,16,32 [...]   (train shallow, prolongate, go on)
    resode train --resume DIR [--epochs E]   (continue; a larger E trains longer)
    resode evaluate DIR [--steps 8,16,32] [--json] [--compile]
    resode stability DIR [--out DIR]
    resode gradients DIR [--out DIR] [--samples 256] [--split train]
    resode landscape DIR [--split test|train] [--grid 41] [--span 1] [--between DIR2]
    resode export DIR [--format onnx|torchscript|pt2] [--steps N] [--out FILE]
    resode predict DIR test|FILE.npz|FILE.csv [--out FILE.csv|FILE.npz] [--steps N] [--compile]
    resode report DIR [--out DIR]               (report.html: one self-contained page)
    resode experiment NAME|all [--out DIR] [--quick]

Bad input ends with one line ``resode: error: …`` and exit code 2; a diverged training run
ends with exit code 1 and leaves its last good checkpoint in place.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import fields
from pathlib import Path

from .analysis.diagnosis import StabilityError
from .errors import ResodeError, RunDirectoryError, TrainingDivergedError
from .experiments import EXPERIMENTS
from .training.config import DEVICES, TrainConfig
from .training.distributed import launched_world_size


class UsageError(Exception):
    """Raised instead of argparse's exit so every CLI error is one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D401 - argparse hook
        raise UsageError(message)


def _choices(names) -> str:
    return "|".join(sorted(names))


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _int_or_list(text: str) -> int | list[int]:
    values = _int_list(text)
    return values[0] if len(values) == 1 and "," not in text else values


ARGUMENT_TYPES = {
    "str": str,
    "str | None": str,
    "int": int,
    "int | None": int,
    "float": float,
    "float | None": float,
    "list[int] | None": _int_list,
    "int | list[int]": _int_or_list,
}
"""argparse type of a config field, by its annotation."""


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`TrainConfig` field, its help and choices from the field."""
    defaults = TrainConfig()
    for field in fields(TrainConfig):
        help_text, choices = field.metadata["help"], field.metadata.get("choices")
        if choices is not None:
            help_text += f": {_choices(choices)}"
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        if str(field.type) == "bool":  # a switch: given means true
            parser.add_argument(
                flag,
                dest=field.name,
                action="store_true",
                default=None,
                help=f"{help_text} (default: off)",
            )
            continue
        parser.add_argument(
            flag,
            dest=field.name,
            type=ARGUMENT_TYPES[str(field.type)],
            default=None,
            help=f"{help_text} (default: {default})",
        )


COMPILE_HELP = "run the network through torch.compile (pays on GPU; see the README)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="resode", description="Residual networks as discretized ODEs.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    train = commands.add_parser("train", help="train a network and write a run directory")
    _add_train_arguments(train)
    train.add_argument("--out", type=Path, help="run directory (default: runs/DATA-TIMESTAMP)")
    train.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR")
    train.add_argument("--force", action="store_true", help="overwrite an existing run in --out")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--guard",
        type=int,
        default=0,
        metavar="B",
        help="check forward stability every B batches (0: only when the loss is non-finite)",
    )
    train.add_argument(
        "--state-bound",
        type=float,
        default=1e6,
        help="largest |Y| a stable forward pass may reach (default: 1e6)",
    )
    train.add_argument("--tensorboard", action="store_true", help="also log to DIR/tensorboard")
    train.add_argument(
        "--distributed",
        action="store_true",
        help="require a torchrun launch (data-parallel over its processes)",
    )

    evaluate = commands.add_parser(
        "evaluate", help="evaluate a trained run, optionally at other depths"
    )
    evaluate.add_argument("run", type=Path, metavar="DIR", help="run directory")
    evaluate.add_argument(
        "--steps", type=_int_list, help="number(s) of steps to evaluate at, e.g. 8 or 8,16,32"
    )
    evaluate.add_argument("--device", default="cpu", help=f"device: {_choices(DEVICES)}")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    evaluate.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    evaluate.add_argument(
        "--out",
        type=Path,
        help="with several --steps: where depth.json and depth.png go (default: DIR)",
    )

    stability = commands.add_parser(
        "stability", help="Jacobian spectra, stability region and sensitivity of a trained run"
    )
    stability.add_argument("run", type=Path, metavar="RUN_DIR", help="run directory")
    stability.add_argument("--out", type=Path, help="where to write (default: RUN_DIR)")
    stability.add_argument("--samples", type=int, default=512, help="test inputs analysed")
    _add_gradients_command(commands)

    _add_landscape_parser(commands)
    _add_export_parser(commands)
    predict = commands.add_parser("predict", help="apply a trained run to new inputs")
    predict.add_argument("run", type=Path, metavar="RUN_DIR", help="run directory")
    predict.add_argument("input", help="'test' (the test split), FILE.npz (array x) or FILE.csv")
    predict.add_argument("--out", type=Path, help="FILE.csv or FILE.npz (default: in RUN_DIR)")
    predict.add_argument("--steps", type=int, help="steps per unit (default: as trained)")
    predict.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    report = commands.add_parser("report", help="write report.html, one page that shows a run")
    report.add_argument("run", type=Path, metavar="RUN_DIR", help="run directory")
    report.add_argument("--out", type=Path, help="folder for report.html (default: RUN_DIR)")

    _add_experiment_command(commands)
    return parser


def _add_experiment_command(commands) -> None:
    experiment = commands.add_parser("experiment", help="reproduce an experiment of the lecture")
    experiment.add_argument("name", help=f"experiment: {_choices(EXPERIMENTS)}|all")
    experiment.add_argument("--out", type=Path, default=Path("runs/experiments"))
    experiment.add_argument("--steps", type=_int_list, help="landscape: values of N, e.g. 5,100")
    experiment.add_argument("--grid", type=int, help="landscape: grid points per axis")
    experiment.add_argument("--scale", type=float, help="landscape: scale s of the inputs")
    experiment.add_argument("--seed", type=int, help="random seed")
    experiment.add_argument("--quick", action="store_true", help="reduced size (seconds)")
    experiment.add_argument("--full", action="store_true", help="full size where it differs")


def _add_gradients_command(commands) -> None:
    gradients = commands.add_parser(
        "gradients", help="gradients through depth of a run, at initialization and trained"
    )
    gradients.add_argument("run", type=Path, metavar="RUN_DIR", help="run directory")
    gradients.add_argument("--out", type=Path, help="where to write (default: RUN_DIR)")
    gradients.add_argument("--samples", type=int, default=256, help="examples of the batch")
    gradients.add_argument("--split", default="train", help="train|val|test (default: train)")


def _run_gradients(args: argparse.Namespace) -> int:
    from .errors import check_int
    from .training.runs import gradients_of_run

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


def _add_landscape_parser(commands) -> None:
    landscape = commands.add_parser(
        "landscape", help="loss on a random filter-normalized plane around a run, or between two"
    )
    landscape.add_argument("run", type=Path, metavar="RUN_DIR", help="run directory")
    landscape.add_argument("--split", default="test", choices=("test", "train"))
    landscape.add_argument("--grid", type=int, default=41, help="points per axis (default: 41)")
    landscape.add_argument(
        "--span", type=float, default=1.0, help="plane: a, b in [-span, span] (default: 1)"
    )
    landscape.add_argument("--seed", type=int, default=0, help="seed of the two directions")
    landscape.add_argument(
        "--between", type=Path, metavar="RUN2", help="the segment from RUN_DIR to RUN2 instead"
    )
    landscape.add_argument("--out", type=Path, help="where to write (default: RUN_DIR)")


def _add_export_parser(commands) -> None:
    from .training.export import FORMATS

    export = commands.add_parser("export", help="write a run's network as ONNX, TorchScript or pt2")
    export.add_argument("run", type=Path, metavar="RUN_DIR", help="run directory")
    export.add_argument("--format", default="onnx", help=f"{_choices(FORMATS)} (default: onnx)")
    export.add_argument("--steps", type=int, help="steps per unit (default: as trained)")
    export.add_argument("--out", type=Path, help="file to write (default: RUN_DIR/model.SUFFIX)")


def _run_export(args: argparse.Namespace) -> int:
    from .training.export import export_run

    path = export_run(args.run, args.format, steps=args.steps, out=args.out)
    print(f"wrote {path}")
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    from .predict import predict_run

    path = predict_run(args.run, args.input, args.out, steps=args.steps, compile=args.compile)
    print(f"wrote {path}")
    return 0


def _run_report(args: argparse.Namespace) -> int:
    from .report import write_report

    print(f"wrote {write_report(args.run, args.out)}")
    return 0


def _default_out(data: str) -> Path:
    base = Path("runs") / f"{data}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, suffix = base, 2
    while out.exists():
        out, suffix = base.with_name(f"{base.name}-{suffix}"), suffix + 1
    return out


def _run_train(args: argparse.Namespace) -> int:
    from .errors import check_int, check_positive
    from .training.loop import train
    from .training.state import extended_config, read_config

    guard = check_int("guard", args.guard, minimum=0)
    state_bound = check_positive("state bound", args.state_bound)

    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    given = {k: v for k, v in given.items() if v is not None}
    if args.resume is not None:
        if args.out is not None and args.out != args.resume:
            raise ResodeError("use either --out (new run) or --resume DIR (continue DIR), not both")
        try:
            config = extended_config(read_config(args.resume), given)
        except RunDirectoryError:
            raise
        except ResodeError as error:
            raise ResodeError(
                f"{error}; the run's settings are in {args.resume / 'config.json'}"
            ) from None
        out, resume = args.resume, True
    else:
        if "multilevel" in given and "steps" in given:
            raise ResodeError("give either --steps or --multilevel (its last depth is the final N)")
        config = TrainConfig(**given)
        if args.out is None and launched_world_size() > 1:
            raise ResodeError("a distributed run needs --out DIR (the same on every process)")
        out = args.out if args.out is not None else _default_out(config.data)
        if (out / "config.json").exists() and not args.force:
            raise ResodeError(
                f"{out} already holds a run; continue it with --resume {out} "
                "or overwrite it with --force"
            )
        resume = False
    main_process = os.environ.get("RANK", "0") == "0"
    metrics = train(
        config,
        out,
        resume=resume,
        progress=not args.quiet,
        guard=guard,
        state_bound=state_bound,
        tensorboard=args.tensorboard,
        distributed_required=args.distributed,
    )
    summary = {k: v for k, v in metrics.items() if k.startswith(("train_", "test_"))}
    if main_process:
        for level in metrics.get("levels", []):
            print(_level_line(level, len(metrics["levels"])))
        print(f"run directory: {out}")
        print(" ".join(f"{k}={v:.4f}" for k, v in summary.items()))
    return 0


def _level_line(level: dict, count: int) -> str:
    """One multilevel summary line, e.g. ``level 2/4: N=8, 10 epochs, 3.1 s, test_…``."""
    tested = " ".join(f"{k}={v:.4f}" for k, v in level.items() if k.startswith("test_"))
    return (
        f"level {level['level'] + 1}/{count}: N={level['steps']}, {level['epochs']} epochs, "
        f"{level['seconds']:.1f} s, {tested}"
    )


def _run_evaluate(args: argparse.Namespace) -> int:
    from .training.runs import evaluate_run

    results = evaluate_run(args.run, args.steps, device=args.device, compile=args.compile)
    if args.steps and len(args.steps) > 1:
        from .training.runs import write_depth_study

        write_depth_study(args.run, results, args.out or args.run)
    if args.json:
        print(json.dumps(results if args.steps and len(args.steps) > 1 else results[0], indent=2))
        return 0
    keys = [k for k in results[0] if k != "steps" and not k.startswith("val_")]
    depths = [
        ",".join(map(str, r["steps"])) if isinstance(r["steps"], list) else str(r["steps"])
        for r in results
    ]
    column = max(5, *(len(d) for d in depths))
    print(f"{'steps':>{column}}  " + "  ".join(f"{k:>15}" for k in keys))
    for depth, row in zip(depths, results):
        print(f"{depth:>{column}}  " + "  ".join(f"{row[k]:15.4f}" for k in keys))
    return 0


def _run_stability(args: argparse.Namespace) -> int:
    from .errors import check_int
    from .training.runs import analyze_run

    report = analyze_run(args.run, args.out, samples=check_int("samples", args.samples))
    for index, unit in enumerate(report["units"]):
        _print_unit_report(unit, index if len(report["units"]) > 1 else None)
    out = args.out or args.run
    print(f"wrote {out / 'stability.json'} and {out / 'spectrum.png'}")
    return 0


def _print_unit_report(report: dict, index: int | None) -> None:
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


def _run_landscape(args: argparse.Namespace) -> int:
    from .analysis.landscape import landscape_of_run

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


def _run_experiment(args: argparse.Namespace) -> int:
    from .experiments import run_experiment

    options = {
        key: getattr(args, key)
        for key in ("steps", "grid", "scale", "seed")
        if getattr(args, key) is not None
    }
    if args.quick:
        options["quick"] = True
    if args.full:
        options["full"] = True
    if "steps" in options:
        options["steps"] = tuple(options["steps"])
    result = run_experiment(args.name, args.out, **options)
    shown = result if args.name == "all" else {args.name: result}
    for name, document in shown.items():
        print(f"{name}: {args.out / (name + '.json')} ({document.get('seconds', 0):.1f} s)")
    return 0


COMMANDS = {
    "train": _run_train,
    "evaluate": _run_evaluate,
    "stability": _run_stability,
    "gradients": _run_gradients,
    "landscape": _run_landscape,
    "export": _run_export,
    "report": _run_report,
    "predict": _run_predict,
    "experiment": _run_experiment,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return COMMANDS[args.command](args)
    except (UsageError, ResodeError) as error:
        print(f"resode: error: {error}", file=sys.stderr)
        return 2
    except StabilityError as error:
        print(f"resode: unstable forward propagation: {error}", file=sys.stderr)
        return 1
    except TrainingDivergedError as error:
        print(f"resode: training diverged: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("resode: interrupted; continue with `resode train --resume DIR`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
