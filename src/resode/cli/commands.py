"""The sub-commands of ``resode``, one function each: parse nothing, call the Python API,
print a short summary."""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import fields
from pathlib import Path

from ..data.files import absolute_source, parse_source, source_label
from ..errors import ResodeError, RunDirectoryError
from ..runs.directory import check_new_run_folder
from ..training.config import TrainConfig
from ..training.distributed import launched_world_size
from .analysis_commands import run_gradients, run_landscape, run_robustness, run_stability


def _run_export(args: argparse.Namespace) -> int:
    from ..runs.export import export_run

    path = export_run(args.run, args.format, steps=args.steps, out=args.out)
    print(f"wrote {path}")
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    from ..runs import predict_run

    path = predict_run(
        args.run, args.input, args.out, steps=args.steps, compile=args.compile,
        data_dir=args.data_dir, say=lambda note: print(f"note: {note}"),
    )  # fmt: skip
    print(f"wrote {path}")
    return 0


def _run_report(args: argparse.Namespace) -> int:
    from ..runs import write_report

    print(f"wrote {write_report(args.run, args.out)}")
    return 0


SMALL_TABLE = 1000
"""Rows below which ``resode train`` suggests --folds (a 15 % test split of < 150 rows)."""


def _default_out(data: str) -> Path:
    base = Path("runs") / f"{data}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, suffix = base, 2
    while out.exists():
        out, suffix = base.with_name(f"{base.name}-{suffix}"), suffix + 1
    return out


def _say_what_the_data_is(config: TrainConfig, given: dict | None = None) -> None:
    """For a user's own data: one line on its kind, task (and why) and splits, what was left
    out while reading, for a table how each column enters the network, and for a small table
    without --folds a hint that its test split is small; with the flags ``given`` (no
    --config or --recipe), one line on the automatic settings it started from."""
    from ..data.sources import HELD_OUT, describe_source, table_encoding
    from ..training.recipes import auto_recipe

    if parse_source(config.data) is None or os.environ.get("RANK", "0") != "0":
        return
    options = config.source_options()
    data = describe_source(config.data, **options)
    encoding = table_encoding(config.data, config.seed, **options) if data.is_table else None
    if config.folds is not None:
        print(f"{data.summary.rsplit(';', 1)[0]}; {config.folds}-fold cross-validation")
    else:
        print(data.summary)
    if given is not None:
        print(auto_recipe(config.data, **options).line(given))
    for note in data.notes:
        print(note)
    if encoding is not None:
        print(encoding.describe())
    rows = data.tables["all"].count if "all" in data.tables else SMALL_TABLE
    if config.folds is None and rows < SMALL_TABLE:
        print(
            f"{rows} rows: a test split of {round(HELD_OUT * rows)} rows moves by several "
            "points between seeds; --folds 5 gives mean ± std"
        )


def _resumed_run(args: argparse.Namespace, given: dict) -> tuple[TrainConfig, Path]:
    """The config and directory of ``--resume DIR``: the stored run with the flags given
    (more epochs, runtime settings); any other change is one line naming the field."""
    from ..runs.load import require_run
    from ..training.state import extended_config, read_config

    if args.config is not None or args.recipe is not None:
        raise ResodeError(
            "use either --config FILE or --recipe NAME (new run) or --resume DIR, not both"
        )
    if args.out is not None and args.out != args.resume:
        raise ResodeError("use either --out (new run) or --resume DIR (continue DIR), not both")
    from ..runs.folds import holds_folds, resumed_folds_config

    if holds_folds(args.resume):  # a cross-validation: its folds go on
        return resumed_folds_config(args.resume, given), args.resume
    require_run(args.resume)
    try:
        return extended_config(read_config(args.resume), given), args.resume
    except RunDirectoryError:
        raise
    except ResodeError as error:
        raise ResodeError(
            f"{error}; the run's settings are in {args.resume / 'config.json'}"
        ) from None


