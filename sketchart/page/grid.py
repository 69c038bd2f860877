"""Grids of square boxes on a page (the same convention as vpype's ``grid`` block)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import vpype as vp

from sketchart.errors import SketchartError

__all__ = ["Cell", "GridSpec", "grid_cells", "mm_text"]


@dataclass(frozen=True)
class Cell:
    """One cell of a grid: its row, column and the centre of its square box (px)."""

    row: int
    column: int
    center: tuple[float, float]


@dataclass(frozen=True)
class GridSpec:
    """A grid of square cells: box ``size``, ``gap`` between boxes, page and offset."""

    rows: int
    columns: int
    size: float
    gap: float
    page_size: tuple[float, float]
    offset: tuple[float, float]

    @property
    def pitch(self) -> float:
        """Distance between the centres of two neighbouring cells."""
        return self.size + self.gap


def mm_text(px: float) -> str:
    """A length in px as millimetres for messages (``12.5mm``)."""
    return f"{px / vp.convert_length('mm'):.1f}mm"


def grid_cells(
    count: int,
    *,
    size: float | None,
    gap: float,
    columns: int | None = None,
    rows: int | None = None,
    page_size: tuple[float, float] | None = None,
) -> tuple[GridSpec, list[Cell]]:
    """Place ``count`` square boxes in a grid, row by row.

    Each cell is ``size + gap`` wide, so the grid's extent is ``columns * (size + gap)`` by
    ``rows * (size + gap)`` with half a gap of margin around each box (the same convention as
    vpype's ``grid`` block). Without a page, the page is that extent. With a page, the grid is
    centred on it; with a page and no ``size``, the largest size that fits is used.

    Args:
        count: number of cells to use.
        size: box side (px), or None to fit the page.
        gap: space between boxes (px).
        columns: columns; default ``ceil(sqrt(count))`` (or ``count / rows``).
        rows: rows; default the fewest that hold ``count`` cells.
        page_size: ``(width, height)`` px the grid must fit into.

    Returns:
        The grid's :class:`GridSpec` and its ``count`` cells in reading order.

    Raises:
        SketchartError: non-positive sizes or counts, or a grid that does not fit the page.
    """
    rows, columns = _grid_shape(count, gap, rows, columns)
    size = _box_size(size, gap, rows, columns, page_size)
    pitch = size + gap
    extent = (columns * pitch, rows * pitch)
    if page_size is None:
        page = extent
        offset = (0.0, 0.0)
    else:
        # a tolerance of a thousandth of a pixel: a size computed to fit must fit
        if extent[0] > page_size[0] + 1e-3 or extent[1] > page_size[1] + 1e-3:
            raise SketchartError(
                f"a {rows}x{columns} grid of {mm_text(size)} boxes with a {mm_text(gap)} gap "
                f"needs {mm_text(extent[0])} x {mm_text(extent[1])}, more than the "
                f"{mm_text(page_size[0])} x {mm_text(page_size[1])} page"
            )
        page = (float(page_size[0]), float(page_size[1]))
        offset = ((page[0] - extent[0]) / 2.0, (page[1] - extent[1]) / 2.0)
    spec = GridSpec(rows, columns, float(size), float(gap), page, offset)
    cells = []
    for i in range(count):
        r, c = divmod(i, columns)
        center = (offset[0] + (c + 0.5) * pitch, offset[1] + (r + 0.5) * pitch)
        cells.append(Cell(r, c, center))
    return spec, cells


def _grid_shape(
    count: int, gap: float, rows: int | None, columns: int | None
) -> tuple[int, int]:
    """Rows and columns holding ``count`` cells: about square unless given."""
    if count < 1:
        raise SketchartError(f"a grid needs at least one cell, got {count}")
    if gap < 0:
        raise SketchartError(f"the gap must not be negative, got {mm_text(gap)}")
    if columns is not None and columns < 1:
        raise SketchartError(f"columns must be at least 1, got {columns}")
    if rows is not None and rows < 1:
        raise SketchartError(f"rows must be at least 1, got {rows}")
    if columns is None:
        columns = math.ceil(count / rows) if rows else math.ceil(math.sqrt(count))
    if rows is None:
        rows = math.ceil(count / columns)
    if rows * columns < count:
        raise SketchartError(f"a {rows}x{columns} grid cannot hold {count} drawings")
    return rows, columns


def _box_size(
    size: float | None,
    gap: float,
    rows: int,
    columns: int,
    page_size: tuple[float, float] | None,
) -> float:
    """The box side: as given, or the largest that fits the page."""
    if size is None:
        if page_size is None:
            raise SketchartError("give a box size or a page size to fit the grid into")
        size = min(page_size[0] / columns, page_size[1] / rows) - gap
        if size <= 0:
            raise SketchartError(
                f"a {rows}x{columns} grid with a {mm_text(gap)} gap does not fit the "
                f"{mm_text(page_size[0])} x {mm_text(page_size[1])} page"
            )
    if size <= 0:
        raise SketchartError(f"the box size must be positive, got {mm_text(size)}")
    return size
