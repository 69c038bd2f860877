"""One training run per log root: an exclusive ``flock`` on ``<log root>/.lock``.

The kernel releases a ``flock`` when its process dies, however it dies, so a ``kill -9``
never leaves a stale lock and nothing has to guess whether a lock file is old. The file
holds the owner's process id, read by the second run to say who holds the root. The file
itself stays: deleting it while another process waits on it would let two runs lock two
different files of the same name.
"""

from __future__ import annotations

import os
from pathlib import Path

from sketchart.training.result import TrainError

__all__ = ["LOCK_NAME", "LogRootLock"]

LOCK_NAME = ".lock"


class LogRootLock:
    """An exclusive lock on a training log root, held until :meth:`release`."""

    def __init__(self, log_root: Path) -> None:
        self.path = Path(log_root) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting.

        Raises:
            TrainError: another process holds it (the message names the process).
        """
        try:
            import fcntl
        except ImportError:  # not POSIX: run unlocked, as before
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise TrainError(
                f"{self.path.parent} is in use by another training run (process {holder}); "
                "wait for it to end or choose another log root") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None