def _new_run(args: argparse.Namespace, given: dict) -> tuple[TrainConfig, Path]:
    """The config and directory of a new run: the flags given over a config file, a recipe
    or the defaults; an existing run in ``--out`` needs ``--force``."""
    from ..training.recipes import compose_config

    if "multilevel" in given and "steps" in given:
        raise ResodeError("give either --steps or --multilevel (its last depth is the final N)")
    if "data" in given:
        given["data"] = absolute_source(given["data"])
    config = compose_config(given, args.config, args.recipe)
    _say_what_the_data_is(config, given if args.config is None and args.recipe is None else None)
    if args.out is None and launched_world_size() > 1:
        raise ResodeError("a distributed run needs --out DIR (the same on every process)")
    out = args.out if args.out is not None else _default_out(source_label(config.data))
    if config.folds is not None and config.fold is None:
        from ..runs.folds import check_new_folds_folder

        check_new_folds_folder(out, args.force)
    else:
        check_new_run_folder(out, args.force)
    return config, out


def _run_train(args: argparse.Namespace) -> int:
    from ..errors import check_int, check_positive
    from ..training.loop import train

    guard = check_int("guard", args.guard, minimum=0)
    state_bound = check_positive("state bound", args.state_bound)

    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    given = {k: v for k, v in given.items() if v is not None}
    if "data_dir" in given:  # absolute: the run finds its data from anywhere
        given["data_dir"] = str(Path(given["data_dir"]).expanduser().resolve())
    resume = args.resume is not None
    config, out = _resumed_run(args, given) if resume else _new_run(args, given)
    if config.folds is not None and config.fold is None:
        return _run_folds(args, config, out, guard=guard, state_bound=state_bound)
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
        force=args.force,
    )
    summary = {k: v for k, v in metrics.items() if k.startswith(("train_", "test_"))}
    if main_process:
        for level in metrics.get("levels", []):
            print(_level_line(level, len(metrics["levels"])))
        print(f"run directory: {out}")
        if "kept" in metrics:
            print(_kept_line(metrics))
        print(" ".join(f"{k}={v:.4f}" for k, v in summary.items()))
        if "test_rmse" in metrics:
            print(_errors_line(metrics))
        _print_baselines(metrics)
    return 0


def _print_baselines(metrics: dict) -> None:
    """The comparison of the run with the baselines fitted on its split, if any."""
    from ..training.baselines import comparison, comparison_text, metrics_task, run_rows

    task = metrics_task(metrics)
    if "baselines" in metrics and task is not None:
        print(comparison_text(*comparison(run_rows(metrics), task)))


def _run_folds(args: argparse.Namespace, config: TrainConfig, out: Path, **options) -> int:
    """``--folds K``: K runs into OUT/fold-k, then the table of mean ± std (folds.json);
    ``options`` go to each fold's training."""
    from ..runs.folds import folds_text, train_folds

    if args.distributed or launched_world_size() > 1:
        raise ResodeError("--folds runs its folds one after another, not under torchrun")
    options.update(progress=not args.quiet, tensorboard=args.tensorboard)
    resume = args.resume is not None
    document = train_folds(config, out, resume, args.force, log=print, **options)
    print(f"cross-validation: {out / 'folds.json'}")
    print(folds_text(document))
    return 0


def _kept_line(metrics: dict) -> str:
    """Which epoch the run kept, e.g. ``kept the best validation epoch 14 of 20
    (val_accuracy 0.988)``; for ``keep = last`` also the best one."""
    history, best = metrics["history"], metrics.get("best_epoch")
    column = metrics.get("best_metric", "")
    value = metrics.get(column, float("nan"))
    if metrics.get("kept") == "best" and best is not None:
        return f"kept the best validation epoch {best} of {len(history)} ({column} {value:.4g})"
    last = history[-1]["epoch"] if history else 0
    line = f"kept the last epoch {last} of {len(history)} ({column} {value:.4g})"
    if best is not None and best != last:
        line += f"; the best validation epoch was {best} ({history[best - 1][column]:.4g})"
    return line


def _errors_line(metrics: dict) -> str:
    line = f"test RMSE {metrics['test_rmse']:.4g}, MAE {metrics['test_mae']:.4g} in target units"
    return line + ("; loss in standardized units" if metrics.get("standardized_targets") else "")


