"""Stopping a run cleanly when a scheduler preempts it (SIGTERM or SIGUSR1).

While a run trains, :class:`Preemption` catches those signals and only records them; the
loop finishes the batch in progress, writes a mid-epoch checkpoint and raises
:class:`TrainingInterrupted`, which the command line turns into exit status
:data:`RESUMABLE` and one line saying how to continue. ``resode train --resume DIR`` then
goes on from that batch, bit for bit as if never stopped.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

RESUMABLE = 75
"""Exit status of a run stopped by a signal after writing its checkpoint (EX_TEMPFAIL)."""

SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGUSR1") if hasattr(signal, name)
)


class TrainingInterrupted(RuntimeError):
    """A run stopped by a signal; its checkpoint in ``out`` resumes it."""

    def __init__(self, signal_name: str, out: Path, epoch: int, batch: int, step: int) -> None:
        self.out = out
        super().__init__(
            f"stopped by {signal_name} in epoch {epoch} after batch {batch} (step {step}); "
            f"checkpoint written, continue with: resode train --resume {out}"
        )


class Preemption:
    """Records SIGTERM/SIGUSR1 while active (a context manager); ``requested`` names the
    first signal received, or is None. Outside the main thread it installs nothing."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict = {}

    def _handle(self, number: int, frame) -> None:
        if self.requested is None:
            self.requested = signal.Signals(number).name

    def __enter__(self) -> Preemption:
        if threading.current_thread() is threading.main_thread():
            for number in SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()
