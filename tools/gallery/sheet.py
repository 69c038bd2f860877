"""Sheets of drawings: a grid of cells, each holding coloured groups of polylines.

A :class:`Sheet` is the gallery's layout: every cell is a square box into which the
``lines`` of its groups are fitted together (so an original drawn in grey and its
continuation in black keep their relative positions), groups of the same layer key share a
vpype layer (one pen), and row / column labels are drawn in Hershey letters (plottable).
:meth:`Sheet.document` gives a ``vp.Document`` in CSS pixels; :func:`render_png` draws a
document with pillow (no browser, no cairo) and :func:`write_svg` writes it with vpype.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import vpype as vp

from sketchart.page.layout import fit_lines
from sketchart.page.pens import numbered

__all__ = ["LABEL_LAYER", "Sheet", "mm", "render_png", "write_svg"]

#: Layer key of the row / column labels.
LABEL_LAYER = "labels"
_LABEL_COLOR = "#777777"
_MM = vp.convert_length("mm")


@dataclass
class _Layer:
    name: str
    color: str


@dataclass
class Sheet:
    """A grid of square cells on a page.

    Attributes:
        rows: rows of cells.
        columns: columns of cells.
        cell: side of a cell's box in px (ignored when ``page_size`` is set: the largest
            box that fits is used).
        gap: space between boxes in px.
        margin: space around the grid (and its labels) in px.
        page_size: ``(width, height)`` px to centre the grid on, or None for a tight page.
        label_size: height of label letters in px.
    """

    rows: int
    columns: int
    cell: float = 96.0
    gap: float = 16.0
    margin: float = 12.0
    page_size: tuple[float, float] | None = None
    label_size: float = 13.0
    _layers: dict[str, _Layer] = field(default_factory=dict)
    _cells: dict[tuple[int, int], list[tuple[str, list[np.ndarray]]]] = field(
        default_factory=dict
    )
    _row_labels: dict[int, str] = field(default_factory=dict)
    _column_labels: dict[int, str] = field(default_factory=dict)

    def layer(self, key: str, name: str, color: str) -> None:
        """Declare a layer (pen): its vpype name and colour. Layers keep declaration order."""
        self._layers[key] = _Layer(name, color)

    def put(self, row: int, column: int, key: str, lines: Sequence[np.ndarray]) -> None:
        """Add polylines (any unit, y down) to a cell, in layer ``key``."""
        if not (0 <= row < self.rows and 0 <= column < self.columns):
            raise IndexError(
                f"cell ({row}, {column}) outside a {self.rows}x{self.columns} sheet"
            )
        if key not in self._layers:
            raise KeyError(f"layer {key!r} not declared")
        self._cells.setdefault((row, column), []).append((key, [np.asarray(x) for x in lines]))

    def label_row(self, row: int, text: str) -> None:
        """A label left of ``row``."""
        self._row_labels[row] = text

    def label_column(self, column: int, text: str) -> None:
        """A label above ``column``."""
        self._column_labels[column] = text

    # ----------------------------------------------------------------- geometry
    def _label_width(self) -> float:
        if not self._row_labels:
            return 0.0
        widths = [
            _text(t, self.label_size, "right").width() for t in self._row_labels.values()
        ]
        return max(widths) + self.gap

    def _header_height(self) -> float:
        return self.label_size * 1.6 if self._column_labels else 0.0

    def geometry(self) -> tuple[tuple[float, float], float, tuple[float, float]]:
        """``(page size, box side, top-left corner of the first cell)`` in px."""
        left, top = self._label_width(), self._header_height()
        if self.page_size is None:
            pitch = self.cell + self.gap
            page = (
                2 * self.margin + left + self.columns * pitch,
                2 * self.margin + top + self.rows * pitch,
            )
            return page, self.cell, (self.margin + left, self.margin + top)
        width, height = self.page_size
        pitch = min(
            (width - 2 * self.margin - left) / self.columns,
            (height - 2 * self.margin - top) / self.rows,
        )
        box = pitch - self.gap
        if box <= 0:
            raise ValueError("the grid does not fit the page")
        extent = (left + self.columns * pitch, top + self.rows * pitch)
        origin = ((width - extent[0]) / 2 + left, (height - extent[1]) / 2 + top)
        return (float(width), float(height)), box, origin

    def document(self) -> vp.Document:
        """The sheet as a vpype document: one layer per declared key, labels last."""
        page, box, (x0, y0) = self.geometry()
        pitch = box + self.gap
        per_layer: dict[str, list[np.ndarray]] = {key: [] for key in self._layers}
        for (row, column), groups in sorted(self._cells.items()):
            center = (x0 + column * pitch + pitch / 2, y0 + row * pitch + pitch / 2)
            flat = [line for _, lines in groups for line in lines]
            fitted = fit_lines(flat, box, center)
            if not fitted:
                continue
            start = 0
            for key, lines in groups:
                per_layer[key].extend(fitted[start : start + len(lines)])
                start += len(lines)
        doc = vp.Document(page_size=page)
        layer_id = 1
        for key, spec in self._layers.items():
            lc = vp.LineCollection()
            for line in per_layer[key]:
                if len(line) >= 2:  # a one-point line has no length: writers skip it
                    lc.append(line[:, 0] + 1j * line[:, 1])
            _add(doc, lc, layer_id, spec.name, spec.color)
            layer_id += 1
        labels = vp.LineCollection()
        for row, text in self._row_labels.items():
            cy = y0 + row * pitch + pitch / 2 + self.label_size / 3
            labels.extend(_text(text, self.label_size, "right", (x0 - self.gap / 2, cy)))
        for column, text in self._column_labels.items():
            cx = x0 + column * pitch + pitch / 2
            labels.extend(
                _text(text, self.label_size, "center", (cx, y0 - self.label_size / 2))
            )
        if len(labels):
            _add(doc, labels, layer_id, LABEL_LAYER, _LABEL_COLOR)
        return doc


def _text(
    text: str, size: float, align: str, at: tuple[float, float] = (0.0, 0.0)
) -> vp.LineCollection:
    # Hershey simplex letters: single strokes, so labels plot as cleanly as they render
    lc = vp.text_line(text, "futural", size, align=align)
    lc.translate(*at)
    return lc


def _add(
    doc: vp.Document, lc: vp.LineCollection, layer_id: int, name: str, color: str
) -> None:
    # the layer number first: plotter software (AxiDraw's layers mode) reads it there
    lc.set_property(vp.METADATA_FIELD_NAME, numbered(layer_id, name))
    lc.set_property(vp.METADATA_FIELD_COLOR, vp.Color(color))
    doc.add(lc, layer_id, with_metadata=True)


def write_svg(document: vp.Document, path: Path, source: str) -> None:
    """Write ``document`` as an SVG with vpype (layers as Inkscape layers, no date stamp,
    so an unchanged drawing rebuilds to the same bytes)."""
    buf = io.StringIO()
    vp.write_svg(buf, document, source_string=source, color_mode="default", set_date=False)
    _write_bytes(path, buf.getvalue().encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def render_png(
    document: vp.Document,
    path: Path,
    width: int = 1000,
    line_width: float = 1.4,
    supersample: int = 2,
) -> tuple[int, int]:
    """Draw ``document`` on white with pillow (each layer in its ``vp_color``).

    Lines are drawn ``supersample`` times larger and scaled down (antialiasing); the image
    is saved with a 32-colour palette.

    Args:
        document: a vpype document with a page size.
        path: the PNG to write.
        width: image width in pixels (the height follows the page's aspect).
        line_width: stroke width in output pixels.
        supersample: drawing scale before the downsampling.

    Returns:
        ``(width, height)`` of the image.
    """
    from PIL import Image, ImageDraw

    page = document.page_size or _bounds_page(document)
    scale = width / page[0]
    height = max(1, round(page[1] * scale))
    s = scale * supersample
    img = Image.new("RGB", (width * supersample, height * supersample), "white")
    draw = ImageDraw.Draw(img)
    stroke = max(1, round(line_width * supersample))
    for lc in document.layers.values():
        color = lc.property(vp.METADATA_FIELD_COLOR)
        rgb = (color.red, color.green, color.blue) if color is not None else (0, 0, 0)
        for line in lc:
            pts = [(float(p.real) * s, float(p.imag) * s) for p in line]
            if len(pts) >= 2:
                draw.line(pts, fill=rgb, width=stroke, joint="curve")
    img = img.resize((width, height), Image.Resampling.LANCZOS)
    # a line drawing needs few colours: a palette image is a third of the RGB file's size
    img = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    _write_bytes(path, buf.getvalue())
    return width, height


def _bounds_page(document: vp.Document) -> tuple[float, float]:
    bounds = document.bounds()
    if bounds is None:
        return (100.0, 100.0)
    return (bounds[2] + 10.0, bounds[3] + 10.0)


def mm(value: float) -> float:
    """Millimetres in CSS pixels."""
    return value * _MM
