"""Atomic folder operations of the gallery build.

A build writes into a temporary folder beside the gallery (same file system, named with the
build's process id so that the next build can remove what a killed one left). A full build
swaps the new folder in with two renames, restoring the old gallery if the second fails;
``--only`` moves each new file over its namesake with ``os.replace``, the index last.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools.gallery.models import GalleryError, relative_path

__all__ = ["INDEX_JSON", "carry_files", "check_out", "make_tmp", "replace_files", "swap_dir"]

#: The gallery's manifest: every entry's record, in table order.
INDEX_JSON = "index.json"
#: Files a full build carries over from the gallery it replaces (not made by the build).
_KEEP = ("README.md", ".gitignore", ".gitattributes")
_SUFFIXES = ("svg", "png", "json", "gcode")


def check_out(out: Path) -> None:
    """Refuse an output that is a file, or a folder of other things than a gallery.

    Raises:
        GalleryError: one line naming the folder.
    """
    if out.exists() and not out.is_dir():
        raise GalleryError(f"cannot build the gallery in {relative_path(out)}: it is a file")
    if out.is_dir() and any(out.iterdir()) and not (out / INDEX_JSON).is_file():
        extra = [p.name for p in out.iterdir() if p.name not in _KEEP]
        if extra:
            raise GalleryError(
                f"refusing to replace {relative_path(out)}: it holds files but no "
                f"{INDEX_JSON}, so it is not a gallery built by sketchart; choose another "
                "--out or empty it"
            )


def _remove_stale(out: Path) -> None:
    """Remove what killed builds left beside ``out`` (their folders name their process;
    a build still running keeps its own)."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.(build|old)-(\d+)-")
    for path in out.parent.iterdir():
        match = pattern.match(path.name)
        if match and path.is_dir() and not _alive(int(match.group(2))):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def make_tmp(out: Path) -> Path:
    """A new, empty temporary folder beside ``out`` (leftovers of killed builds removed).

    Raises:
        GalleryError: the parent is not a writable folder.
    """
    parent = out.parent
    if parent.exists() and not parent.is_dir():
        raise GalleryError(
            f"cannot write the gallery to {relative_path(out)}: {relative_path(parent)} is "
            "not a directory"
        )
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(out)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.build-{os.getpid()}-", dir=parent))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise GalleryError(
            f"cannot write the gallery to {relative_path(out)}: {reason} "
            f"({relative_path(parent)})"
        ) from None


def carry_files(out: Path, tmp: Path, records: Sequence[dict[str, Any]]) -> None:
    """Copy the files of ``records`` (entries not rebuilt) from ``out`` into ``tmp``."""
    for record in records:
        for name in dict(record.get("files", {})).values():
            if Path(name).name == name and (out / name).is_file():
                shutil.copy2(out / name, tmp / name)


def replace_files(tmp: Path, out: Path, rebuilt: set[str]) -> None:
    """``--only``: each new file replaces its namesake atomically; the index goes last."""
    index_files = {INDEX_JSON, "index.html"}
    made = {p.name for p in tmp.iterdir()}
    for name in sorted(made - index_files):
        os.replace(tmp / name, out / name)
    for entry in rebuilt:  # outputs an entry no longer makes (e.g. a kind changed)
        for suffix in _SUFFIXES:
            stale = out / f"{entry}.{suffix}"
            if stale.name not in made:
                stale.unlink(missing_ok=True)
    for name in sorted(index_files):
        os.replace(tmp / name, out / name)


def swap_dir(tmp: Path, out: Path) -> None:
    """Full build: the new folder takes the old one's place (kept files carried over)."""
    if not out.exists():
        os.rename(tmp, out)
        return
    for name in _KEEP:
        if (out / name).is_file() and not (tmp / name).exists():
            shutil.copy2(out / name, tmp / name)
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
    old.rmdir()
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(old, out)  # put the good gallery back
        raise
    shutil.rmtree(old, ignore_errors=True)
