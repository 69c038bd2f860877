"""TensorBoard logging without TensorFlow, and sketches rendered to images.

Events are written with tensorboardX (pure Python + protobuf), so a JAX-only machine can
train and log. Scalars are grouped as ``train/*``, ``valid/*`` and ``test/*`` (cost,
r_cost, kl_cost; plus lr, kl_weight and steps_per_s under ``train/``); sample drawings are
one image per save (``samples``), a grid rendered with Pillow. NumPy + Pillow +
tensorboardX only (never Keras).

The event file is opened on the first event, not before: a run killed before it logged
anything leaves no event file, and :func:`remove_empty_event_files` removes the ones
that earlier versions left. Events are written in the calling thread (tensorboardX's
``EventsWriter``, not ``SummaryWriter``'s background thread): a full disk then raises
``OSError`` where the run can stop cleanly, where the thread would die with a traceback
and leave the next events blocked on its full queue.
"""

from __future__ import annotations

import contextlib
import os
import struct
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.strokes import strokes3_to_lines
from sketchart.util import raster

__all__ = [
    "TensorBoardLogger",
    "is_empty_event_file",
    "remove_empty_event_files",
    "render_grid",
    "render_strokes3",
]

_EVENTS_GLOB = "events.out.tfevents.*"
#: most seconds between writes to disk while events come in
_FLUSH_SECS = 30.0


def is_empty_event_file(path: Path) -> bool:
    """Whether ``path`` is an event file holding no event but the file header.

    A TFRecord is an 8-byte length, a 4-byte checksum, the data and another checksum;
    every event file starts with one record (the file version), so a single record (or
    a truncated one) means no event was ever logged.
    """
    if not path.name.startswith("events.out.tfevents.") or not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return True
            (length,) = struct.unpack("<Q", head)
            fh.seek(4 + length + 4, os.SEEK_CUR)
            return len(fh.read(8)) < 8
    except OSError:
        return False


def remove_empty_event_files(log_dir: Path) -> list[Path]:
    """Delete the event files in ``log_dir`` without events; returns them."""
    removed = [p for p in Path(log_dir).glob(_EVENTS_GLOB) if is_empty_event_file(p)]
    for path in removed:
        with contextlib.suppress(OSError):
            path.unlink()
    return removed


def render_strokes3(
    strokes3: np.ndarray, size: int = 128, margin: int = 6, width: int = 1
) -> np.ndarray:
    """One sketch drawn black on white, fitted and centred in a ``size`` square.

    Args:
        strokes3: ``[n, 3]`` offsets (any units: the drawing is scaled to fit).
        size: image side in pixels.
        margin: blank border in pixels.
        width: line width in pixels.

    Returns:
        ``uint8 [size, size, 3]`` RGB.
    """
    lines = strokes3_to_lines(np.asarray(strokes3, dtype=np.float64)) if len(strokes3) else []
    return raster.render_lines(lines, size=size, margin=margin, width=width)


def render_grid(
    sketches: Sequence[np.ndarray], cols: int | None = None, cell: int = 128, gap: int = 2
) -> np.ndarray:
    """Several sketches in a grid (row-major), separated by grey gaps.

    Args:
        sketches: stroke-3 arrays.
        cols: columns (default: about square).
        cell: side of each cell in pixels.
        gap: grey border between cells.

    Returns:
        ``uint8 [H, W, 3]`` RGB.
    """
    lines = [strokes3_to_lines(np.asarray(s, dtype=np.float64)) if len(s) else []
             for s in sketches]
    return raster.render_grid(lines, cols=cols, cell=cell, gap=gap)


class TensorBoardLogger:
    """Scalars and images into TensorBoard event files in ``log_dir``.

    Args:
        log_dir: folder of the event files (the training log root).
        purge_step: on resume, the step training restarts from; TensorBoard hides the
            events a killed run wrote after it, so replayed steps are not drawn twice.
        enabled: False makes every method a no-op (tests, ``--no-tensorboard``).
    """

    def __init__(
        self, log_dir: str | os.PathLike[str], purge_step: int | None = None,
        enabled: bool = True,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.enabled = enabled
        self._purge_step = purge_step
        self._writer: Any = None
        self._flushed = time.time()

    def _open(self) -> Any:
        # the file's header is written as soon as a writer exists
        if self._writer is None and self.enabled:
            from tensorboardX.event_file_writer import EventsWriter
            from tensorboardX.proto.event_pb2 import Event, SessionLog

            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._writer = EventsWriter(str(self.log_dir / "events"))
            if self._purge_step is not None:
                # what TensorBoard reads as "hide the events after this step"
                self._writer.write_event(Event(
                    step=self._purge_step, wall_time=time.time(),
                    session_log=SessionLog(status=SessionLog.START)))
        return self._writer

    def _write(self, summary: Any, step: int) -> None:
        from tensorboardX.proto.event_pb2 import Event

        writer = self._open()
        if writer is not None:
            now = time.time()
            writer.write_event(Event(summary=summary, step=step, wall_time=now))
            if now - self._flushed > _FLUSH_SECS:  # so TensorBoard sees a long run live
                self.flush()

    def scalars(self, group: str, values: Mapping[str, float], step: int) -> None:
        """Log ``values`` as ``group/name`` at ``step``."""
        if not self.enabled:
            return
        from tensorboardX.summary import scalar

        for name, value in values.items():
            self._write(scalar(f"{group}/{name}", float(value)), step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """Log one ``uint8 [H, W, 3]`` image."""
        if not self.enabled:
            return
        from tensorboardX.summary import image as image_summary

        self._write(image_summary(tag, image, dataformats="HWC"), step)

    def sketches(self, tag: str, sketches: Sequence[np.ndarray], step: int,
                 cols: int | None = None) -> None:
        """Render stroke-3 sketches into a grid image and log it."""
        if not self.enabled or not sketches:
            return
        self.image(tag, render_grid(sketches, cols=cols), step)

    def flush(self) -> None:
        """Write pending events to disk.

        Raises:
            OSError: the write failed (a full disk).
        """
        self._flushed = time.time()
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file; a failure here (a full disk) is not raised:
        close runs while a run ends, often because of that same failure."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.close()
