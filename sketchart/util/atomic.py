"""Atomic writes: a file or a whole directory appears complete or not at all.

* :func:`atomic_file`: write into a temporary file beside the target, then ``os.replace``;
  on any error the temporary file is removed and the target is untouched.
* :func:`atomic_dir` / :func:`swap_dir`: a directory written beside the target and swapped
  in with one atomic ``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere (or on a filesystem
  without the exchange) two renames, which :func:`recover_dir` finishes or undoes after a
  crash. Swapped-in directories get the user's umask (:func:`chmod_as_umask`).
* :func:`clean_temporaries`: what killed processes left beside a target. Temporary names
  carry the writer's process id, so one process's cleanup never removes the files a
  live process is still writing.

Files and directories get the mode a plain ``open()`` / ``mkdir`` would give them (the
user's umask applied to ``0o666`` / ``0o777``), not the private ``0o600`` / ``0o700``
of ``mkstemp`` / ``mkdtemp``.

Standard library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_dir",
    "atomic_file",
    "chmod_as_umask",
    "clean_temporaries",
    "owner_alive",
    "recover_dir",
    "swap_dir",
]

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


# --------------------------------------------------------------------- atomic files
@contextlib.contextmanager
def atomic_file(
    path: str | os.PathLike[str],
    mode: str = "wb",
    *,
    encoding: str | None = None,
    prefix: str | None = None,
    suffix: str = ".tmp",
    check: Callable[[Path], None] | None = None,
) -> Iterator[IO[Any]]:
    """Yield a file open for writing; when the body returns it replaces ``path``.

    The temporary file (``prefix`` default ``.<name>.``, then the process id) sits in
    ``path``'s folder, which is created if missing; the file gets the umask's mode.
    ``check(temporary_path)``, run once the file is closed, may raise to reject it. If the
    body or the check raises, the temporary file is removed and ``path`` is untouched.
    Temporary files of the same target left by killed processes (a ``.part`` download)
    are removed first.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    start = f".{target.name}." if prefix is None else prefix
    _clean_stale_files(target.parent, start, suffix)
    fd, tmp = tempfile.mkstemp(prefix=f"{start}{os.getpid()}-", suffix=suffix,
                               dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
        if check is not None:
            check(Path(tmp))
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _clean_stale_files(folder: Path, start: str, suffix: str) -> None:
    """Remove ``<start><pid>-*<suffix>`` files whose process is gone."""
    for leftover in folder.glob(f"{glob.escape(start)}*{glob.escape(suffix)}"):
        pid = leftover.name[len(start):].split("-", 1)[0]
        if pid.isdigit() and not owner_alive(int(pid)):
            with contextlib.suppress(OSError):
                leftover.unlink()


# ---------------------------------------------------------------- atomic directories
def _umask() -> int:
    # the only way to read the umask is to set it; set it straight back
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def chmod_as_umask(path: str | os.PathLike[str]) -> None:
    """Give ``path`` (made private by ``mkdtemp``) the mode a new directory gets: the
    user's umask applied to ``0o777``."""
    os.chmod(path, 0o777 & ~_umask())


def _fsync_tree(root: Path) -> None:
    """Flush every file and the directory itself, so a power cut cannot reorder the swap."""
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories: harmless here
        pass
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths (Linux ``renameat2``); False if unsupported."""
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return False
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def _old_name(target: Path) -> Path:
    return target.parent / f".{target.name}.old"


def swap_dir(new: Path, target: Path) -> None:
    """Put the complete directory ``new`` in place of ``target``, atomically where possible.

    Args:
        new: a fully written directory on the same filesystem as ``target``.
        target: the directory to replace (may not exist yet).
    """
    new, target = Path(new), Path(target)
    _fsync_tree(new)
    if not target.exists():
        os.rename(new, target)
    elif _exchange(new, target):
        # ``new`` now holds the previous contents
        shutil.rmtree(new, ignore_errors=True)
    else:
        old = _old_name(target)
        shutil.rmtree(old, ignore_errors=True)
        os.rename(target, old)  # a crash here: recover_dir renames it back
        os.rename(new, target)
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(target.parent)


def recover_dir(target: Path) -> None:
    """Finish what an interrupted :func:`swap_dir` left: restore or drop ``.<name>.old``."""
    target = Path(target)
    old = _old_name(target)
    if old.exists():
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(old, target)


_OWNER = re.compile(r"\.tmp-(\d+)-")


def owner_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (this process counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clean_temporaries(target: Path) -> list[Path]:
    """Remove the temporary directories killed processes left beside ``target``.

    Both ``.<name>.tmp-<pid>-*`` (an :func:`atomic_dir` of ``target``) and
    ``..<name>.tmp-*`` (an :func:`atomic_dir` nested in one, e.g. a model directory
    written into a checkpoint's temporary directory) are removed, unless the process that
    made them is still running. Names without a process id (older versions) count as
    left behind. Returns what was removed.
    """
    target = Path(target)
    removed = []
    for pattern in (f".{target.name}.tmp-*", f"..{target.name}.tmp-*"):
        for leftover in target.parent.glob(pattern):
            owner = _OWNER.search(leftover.name)
            if owner is not None and owner_alive(int(owner.group(1))):
                continue
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Write a directory atomically: yield an empty temporary directory, then swap it in.

    If the body raises, the temporary directory is removed and ``target`` is untouched.

    Example:
        >>> with atomic_dir(log_root / "last") as tmp:   # doctest: +SKIP
        ...     save_model_dir(tmp, model, meta)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-",
                                dir=target.parent))
    # mkdtemp makes a private 0700 directory; a model directory gets the usual umask
    chmod_as_umask(tmp)
    try:
        yield tmp
        swap_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

