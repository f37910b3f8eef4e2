"""The parser of the ``resode`` command: sub-commands and flags; ``train``'s flags are
generated from the fields of :class:`~resode.training.config.TrainConfig`."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from ..experiments import EXPERIMENTS
from ..training.config import DEVICES, TrainConfig


class UsageError(Exception):
    """Raised instead of argparse's exit so every CLI error is one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D401 - argparse hook
        raise UsageError(message)


def _choices(names) -> str:
    return "|".join(sorted(names))


def _number_list(text: str, kind: type = int) -> list:
    """Numbers of ``kind`` (int or float) separated by commas, at least one."""
    what = "integers" if kind is int else "numbers"
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {what} separated by commas, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one {what[:-1]}")
    return values


def _int_list(text: str) -> list[int]:
    return _number_list(text, int)


def _float_list(text: str) -> list[float]:
    return _number_list(text, float)


def _int_or_list(text: str) -> int | list[int]:
    values = _int_list(text)
    return values[0] if len(values) == 1 and "," not in text else values


def _name_list(text: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError("expected column names separated by commas")
    return values


ARGUMENT_TYPES = {
    "str": str,
    "str | None": str,
    "int": int,
    "int | None": int,
    "float": float,
    "float | None": float,
    "list[int] | None": _int_list,
    "list[str] | None": _name_list,
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
        if str(field.type) == "bool | None":  # on, off, or (not given) decided by the data
            parser.add_argument(flag, dest=field.name, action="store_true", default=None,
                                help=help_text)  # fmt: skip
            parser.add_argument(flag.replace("--", "--no-", 1), dest=field.name,
                                action="store_false", default=None, help=f"no {flag}")  # fmt: skip
            continue
        parser.add_argument(
            flag,
            dest=field.name,
            type=ARGUMENT_TYPES[str(field.type)],
            default=None,
            help=f"{help_text} (default: {default})",
        )


COMPILE_HELP = "run the network through torch.compile (pays on GPU; see the training guide)"
DATA_DIR_HELP = "folder of a standard set's files (mnist, cifar10, …) if moved since training"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="resode", description="Residual networks as discretized ODEs.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_train_command(commands)
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
    evaluate.add_argument("--data-dir", type=Path, metavar="DIR", help=DATA_DIR_HELP)
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
    _add_robustness_parser(commands)
    _add_export_parser(commands)
    _add_sweep_parser(commands)
    _add_predict_and_report_commands(commands)
    _add_experiment_command(commands)
    recipes = commands.add_parser(
        "recipes",
        help="the tuned recipe of every dataset and the auto- ones of a user's data, with what "
        "each reaches and how long",
    )
    recipes.add_argument("name", nargs="?", help="print this recipe's TOML file")
    recipes.add_argument("--markdown", action="store_true", help="the list as a Markdown table")
    return parser


def _add_train_command(commands) -> None:
    train = commands.add_parser(
        "train",
        help="train a network and write a run directory",
        description="Train a network. --data X starts from X's tuned recipe (`resode recipes X`), "
        "your own data (csv:, npz:, folder:PATH) from the auto- recipe of its kind and size, "
        "--recipe NAME from another recipe, --config FILE from a TOML file; flags given "
        "override single settings. The defaults "
        "shown are the main job's (resode train with no flags).",
    )
    _add_train_arguments(train)
    train.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="TOML file of settings (e.g. RUN/config.toml, which every run writes); "
        "missing keys take the defaults",
    )
    train.add_argument(
        "--recipe",
        metavar="NAME",
        help="start from this recipe (`resode recipes` lists them, e.g. cifar10-hamiltonian) "
        "instead of the dataset's own",
    )
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


def _add_predict_and_report_commands(commands) -> None:
    predict = commands.add_parser("predict", help="apply a trained run to new inputs")
    predict.add_argument("run", type=Path, metavar="RUN_DIR", help="run directory")
    predict.add_argument(
        "input",
        help="'test' (the test split), FILE.npz (array x), FILE.csv, or for an image run an "
        "image (PNG, JPEG) or a folder of them (also folder:PATH)",
    )
    predict.add_argument("--out", type=Path, help="FILE.csv or FILE.npz (default: in RUN_DIR)")
    predict.add_argument("--steps", type=int, help="steps per unit (default: as trained)")
    predict.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    predict.add_argument("--data-dir", type=Path, metavar="DIR", help=DATA_DIR_HELP)
    report = commands.add_parser("report", help="write report.html, one page that shows a run")
    report.add_argument("run", type=Path, metavar="RUN_DIR", help="run directory")
    report.add_argument("--out", type=Path, help="folder for report.html (default: RUN_DIR)")


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


def _add_robustness_parser(commands) -> None:
    robustness = commands.add_parser(
        "robustness",
        help="accuracy under attack (PGD, FGSM, noise), certified accuracy and the Lipschitz "
        "constant of a classification run",
    )
    robustness.add_argument("run", type=Path, metavar="RUN_DIR", help="run directory")
    robustness.add_argument(
        "--eps",
        type=_float_list,
        help="radii in the inputs' own units, e.g. 0,0.1,0.25,0.5 (default: 0 and 2, 5, 10 %% "
        "of the median input norm)",
    )
    robustness.add_argument("--norm", default="l2", help="l2|linf (default: l2)")
    robustness.add_argument(
        "--attacks",
        default="pgd,fgsm,noise",
        help="comma-separated: pgd, pgd:STEPS, pgd:STEPS:RESTARTS, fgsm, noise, noise:DRAWS "
        "(default: pgd,fgsm,noise; pgd takes 20 steps)",
    )
    robustness.add_argument("--split", default="test", help="train|val|test (default: test)")
    robustness.add_argument(
        "--samples", type=int, help="first examples of the split (default: all)"
    )
    robustness.add_argument("--seed", type=int, default=0, help="seed of random starts and noise")
    robustness.add_argument("--device", default="cpu", help=f"device: {_choices(DEVICES)}")
    robustness.add_argument("--out", type=Path, help="where to write (default: RUN_DIR)")


def _add_export_parser(commands) -> None:
    from ..runs.export import FORMATS

    export = commands.add_parser("export", help="write a run's network as ONNX, TorchScript or pt2")
    export.add_argument("run", type=Path, metavar="RUN_DIR", help="run directory")
    export.add_argument("--format", default="onnx", help=f"{_choices(FORMATS)} (default: onnx)")
    export.add_argument("--steps", type=int, help="steps per unit (default: as trained)")
    export.add_argument("--out", type=Path, help="file to write (default: RUN_DIR/model.SUFFIX)")


def _add_sweep_parser(commands) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="train a search space over settings × seeds on an Optuna study (resode sweep "
        "SPEC.toml), or show its leaderboard (resode sweep show SWEEP_DIR)",
    )
    sweep.add_argument(
        "target", nargs="+", metavar="SPEC.toml | show SWEEP_DIR",
        help="a sweep file ([sweep], [fixed], [space] tables), or show and a sweep directory",
    )  # fmt: skip
    sweep.add_argument("--out", type=Path, help="sweep directory (default: sweeps/SPEC_NAME)")
    sweep.add_argument(
        "--storage",
        help="study database: sqlite:///PATH (default: SWEEP_DIR/study.db), "
        "postgresql://USER:PASSWORD@HOST/DB, mysql://…, or journal:PATH (a shared file)",
    )
    sweep.add_argument("--study", help="study name (default: the spec file's name)")
    sweep.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    sweep.add_argument(
        "--threads", type=int, help="CPU threads per worker (default: the cores / workers)"
    )
    sweep.add_argument("--prune", help="median: stop trials whose validation metric trails "
                       "the median of the others at the same epoch (default: none)")
    sweep.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
