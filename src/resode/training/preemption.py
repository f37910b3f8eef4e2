"""Stopping a run cleanly when a scheduler preempts it (SIGTERM or SIGUSR1).

While a run trains, :class:`Preemption` catches those signals. The first is recorded: the
loop stops at the end of the batch in progress (or, within a batch, between two steps of the
step loop, dropping that batch: see :mod:`resode.stop`), writes a mid-epoch checkpoint and
raises :class:`TrainingInterrupted`, which the command line turns into exit status
:data:`RESUMABLE` and one line saying how to continue. ``resode train --resume DIR`` then
goes on from there, bit for bit as if never stopped. A second signal stops at once
(:class:`StoppedAtOnce`), except while a checkpoint is being written, which ends first: the
last checkpoint stays good.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..stop import STOP

RESUMABLE = 75
"""Exit status of a run stopped by a signal after writing its checkpoint (EX_TEMPFAIL)."""

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGUSR1") if hasattr(signal, name))


class TrainingInterrupted(RuntimeError):
    """A run stopped by a signal; its checkpoint in ``out`` resumes it."""

    def __init__(self, signal_name: str, out: Path, epoch: int, batch: int, step: int) -> None:
        self.out = out
        super().__init__(
            f"stopped by {signal_name} in epoch {epoch} after batch {batch} (step {step}); "
            f"checkpoint written, continue with: resode train --resume {out}"
        )


class StoppedAtOnce(KeyboardInterrupt):
    """A second stop signal: the run ends now; its last checkpoint resumes it."""

    def __init__(self, signal_name: str) -> None:
        self.signal_name = signal_name
        super().__init__(f"stopped at once by a second {signal_name}")


class Preemption:
    """Records SIGTERM/SIGUSR1 while active (a context manager); ``requested`` names the
    first signal received, or is None; a second one raises :class:`StoppedAtOnce` (after the
    write in progress, see :meth:`writing`). Outside the main thread it installs nothing."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict = {}
        self._writing = 0
        self._deferred: str | None = None

    def _handle(self, number: int, frame) -> None:
        name = signal.Signals(number).name
        if self.requested is None:
            self.requested = name
            STOP.request()
        else:
            self._stop_at_once(name)

    def _interrupt(self, number: int, frame) -> None:
        """SIGINT: stop at once (as Python does), but not in the middle of a checkpoint."""
        self._stop_at_once(signal.Signals(number).name)

    def _stop_at_once(self, name: str) -> None:
        if self._writing:
            self._deferred = name
        else:
            raise StoppedAtOnce(name)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """A checkpoint write that a second signal does not cut short."""
        self._writing += 1
        try:
            yield
        finally:
            self._writing -= 1
        if self._deferred is not None and not self._writing:
            raise StoppedAtOnce(self._deferred)

    def __enter__(self) -> Preemption:
        if threading.current_thread() is threading.main_thread():
            for number in SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._interrupt)
        return self

    def __exit__(self, *exc) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()
        STOP.clear()
