"""The ``resode`` command: a thin layer over the Python API.

    resode train [--data peaks --dynamics antisymmetric --integrator rk4 ...] [--out DIR]
    resode train --multilevel 4,8,16,32 [...]   (train shallow, prolongate, go on)
    resode train --data digits [--epochs 10]   (a dataset's tuned recipe, one setting changed)
    resode train --data mnist [--data-dir DIR] [--download]   (mnist, fashion-mnist, cifar10/100)
    resode train --config FILE [...]          (settings from a TOML file, e.g. RUN/config.toml)
    resode train --resume DIR [--epochs E]   (continue; a larger E trains longer)
    resode evaluate DIR [--steps 8,16,32] [--json] [--compile] [--data-dir DIR]
    resode stability DIR [--out DIR]
    resode gradients DIR [--out DIR] [--samples 256] [--split train]
    resode landscape DIR [--split test|train] [--grid 41] [--span 1] [--between DIR2]
    resode export DIR [--format onnx|torchscript|pt2] [--steps N] [--out FILE]
    resode predict DIR test|FILE.npz|FILE.csv|IMAGE|FOLDER [--out FILE.csv|FILE.npz] [--steps N]
    resode report DIR [--out DIR]               (report.html: one self-contained page)
    resode experiment NAME|all [--out DIR] [--quick]
    resode recipes [NAME] [--markdown]         (the recipes and what they reach; NAME: its file)

Bad input ends with one line ``resode: error: …`` and exit code 2; a diverged training run
ends with exit code 1 and leaves its last good checkpoint in place; a run stopped by SIGTERM
or SIGUSR1 writes a checkpoint after the batch in progress and ends with exit code 75 and the
command that resumes it. A second ``resode train`` on a run directory in use is refused
(exit code 2, naming the process that holds it).
"""

from __future__ import annotations

import sys

from ..analysis.diagnosis import StabilityError
from ..errors import ResodeError, TrainingDivergedError
from ..training.preemption import RESUMABLE, TrainingInterrupted
from .commands import COMMANDS
from .parser import UsageError, build_parser


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
    except TrainingInterrupted as error:
        print(f"resode: {error}", file=sys.stderr)
        return RESUMABLE
    except KeyboardInterrupt:
        print("resode: interrupted; continue with `resode train --resume DIR`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
