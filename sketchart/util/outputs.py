"""Output paths checked before any work: a command that will fail to write its result
says so at once, not after loading a model and sampling.

Standard library only.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sketchart.errors import SketchartError

__all__ = ["check_output"]


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_output(path: str | os.PathLike[str], suffixes: Sequence[str] = (),
                 option: str = "--output") -> Path:
    """Refuse an output file that cannot be written; returns it as a :class:`Path`.

    Args:
        path: the file a command will write (its folders may not exist yet: they are
            created when the file is written).
        suffixes: the accepted endings (``.svg``, ``.gen.json``; any case), if limited.
        option: the option's name, for the message.

    Raises:
        SketchartError: an unknown ending, an existing directory, a parent that is a
            file, or a folder this process cannot write in.
    """
    target = Path(path)
    if suffixes and not target.name.lower().endswith(tuple(s.lower() for s in suffixes)):
        raise SketchartError(f"{option} {target}: unknown file type; give a name ending in "
                             f"{' or '.join(suffixes)}")
    if target.is_dir():
        raise SketchartError(f"{option} {target}: is a directory; give a file name")
    folder = _nearest_existing(target.parent if str(target.parent) else Path("."))
    if not folder.is_dir():
        raise SketchartError(f"{option} {target}: {folder} is a file, not a folder")
    try:
        # a real write, not os.access: read-only mounts and root both answer truly
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise SketchartError(f"{option} {target}: cannot write in {folder} "
                             f"({exc.strerror or exc})") from None
    return target
