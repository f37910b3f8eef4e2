"""Creating, replacing and cleaning a run directory: the one place that decides whether a
folder may take a new run and what resode may delete from it.

- A new run goes into a folder that does not exist, is empty, or (with ``force``) holds
  anything; a folder that holds a run, or files of another kind, is refused without ``force``.
- A run replaced with ``force`` is never mixed with the new one: the new run is built in a
  staging folder beside it (``.NAME.resode-new``) and swapped in at its first checkpoint by
  one atomic exchange of the two folders (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere
  two renames, and a reader that finds the folder missing between them completes the swap).
  Until then the old run is complete and usable; a process killed at any point leaves either
  the whole old run or a consistent new one, and the leftover folder is cleaned the next time.
- resode deletes only the files it writes (:func:`~resode.runs.layout.written_by_resode`); a
  user's own files in a replaced run directory are moved into the new one.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
from pathlib import Path

from ..errors import ResodeError, RunDirectoryError
from .layout import LOCK, holds_run, temporaries, written_by_resode
from .lock import RunDirectoryLocked, RunLock

_STAGING, _OLD = "resode-new", "resode-old"


def check_new_run_folder(out: Path, force: bool) -> None:
    """Refuse to start a new run in ``out`` when it is a file, holds a run or holds other
    files, unless ``force`` (not for a file)."""
    if out.exists() and not out.is_dir():
        raise ResodeError(f"--out {out} is a file, not a folder: name a folder for the run")
    if force or not out.exists():
        return
    if holds_run(out):
        raise ResodeError(
            f"{out} already holds a run; continue it with --resume {out} or replace it with --force"
        )
    if any(not _bookkeeping(entry) for entry in out.iterdir()):
        raise ResodeError(
            f"{out} is not empty and holds no resode run: name a new or empty folder, "
            "or pass --force to write the run into it"
        )


def _bookkeeping(entry: Path) -> bool:
    """A lock or a temporary of resode's: in a folder without a run, no user's data."""
    return entry.name == LOCK or entry in temporaries(entry.parent)


def leftover(out: Path, kind: str) -> Path:
    """The staging (``resode-new``) or old (``resode-old``) folder beside run directory ``out``."""
    out = out.absolute()
    return out.parent / f".{out.name}.{kind}"


def recover(out: Path) -> None:
    """Complete a replacement interrupted between its two renames (platforms without an
    atomic exchange): ``out`` missing and its staged new run beside it → move it in."""
    staged = leftover(out, _STAGING)
    if not out.exists() and holds_run(staged) and leftover(out, _OLD).exists():
        os.replace(staged, out)


def clean_leftovers(out: Path) -> None:
    """Remove what a replacement of ``out`` killed midway left beside it (when no process
    holds it): a user's files in it go into ``out``, resode's files are deleted."""
    recover(out)
    for kind in (_STAGING, _OLD):
        folder = leftover(out, kind)
        if not folder.is_dir():
            continue
        lock = RunLock(folder)
        try:
            lock.acquire(quiet=True)
        except RunDirectoryLocked:
            continue  # another process is replacing out right now
        try:
            _empty_into(folder, out)
        finally:
            lock.release()
        _remove_folder_if_empty(folder)


def remove_partial_writes(out: Path) -> None:
    """Delete the temporaries of resode's writes killed before their rename (only those)."""
    for path in temporaries(out):
        path.unlink(missing_ok=True)


def _empty_into(folder: Path, out: Path) -> None:
    """Move the entries of ``folder`` that resode did not write into ``out`` (unless one of
    that name exists there); delete those it wrote."""
    for entry in sorted(folder.iterdir()):
        if written_by_resode(entry.name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        elif out.is_dir() and not os.path.lexists(out / entry.name):
            os.replace(entry, out / entry.name)


def _remove_folder_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        if folder.exists():
            print(f"resode: left {folder}: it holds files resode did not write", file=sys.stderr)


class NewRun:
    """Where a new run writes, and how it takes the place of ``out``.

    ``acquire()`` locks ``out``; when ``out`` holds a run (``replace``), the new run is
    written to :attr:`folder`, a staging folder beside it with its own lock, until
    :meth:`commit` swaps it in. ``release()`` ends the run: a staged run never committed is
    deleted, the old run being untouched.
    """

    def __init__(self, out: Path, force: bool = False) -> None:
        recover(out)
        check_new_run_folder(out, force)
        out = self.out = out.absolute()  # the folder is swapped: even --out . stays right
        self.replace = holds_run(out)
        self.folder = leftover(out, _STAGING) if self.replace else out
        self.lock = RunLock(out)
        self.staged_lock = RunLock(self.folder) if self.replace else None

    def acquire(self) -> NewRun:
        self.lock.acquire()
        if self.replace:
            try:
                clean_leftovers(self.out)
                self.staged_lock.acquire(quiet=True)
            except BaseException:
                self.lock.release()
                raise
        return self

    @property
    def staged(self) -> bool:
        """Whether the new run still lives in the staging folder (not yet swapped in)."""
        return self.staged_lock is not None

    def commit(self) -> Path:
        """Swap the staged run in for the old one (atomic); return the run's folder."""
        if not self.staged:
            return self.out
        _exchange(self.folder, self.out)
        old = self.folder  # now holds the old run, the lock of out with it
        self.lock.path, self.staged_lock.path = old / self.lock.path.name, self.lock.path
        self.lock.release()
        self.lock, self.staged_lock, self.folder = self.staged_lock, None, self.out
        _empty_into(old, self.out)
        _remove_folder_if_empty(old)
        return self.out

    def release(self) -> None:
        """Unlock; a staged run that never reached its first checkpoint is deleted."""
        if self.staged:
            _empty_into(self.folder, self.out)
            self.staged_lock.release()
            _remove_folder_if_empty(self.folder)
            self.staged_lock = None
        self.lock.release()


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> None:
    """Atomically exchange folders ``a`` and ``b`` (Linux ``renameat2``); elsewhere move
    ``b`` aside and ``a`` in (a reader in between completes it: :func:`recover`)."""
    if _renameat2(a, b):
        return
    old = leftover(b, _OLD)
    os.replace(b, old)
    os.replace(a, b)
    os.replace(old, a)


def _renameat2(a: Path, b: Path) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    text, number = ctypes.c_char_p, ctypes.c_int
    function.argtypes = (number, text, number, text, ctypes.c_uint)
    result = function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


class ResumedRun:
    """The folder of a run being resumed: locked, cleaned of what a killed replacement or
    write left (:func:`clean_leftovers`, :func:`remove_partial_writes`). Same interface as
    :class:`NewRun`."""

    staged = False

    def __init__(self, out: Path) -> None:
        recover(out)
        if not holds_run(out):
            raise RunDirectoryError(f"{out} holds no resode run to resume (no config.json)")
        self.out = self.folder = out
        self.lock = RunLock(out)

    def acquire(self) -> ResumedRun:
        self.lock.acquire()
        clean_leftovers(self.out)
        remove_partial_writes(self.out)
        return self

    def commit(self) -> Path:
        return self.out

    def release(self) -> None:
        self.lock.release()


def run_folder(out: Path, resume: bool, force: bool = False) -> NewRun | ResumedRun:
    """The folder a run writes: ``out`` resumed, or a new run in (or beside) ``out``."""
    return ResumedRun(out) if resume else NewRun(out, force)
