"""A training call's hold on its log root: created if needed, locked for the whole call,
cleaned of what killed runs left, and removed again when a failed start left it empty.

:func:`guard_log_root` wraps :func:`sketchart.training.trainer.train`; a distributed run
(``distributed=True``) coordinates its processes itself and is passed through unlocked.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sketchart.training.lock import LOCK_NAME, LogRootLock
from sketchart.training.result import TrainError

__all__ = ["guard_log_root", "make_log_root", "remove_if_empty"]

_Result = TypeVar("_Result")


def make_log_root(log_root: Path) -> None:
    """Create ``log_root`` (and its parents).

    Raises:
        TrainError: it cannot be created (a parent is a file, no permission, no space).
    """
    try:
        log_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainError(f"cannot create the log root {log_root}: "
                         f"{exc.strerror or exc}") from None


def remove_if_empty(log_root: Path) -> None:
    """Remove ``log_root`` if it holds nothing but the lock and event files without
    events (what a start that failed before its first save leaves)."""
    from sketchart.training.tblog import is_empty_event_file

    try:
        entries = list(log_root.iterdir())
    except OSError:
        return
    if all(p.name == LOCK_NAME or is_empty_event_file(p) for p in entries):
        for path in entries:
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            log_root.rmdir()


def guard_log_root(train: Callable[..., _Result]) -> Callable[..., _Result]:
    """Run ``train(log_root, ...)`` holding the log root's lock (see the module doc)."""

    @functools.wraps(train)
    def guarded(log_root: str | os.PathLike[str], *args: Any, **kwargs: Any) -> _Result:
        if kwargs.get("distributed"):
            return train(log_root, *args, **kwargs)
        from sketchart.training.tblog import remove_empty_event_files

        root = Path(log_root)
        created = not root.exists()
        lock = LogRootLock(root)
        try:
            make_log_root(root)
            lock.acquire()
            # a killed resume's event file without events: nothing to keep
            remove_empty_event_files(root)
            return train(log_root, *args, **kwargs)
        finally:
            # only the lock's holder may remove the root: a run that lost the race for
            # it must not delete the winner's lock file
            if created and lock.held:
                remove_if_empty(root)
            lock.release()

    return guarded
