"""The plot journal: which paths are on paper, written atomically as the plot runs.

A JSON file records the drawing's fingerprint, the device and its firmware, the first
unfinished path (``next``: layer index, path index), the absolute carriage position (mm from
home) where an abort left it, whether that abort cut a path short, where the carriage was
parked, the chosen layers, the copies (how many, which one is plotting) and the settings,
and whether the plot completed. It is rewritten through a temporary file and
``os.replace`` after every finished path, so a crash or a pulled cable never leaves a
half-written journal.
``--resume`` starts at ``next``; a journal of another drawing or device is refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sketchart.errors import SketchartError
from sketchart.plot.paths import PlotDocument

__all__ = ["Journal", "default_journal_path", "peek_journal"]

FORMAT_VERSION = 1


def default_journal_path(source: str | Path | None, fingerprint: str = "") -> Path:
    """``drawing.svg`` -> ``drawing.svg.plot.json``, beside the drawing; without a file
    (a vpype pipeline that read none), ``./sketchart-plot-<fingerprint[:12]>.json``, so
    that two drawings never share (and overwrite) one journal."""
    if source is None or str(source).startswith("<"):
        return Path(f"sketchart-plot-{fingerprint[:12] or 'document'}.json")
    return Path(f"{source}.plot.json")


def peek_journal(path: str | Path) -> dict[str, Any]:
    """A journal's raw fields (``{}`` when there is none or it is unreadable).

    ``--resume`` reads the chosen layers and copies from it before the drawing is filtered.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class Journal:
    """Progress of one plot; see the module docstring.

    Attributes:
        path: where the journal lives.
        fingerprint: :meth:`PlotDocument.fingerprint` of the drawing.
        device: e.g. ``"axidraw V3/A4"`` or ``"grbl grbl-servo"``.
        next: first unfinished ``(layer, path)``.
        position: carriage XY in mm after an abort, when known.
        complete: every path is done.
        total: number of paths in the drawing.
        message: the last abort's reason, for the user.
        partial: the abort cut the path at ``next`` short (``--resume`` redraws it whole).
        parked: where the carriage waited after the abort (``"home"``, ``"stay"``).
        firmware: the plotter's firmware line, when it has one.
        layers: the chosen layer numbers (empty: all).
        copies: how many copies the plot makes.
        copy: the copy being plotted (0-based).
        settings: the plot's settings as the user gave them.
    """

    path: Path
    fingerprint: str
    device: str
    next: tuple[int, int] = (0, 0)
    position: tuple[float, float] | None = None
    complete: bool = False
    total: int = 0
    message: str = ""
    partial: bool = False
    parked: str = ""
    firmware: str = ""
    layers: list[int] = field(default_factory=list)
    copies: int = 1
    copy: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, path: str | Path, document: PlotDocument, device: str) -> Journal:
        """A fresh journal at the first path (written at once)."""
        journal = cls(Path(path), document.fingerprint(), device, total=document.path_count)
        journal._document = document  # type: ignore[attr-defined]
        journal.next = journal._normalise((0, 0))
        journal.save()
        return journal

    @classmethod
    def resume(cls, path: str | Path, document: PlotDocument, device: str) -> Journal:
        """Load a journal for ``document`` on ``device``.

        Raises:
            SketchartError: no journal, an unreadable one, or one of another drawing/device.
        """
        path = Path(path)
        if not path.is_file():
            raise SketchartError(f"{path}: no plot journal to resume (plot without --resume)")
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            journal = cls(
                path,
                str(data["fingerprint"]),
                str(data["device"]),
                tuple(int(v) for v in data["next"]),  # type: ignore[arg-type]
                tuple(float(v) for v in data["position"])  # type: ignore[arg-type]
                if data.get("position") is not None
                else None,
                bool(data.get("complete", False)),
                int(data.get("total", 0)),
                str(data.get("message", "")),
            )
            journal._load_extras(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SketchartError(f"{path}: not a readable plot journal ({exc})") from None
        if data.get("format_version") != FORMAT_VERSION:
            raise SketchartError(
                f"{path}: unknown journal format {data.get('format_version')}"
            )
        if journal.fingerprint != document.fingerprint():
            raise SketchartError(
                f"{path}: the journal belongs to another drawing (or the drawing changed); "
                "plot without --resume to start over"
            )
        if journal.device != device:
            raise SketchartError(
                f"{path}: the journal is for {journal.device!r}, not {device!r}"
            )
        journal._document = document  # type: ignore[attr-defined]
        return journal

    def _load_extras(self, data: dict[str, Any]) -> None:
        self.partial = bool(data.get("partial", False))
        self.parked = str(data.get("parked", ""))
        self.firmware = str(data.get("firmware", ""))
        self.layers = [int(n) for n in data.get("layers") or []]
        self.copies = int(data.get("copies", 1))
        self.copy = int(data.get("copy", 0))
        self.settings = dict(data.get("settings") or {})

    def _normalise(self, index: tuple[int, int]) -> tuple[int, int]:
        """Skip to the next existing path (over empty layers); past the end means done."""
        doc: PlotDocument = self._document  # type: ignore[attr-defined]
        li, pi = index
        while li < len(doc.layers) and pi >= len(doc.layers[li].lines):
            li, pi = li + 1, 0
        return li, pi

    @property
    def finished_paths(self) -> int:
        """How many paths are done."""
        doc: PlotDocument = self._document  # type: ignore[attr-defined]
        li, pi = self.next
        return sum(len(layer.lines) for layer in doc.layers[:li]) + pi

    def is_done(self) -> bool:
        """Whether ``next`` is past the last path."""
        doc: PlotDocument = self._document  # type: ignore[attr-defined]
        return self.next[0] >= len(doc.layers)

    def mark_done(self, layer_index: int, path_index: int) -> None:
        """Record that a path is on paper (paths finish in order) and save."""
        if (layer_index, path_index) < self.next:
            return
        if (layer_index, path_index) != self.next:
            raise SketchartError(
                f"journal: path {layer_index}:{path_index} finished before {self.next}"
            )
        self.next = self._normalise((layer_index, path_index + 1))
        self.save()

    def save(self) -> None:
        """Write atomically (temporary file in the same folder, then ``os.replace``)."""
        data = {
            "format_version": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "device": self.device,
            "next": list(self.next),
            "finished_paths": self.finished_paths,
            "total": self.total,
            "position": list(self.position) if self.position is not None else None,
            "complete": self.complete,
            "message": self.message,
            "partial": self.partial,
            "parked": self.parked,
            "firmware": self.firmware,
            "layers": list(self.layers),
            "copies": self.copies,
            "copy": self.copy,
            "settings": self.settings,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