def _level_line(level: dict, count: int) -> str:
    """One multilevel summary line, e.g. ``level 2/4: N=8, 10 epochs, 3.1 s, test_…``."""
    tested = " ".join(f"{k}={v:.4f}" for k, v in level.items() if k.startswith("test_"))
    return (
        f"level {level['level'] + 1}/{count}: N={level['steps']}, {level['epochs']} epochs, "
        f"{level['seconds']:.1f} s, {tested}"
    )


def _run_evaluate(args: argparse.Namespace) -> int:
    from ..runs import evaluate_run

    results = evaluate_run(
        args.run, args.steps, device=args.device, compile=args.compile, data_dir=args.data_dir
    )
    if args.steps and len(args.steps) > 1:
        from ..runs import write_depth_study

        write_depth_study(args.run, results, args.out or args.run)
    if args.json:
        print(json.dumps(results if args.steps and len(args.steps) > 1 else results[0], indent=2))
        return 0
    keys = [k for k in results[0] if k != "steps" and not k.startswith("val_")]
    widths = [max(15, len(k)) for k in keys]
    depths = [
        ",".join(map(str, r["steps"])) if isinstance(r["steps"], list) else str(r["steps"])
        for r in results
    ]
    column = max(5, *(len(d) for d in depths))
    print(f"{'steps':>{column}}  " + "  ".join(f"{k:>{w}}" for k, w in zip(keys, widths)))
    for depth, row in zip(depths, results):
        cells = (f"{row[k]:{w}.4f}" for k, w in zip(keys, widths))
        print(f"{depth:>{column}}  " + "  ".join(cells))
    if "test_rmse" in results[0]:
        print("rmse and mae in target units")
    return 0


def _run_experiment(args: argparse.Namespace) -> int:
    from ..experiments import run_experiment

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


def _run_recipes(args: argparse.Namespace) -> int:
    from ..training.recipes import auto_recipes, recipe_text, recipes

    if args.name is not None:
        print(recipe_text(args.name), end="")
        return 0
    shipped = [*recipes().values(), *auto_recipes().values()]
    rows = [(r.name, r.summary(), r.result()) for r in shipped]
    if args.markdown:
        print("| recipe | settings | result (2-core CPU) |\n|---|---|---|")
        for name, settings, result in rows:
            print(f"| `{name}` | {settings} | {result} |")
        return 0
    width = max(len(name) for name, _, _ in rows)
    for name, settings, result in rows:
        print(f"{name:{width}}  {result}\n{'':{width}}  {settings}")
    print(
        "resode train --data NAME uses a recipe, --data csv:|npz:|folder:PATH an auto- one "
        "chosen from the data's kind and size; resode recipes NAME prints its file"
    )
    return 0


def _run_sweep(args: argparse.Namespace) -> int:
    """``resode sweep SPEC.toml`` or ``resode sweep show SWEEP_DIR``."""
    from ..errors import check_int

    if args.target[0] == "show":
        if len(args.target) != 2:
            raise ResodeError("usage: resode sweep show SWEEP_DIR")
        from ..sweeps.show import show_sweep

        return show_sweep(Path(args.target[1]), storage=args.storage, study_name=args.study)
    if len(args.target) != 1:
        raise ResodeError("usage: resode sweep SPEC.toml [--out DIR] … or resode sweep show DIR")
    from ..sweeps.run import run_sweep

    workers = check_int("--workers", args.workers)
    threads = None if args.threads is None else check_int("--threads", args.threads)
    return run_sweep(Path(args.target[0]), args.out, args.storage, args.study, args.prune,
                     workers, threads, args.worker_index)  # fmt: skip


COMMANDS = {
    "train": _run_train,
    "evaluate": _run_evaluate,
    "stability": run_stability,
    "gradients": run_gradients,
    "landscape": run_landscape,
    "robustness": run_robustness,
    "export": _run_export,
    "report": _run_report,
    "predict": _run_predict,
    "experiment": _run_experiment,
    "recipes": _run_recipes,
    "sweep": _run_sweep,
}
