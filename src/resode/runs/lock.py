"""One writer per run directory: ``run.lock``, held by the process that trains in it.

The lock is an exclusive ``flock`` on ``DIR/run.lock``, which names its holder (process id,
host, start time). A second ``resode train`` on the same directory is refused with one line
naming that process. The kernel drops a flock when its process dies, so the lock of a process
that was killed is stale by construction: the next run takes it over (and says so). A lock
file whose contents are damaged is stale as well; a folder in its place (an empty one is
removed) is refused with one line.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from ..errors import ResodeError
from .layout import LOCK

try:
    import fcntl
except ImportError:  # pragma: no cover - platforms without flock: no locking
    fcntl = None


class RunDirectoryLocked(ResodeError):
    """Another process is training in this run directory."""


def _holder(text: bytes) -> str:
    """``process 123 on host h (since …)`` from a lock file's contents (any bytes)."""
    try:
        owner = json.loads(text.decode("utf-8", errors="replace"))
        return f"process {owner['pid']} on {owner['host']} (since {owner['started']})"
    except (ValueError, KeyError, TypeError):
        return "another process"


class RunLock:
    """The exclusive lock of run directory ``out``, as a context manager.

    ``acquire`` creates ``out`` if needed and raises :class:`RunDirectoryLocked` when another
    live process holds the lock; ``release`` removes the lock file.
    """

    def __init__(self, out: str | Path) -> None:
        self.path = Path(out) / LOCK
        self.handle = None

    def acquire(self, quiet: bool = False) -> RunLock:
        """Take the lock (creating the folder); ``quiet``: say nothing of a stale one."""
        if fcntl is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clear_folder_in_the_way()
        while True:
            handle = open(self.path, "a+b")  # noqa: SIM115 - held until release
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = _holder(handle.read())
                handle.close()
                raise RunDirectoryLocked(
                    f"{self.path.parent} is in use by {holder}: wait for it to finish or "
                    "stop it, or train into another --out directory"
                ) from None
            # the file may have been removed by its previous holder between open and flock
            if (
                os.path.exists(self.path)
                and os.stat(self.path).st_ino == os.fstat(handle.fileno()).st_ino
            ):
                break
            handle.close()
        handle.seek(0)
        stale = handle.read().strip()
        if stale and not quiet:
            print(f"resode: took over the stale lock of {_holder(stale)}", file=sys.stderr)
        handle.seek(0)
        handle.truncate()
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        handle.write((json.dumps(owner) + "\n").encode())
        handle.flush()
        self.handle = handle
        return self

    def _clear_folder_in_the_way(self) -> None:
        if self.path.is_dir() and not self.path.is_symlink():
            try:
                self.path.rmdir()
            except OSError:
                raise ResodeError(
                    f"{self.path} is a folder, where resode keeps the run's lock file: move it away"
                ) from None

    def release(self) -> None:
        if self.handle is None:
            return
        self.path.unlink(missing_ok=True)
        self.handle.close()  # closing drops the flock
        self.handle = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
