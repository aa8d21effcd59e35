"""A lock per work unit, so that two runs on one results folder never compute a unit at once.

The lock is ``flock`` on a hidden file in the unit's record folder, holding the holder's PID for
the message of a run that finds it taken. The kernel drops the lock when its holder dies, so a
killed run leaves no stale lock; the file is removed on release. Without ``fcntl`` (not POSIX)
units are not locked.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no locking
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".unit.lock"


class UnitLock:
    """A lock held on ``path``; :meth:`release` removes the file and frees it."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # while still held: a waiting run then finds the file gone
        os.close(self._fd)
        self._fd = None


def try_lock(folder: Path) -> UnitLock | None:
    """The lock of the unit whose records live in ``folder``, or None when another process holds it."""
    path = folder / LOCK_FILE
    if fcntl is None:
        return UnitLock(path, None)
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else its holder removed the file after we opened it: lock the new one
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return UnitLock(path, fd)
        os.close(fd)


def holder(folder: Path) -> str:
    """The PID written in the unit's lock file (``?`` when it cannot be read)."""
    try:
        return (folder / LOCK_FILE).read_text().strip() or "?"
    except OSError:
        return "?"
