"""A full disk while training: refused before a save starts, one line when it strikes.

HDF5 has been seen to crash the process outright when the disk fills in the middle of
writing ``model.weights.h5``, so a save first checks that the space it needs is free
(:func:`ensure_space`); a write that still fails with ``ENOSPC`` (the TensorBoard events,
another process filling the disk) is turned into the same one-line error by
:func:`disk_full`.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

__all__ = ["directory_size", "disk_full", "ensure_space", "no_space_error"]

#: errors that mean the disk (or the user's quota) is full
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
#: room left for HDF5's metadata and the JSON files beside the arrays
_MARGIN = 256 * 1024


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk or the quota is full (h5py's errors carry the errno
    only in their text)."""
    if not isinstance(exc, OSError):
        return False
    return exc.errno in _FULL or any(os.strerror(code) in str(exc) for code in _FULL)


def directory_size(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when missing)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, name))
            except OSError:
                pass
    return total


def ensure_space(folder: Path, needed: int) -> None:
    """Raise ``OSError(ENOSPC)`` unless ``needed`` bytes (plus a margin) are free."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell: let the write itself find out
    if free < needed + _MARGIN:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder))


def no_space_error(log_root: Path, kept: str) -> str:
    """The one line for a full disk: where, and what is still there."""
    return f"no space left on the disk of {log_root}; {kept}"
