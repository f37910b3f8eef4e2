"""A request to stop that the one step loop honours between two steps.

A scheduler's SIGTERM asks a training run to stop; the run finishes what it must (the
checkpoint) and ends. So that a batch through a very deep network does not keep it waiting,
the step loop (:meth:`~resode.integrators.base.Integrator.iterate`) checks :data:`STOP` before
every step while the caller has ``armed`` it, and raises :class:`StepLoopInterrupted`; the
caller drops the batch and stops at its last complete one. Unarmed (evaluation, analyses,
any use outside training), a request changes nothing. The check is one attribute read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class StepLoopInterrupted(Exception):
    """The step loop stopped between two steps because a stop was requested while armed."""


class StopRequest:
    """Whether a stop was requested (``requested``) and the step loop should honour it now
    (``pending``: requested while armed)."""

    def __init__(self) -> None:
        self.requested = False
        self.pending = False
        self._armed = 0

    def request(self) -> None:
        self.requested = True
        self._update()

    def clear(self) -> None:
        self.requested = False
        self._update()

    @contextmanager
    def armed(self) -> Iterator[None]:
        """Within this block a requested stop interrupts the step loop."""
        self._armed += 1
        self._update()
        try:
            yield
        finally:
            self._armed -= 1
            self._update()

    def _update(self) -> None:
        self.pending = self.requested and self._armed > 0


STOP = StopRequest()
"""The process's one stop request (set by :class:`~resode.training.preemption.Preemption`)."""


def interrupt() -> None:
    """Raise :class:`StepLoopInterrupted` (called by the step loop when ``STOP.pending``)."""
    raise StepLoopInterrupted("stopped between two steps on request")
