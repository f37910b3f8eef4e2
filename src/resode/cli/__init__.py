"""The ``resode`` command: a thin layer over the Python API, one function per sub-command.

``resode --help`` and ``resode COMMAND --help`` list the sub-commands and their flags; the
command-line reference of the documentation is generated from the same parser
(:func:`resode.cli.reference.cli_reference`), so neither can drift from what runs.

Bad input ends with one line ``resode: error: …`` and exit code 2; a diverged training run
(or one whose forward pass became unstable) ends with exit code 1 and leaves its last good
checkpoint in place; a run stopped by SIGTERM or SIGUSR1 writes a checkpoint after the batch
in progress (or between two steps of a batch, which is then dropped) and ends with exit code
75 and the command that resumes it; a second SIGTERM stops it at once (exit code 143), the
last checkpoint staying good; an interrupted command (SIGINT, Ctrl-C) ends with exit code 130
(a checkpoint being written is completed first). A second ``resode train`` on a run directory
in use is refused (exit code 2, naming the process that holds it).
"""

from __future__ import annotations

import signal
import sys

from ..analysis.diagnosis import StabilityError
from ..errors import ResodeError, TrainingDivergedError
from ..training.preemption import RESUMABLE, StoppedAtOnce, TrainingInterrupted
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
    except StoppedAtOnce as error:
        print(f"resode: {error}; continue with `resode train --resume DIR`", file=sys.stderr)
        return 128 + getattr(signal, error.signal_name, signal.SIGINT)
    except KeyboardInterrupt:
        print("resode: interrupted; continue with `resode train --resume DIR`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
