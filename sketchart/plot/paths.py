"""From a vpype document (or an SVG file) to ordered polylines in millimetres per layer.

vpype works in CSS pixels (1/96 in) with y pointing down; the plotters here take
millimetres with the origin at the pen's home corner and y pointing away from it, which is
the same orientation, so the only conversion is the unit. Layers keep vpype's order
(``Document.layers`` insertion order, the order ``gwrite`` writes them in) and paths keep
their order within a layer: the journal names a path by ``(layer index, path index)`` in
this order, so it must never change between a run and its resume.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from sketchart.errors import SketchartError

if TYPE_CHECKING:  # vpype is imported lazily: plotting from a list of arrays needs no vpype
    import vpype as vp

__all__ = [
    "MM_PER_PX",
    "PlotDocument",
    "PlotLayer",
    "check_travel",
    "document_from_lines",
    "document_from_vpype",
    "load_svg",
]

#: millimetres per CSS pixel (vpype's unit)
MM_PER_PX = 25.4 / 96.0


@dataclass
class PlotLayer:
    """One pen's worth of paths.

    Attributes:
        layer_id: vpype's layer id (1-based).
        name: the layer's ``vp_name`` or ``"layer <id>"``.
        lines: absolute polylines in mm, each ``float64 [k, 2]`` with ``k >= 1``.
        metadata: the layer's vpype properties (templates of G-code profiles may read them).
    """

    layer_id: int
    name: str
    lines: list[np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlotDocument:
    """Layers of mm polylines in plotting order, plus the page size in mm (or ``None``)."""

    layers: list[PlotLayer]
    page_size_mm: tuple[float, float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = "<document>"

    @property
    def path_count(self) -> int:
        """Number of paths over all layers."""
        return sum(len(layer.lines) for layer in self.layers)

    def bounds(self) -> tuple[float, float, float, float] | None:
        """``(xmin, ymin, xmax, ymax)`` in mm over every path, or ``None`` when empty."""
        points = [line for layer in self.layers for line in layer.lines]
        if not points:
            return None
        stacked = np.concatenate(points)
        return (
            float(stacked[:, 0].min()),
            float(stacked[:, 1].min()),
            float(stacked[:, 0].max()),
            float(stacked[:, 1].max()),
        )

    def fingerprint(self) -> str:
        """A hash of the geometry and its order, so a journal cannot resume another drawing."""
        digest = hashlib.sha256()
        for index, layer in enumerate(self.layers):
            digest.update(f"layer {index} {layer.layer_id} {len(layer.lines)};".encode())
            for line in layer.lines:
                # rounded to 1 µm: a resume must not fail on float noise of a re-read SVG
                digest.update(np.round(line * 1000.0).astype(np.int64).tobytes())
                digest.update(b"|")
        return digest.hexdigest()[:16]


def _clean_line(line: np.ndarray) -> np.ndarray:
    """Drop repeated consecutive points; they carry no motion but break direction maths."""
    if len(line) < 2:
        return line
    keep = np.ones(len(line), dtype=bool)
    keep[1:] = np.any(np.abs(np.diff(line, axis=0)) > 1e-9, axis=1)
    return line[keep]


def document_from_lines(
    layers: list[list[np.ndarray]] | list[np.ndarray],
    *,
    names: list[str] | None = None,
    page_size_mm: tuple[float, float] | None = None,
    source: str = "<lines>",
) -> PlotDocument:
    """Build a plot document from ``lines`` in mm (one list per layer, or one flat list).

    Args:
        layers: a list of layers, each a list of ``[k, 2]`` arrays; or a single list of arrays
            (one layer).
        names: optional layer names.
        page_size_mm: the page size, informative only.
        source: a name for messages.

    Returns:
        The document; empty paths are dropped.

    Raises:
        SketchartError: a path that is not ``[k, 2]`` or holds a non-finite value.
    """
    grouped: list[list[np.ndarray]]
    if layers and isinstance(layers[0], np.ndarray):
        grouped = [cast("list[np.ndarray]", layers)]
    else:
        grouped = cast("list[list[np.ndarray]]", layers)
    out: list[PlotLayer] = []
    for li, layer in enumerate(grouped):
        lines = []
        for pi, line in enumerate(layer):
            arr = np.asarray(line, dtype=np.float64)
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise SketchartError(
                    f"{source}: layer {li} path {pi} has shape {arr.shape}, expected [k, 2]"
                )
            if not np.all(np.isfinite(arr)):
                raise SketchartError(f"{source}: layer {li} path {pi} has a non-finite point")
            if len(arr):
                lines.append(_clean_line(arr))
        name = names[li] if names and li < len(names) else f"layer {li + 1}"
        out.append(PlotLayer(layer_id=li + 1, name=name, lines=lines))
    return PlotDocument(layers=out, page_size_mm=page_size_mm, source=source)


def document_from_vpype(
    document: vp.Document, source: str = "<vpype document>"
) -> PlotDocument:
    """Convert a ``vp.Document`` (CSS px) to a plot document in mm, keeping layer order."""
    layers: list[PlotLayer] = []
    for layer_id, lc in document.layers.items():
        lines = []
        for line in lc:
            if len(line) == 0:
                continue
            arr = np.column_stack([line.real, line.imag]).astype(np.float64) * MM_PER_PX
            if not np.all(np.isfinite(arr)):
                raise SketchartError(f"{source}: layer {layer_id} has a non-finite point")
            lines.append(_clean_line(arr))
        meta = dict(lc.metadata)
        name = str(meta.get("vp_name") or f"layer {layer_id}")
        layers.append(PlotLayer(layer_id=int(layer_id), name=name, lines=lines, metadata=meta))
    page = document.page_size
    page_mm = (page[0] * MM_PER_PX, page[1] * MM_PER_PX) if page else None
    return PlotDocument(
        layers=layers, page_size_mm=page_mm, metadata=dict(document.metadata), source=source
    )


def load_svg(path: str | Path, quantization_mm: float = 0.1) -> PlotDocument:
    """Read an SVG file with vpype (curves linearised at ``quantization_mm``).

    Raises:
        SketchartError: the file is missing or not a readable SVG.
    """
    import vpype as vp

    path = Path(path)
    if not path.is_file():
        raise SketchartError(f"{path}: no such file")
    try:
        doc = vp.read_multilayer_svg(str(path), quantization=quantization_mm / MM_PER_PX)
    except Exception as exc:  # vpype/svgelements raise many types for a broken file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SketchartError(f"{path}: not a readable SVG ({first})") from exc
    return document_from_vpype(doc, source=str(path))


def check_travel(
    document: PlotDocument, travel_mm: tuple[float, float], device: str = "plotter"
) -> None:
    """Refuse an empty drawing or one outside ``[0, W] x [0, H]`` mm, before anything moves.

    Raises:
        SketchartError: naming the drawing's extent and the travel.
    """
    bounds = document.bounds()
    if bounds is None:
        raise SketchartError(f"{document.source}: the document is empty (no paths to plot)")
    xmin, ymin, xmax, ymax = bounds
    width, height = travel_mm
    tol = 1e-6
    if xmin < -tol or ymin < -tol or xmax > width + tol or ymax > height + tol:
        raise SketchartError(
            f"{document.source}: drawing spans x {xmin:.2f}..{xmax:.2f} mm, "
            f"y {ymin:.2f}..{ymax:.2f} mm, outside the {device} travel "
            f"0..{width:g} x 0..{height:g} mm (move or scale it, e.g. vpype layout)"
        )
