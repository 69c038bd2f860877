"""Stroke-3 sketches to vpype documents: fitting, grids, layers, pens, optimisation.

This module is the bridge between the model's output (``strokes3`` arrays in dataset units,
y pointing down as on screen) and vpype's world (``vp.LineCollection`` / ``vp.Document`` in
CSS pixels, 1/96 in). It never imports TensorFlow or Keras: the vpype plugin imports it on
every ``vpype`` call.

The main entry point is :func:`layout_document`; the pieces it is made of
(:func:`fit_lines`, :func:`grid_cells`, :func:`optimize_document`, :func:`split_drawings`,
:func:`complex_to_lines`) are public for the plugin commands; stroke-3 <-> polylines
conversions live in :mod:`sketchart.strokes`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import vpype as vp

from sketchart.errors import SketchartError
from sketchart.strokes import strokes3_to_lines

__all__ = [
    "DEFAULT_PALETTE",
    "LAYER_MODES",
    "Cell",
    "GridSpec",
    "complex_to_lines",
    "drawing_bounds",
    "fit_lines",
    "grid_cells",
    "layout_document",
    "optimize_document",
    "parse_colors",
    "set_sketch_metadata",
    "split_drawings",
]

# Pen colours for multi-layer output: distinct, common fineliner colours, black first so a
# one-layer document is black.
DEFAULT_PALETTE: tuple[str, ...] = (
    "black",
    "#d62728",  # red
    "#1f77b4",  # blue
    "#2ca02c",  # green
    "#ff7f0e",  # orange
    "#9467bd",  # purple
    "#8c564b",  # brown
    "#17becf",  # teal
)

LAYER_MODES: tuple[str, ...] = ("single", "per-sketch", "per-stroke", "per-row")


def complex_to_lines(lines: Sequence[np.ndarray]) -> list[np.ndarray]:
    """vpype's 1-D complex paths (``x + iy``) as ``[k, 2]`` float64 polylines."""
    return [
        np.stack([np.real(line), np.imag(line)], axis=1).astype(np.float64) for line in lines
    ]


def drawing_bounds(lines: Sequence[np.ndarray]) -> tuple[float, float, float, float] | None:
    """``(xmin, ymin, xmax, ymax)`` of ``[k, 2]`` polylines, or None when there is no point."""
    pts = [np.asarray(line, dtype=np.float64).reshape(-1, 2) for line in lines if len(line)]
    if not pts:
        return None
    allp = np.vstack(pts)
    xmin, ymin = allp.min(axis=0)
    xmax, ymax = allp.max(axis=0)
    return float(xmin), float(ymin), float(xmax), float(ymax)


def fit_lines(
    lines: Sequence[np.ndarray], size: float, center: tuple[float, float]
) -> list[np.ndarray]:
    """Scale polylines uniformly so the larger side of their bounds is ``size``, centred.

    A drawing with no extent (one point, or all points equal) is moved to ``center``
    unscaled.

    Args:
        lines: ``[k, 2]`` polylines in any unit.
        size: side of the square box the drawing is fitted into (output unit, e.g. px).
        center: centre of the box.

    Returns:
        New ``[k, 2]`` float64 polylines.
    """
    bounds = drawing_bounds(lines)
    if bounds is None:
        return []
    xmin, ymin, xmax, ymax = bounds
    extent = max(xmax - xmin, ymax - ymin)
    scale = size / extent if extent > 0 else 1.0
    mid = np.array([(xmin + xmax) / 2.0, (ymin + ymax) / 2.0])
    out = np.asarray(center, dtype=np.float64)
    return [(np.asarray(line, dtype=np.float64) - mid) * scale + out for line in lines]


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
    if count < 1:
        raise SketchartError(f"a grid needs at least one cell, got {count}")
    if gap < 0:
        raise SketchartError(f"the gap must not be negative, got {_mm(gap)}")
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
    if size is None:
        if page_size is None:
            raise SketchartError("give a box size or a page size to fit the grid into")
        size = min(page_size[0] / columns, page_size[1] / rows) - gap
        if size <= 0:
            raise SketchartError(
                f"a {rows}x{columns} grid with a {_mm(gap)} gap does not fit the "
                f"{_mm(page_size[0])} x {_mm(page_size[1])} page"
            )
    if size <= 0:
        raise SketchartError(f"the box size must be positive, got {_mm(size)}")
    pitch = size + gap
    extent = (columns * pitch, rows * pitch)
    if page_size is None:
        page = extent
        offset = (0.0, 0.0)
    else:
        # a tolerance of a thousandth of a pixel: a size computed to fit must fit
        if extent[0] > page_size[0] + 1e-3 or extent[1] > page_size[1] + 1e-3:
            raise SketchartError(
                f"a {rows}x{columns} grid of {_mm(size)} boxes with a {_mm(gap)} gap needs "
                f"{_mm(extent[0])} x {_mm(extent[1])}, more than the "
                f"{_mm(page_size[0])} x {_mm(page_size[1])} page"
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


def _mm(px: float) -> str:
    return f"{px / vp.convert_length('mm'):.1f}mm"


def parse_colors(colors: str | Sequence[str] | None) -> list[vp.Color]:
    """Pen colours from a comma-separated string or a list; None gives the default palette.

    Raises:
        SketchartError: a colour that neither SVG nor vpype knows.
    """
    if colors is None:
        names: Sequence[str] = DEFAULT_PALETTE
    elif isinstance(colors, str):
        # commas inside rgb(...) do not separate colours
        names = [c.strip() for c in re.split(r",(?![^()]*\))", colors) if c.strip()]
    else:
        names = list(colors)
    if not names:
        raise SketchartError("no pen colour given")
    out = []
    for name in names:
        if not _known_color(name):
            raise SketchartError(f"unknown colour {name!r}")
        out.append(vp.Color(name))
    return out


def _known_color(name: str) -> bool:
    # svgelements turns any unknown name into black: tell a real black from a typo
    import svgelements

    if svgelements.Color.parse(name) != svgelements.Color.parse("black"):
        return True
    low = name.replace(" ", "").lower()
    return low == "black" or any(
        regex.match(low)
        for regex in (
            svgelements.REGEX_COLOR_HEX,
            svgelements.REGEX_COLOR_RGB,
            svgelements.REGEX_COLOR_RGB_PERCENT,
            svgelements.REGEX_COLOR_HSL,
        )
    )


def _new_layer(
    name: str, color: vp.Color, pen_width: float | None, lines: Sequence[np.ndarray] = ()
) -> vp.LineCollection:
    lc = vp.LineCollection()
    for line in lines:
        _append(lc, line)
    lc.set_property(vp.METADATA_FIELD_NAME, name)
    lc.set_property(vp.METADATA_FIELD_COLOR, color)
    if pen_width is not None:
        lc.set_property(vp.METADATA_FIELD_PEN_WIDTH, float(pen_width))
    return lc


def _append(lc: vp.LineCollection, line: np.ndarray) -> None:
    # a one-point polyline has no length: vpype's writers skip it, and so do we
    if len(line) >= 2:
        lc.append(line[:, 0] + 1j * line[:, 1])


def layout_document(
    sketches: Sequence[np.ndarray],
    *,
    size: float | None,
    gap: float = 0.0,
    layout: str = "grid",
    columns: int | None = None,
    rows: int | None = None,
    page_size: tuple[float, float] | None = None,
    layers: str = "single",
    colors: str | Sequence[str] | None = None,
    name: str = "sketch",
    name_suffix: str = "",
    pen_width: float | None = None,
    first_layer_id: int = 1,
    optimize: bool = False,
    optimize_seed: int = 0,
) -> vp.Document:
    """Lay out stroke-3 sketches in a vpype document, one pen per layer.

    ``layout="grid"`` places the sketches in the cells of :func:`grid_cells` (reading order)
    and sets the page; ``layout="cell"`` fits them all into one box whose top-left corner is
    the origin, for vpype's ``grid`` block to place, and leaves the page unset.

    Layers (``vp_name``, ``vp_color`` and ``vp_pen_width`` set on each):

    - ``single``: every sketch in one layer named ``name``, the first colour;
    - ``per-sketch``: one layer per sketch (``"name 3"``), colours cycled;
    - ``per-stroke``: stroke ``k`` of every sketch goes to pen ``k mod len(colors)``, one
      layer per pen (``"name pen 2"``), for multi-colour prints with few pens;
    - ``per-row``: one layer per grid row (interpolation rows).

    Args:
        sketches: ``strokes3`` arrays (any unit; each is fitted into its box).
        size: box side in px (None: fit the page, grid layout only).
        gap: space between boxes in px.
        layout: ``"grid"`` or ``"cell"``.
        columns: grid columns (default: about square).
        rows: grid rows (default: as many as needed).
        page_size: page in px the grid is centred on and must fit.
        layers: one of :data:`LAYER_MODES`.
        colors: comma-separated pen colours (default :data:`DEFAULT_PALETTE`).
        name: base of the layer names.
        name_suffix: appended to every layer name (the plugin puts the seed there, so that
            a plain ``write`` keeps it in the SVG's layer labels).
        pen_width: pen width in px, or None to leave it unset.
        first_layer_id: id of the first layer written.
        optimize: run :func:`optimize_document` on the result.
        optimize_seed: seed of the optimisation's random seams (``reloop``).

    Returns:
        A new ``vp.Document``.

    Raises:
        SketchartError: an unknown mode, a bad size, or a grid that does not fit the page.
    """
    if layers not in LAYER_MODES:
        raise SketchartError(f"unknown layer mode {layers!r} (use {', '.join(LAYER_MODES)})")
    palette = parse_colors(colors)
    if layout == "grid":
        spec, cells = grid_cells(
            max(len(sketches), 1),
            size=size,
            gap=gap,
            columns=columns,
            rows=rows,
            page_size=page_size,
        )
        box = spec.size
        doc = vp.Document(page_size=spec.page_size)
    elif layout == "cell":
        if size is None or size <= 0:
            raise SketchartError("the cell layout needs a positive box size")
        box = size
        cells = [Cell(0, 0, (size / 2.0, size / 2.0))] * max(len(sketches), 1)
        doc = vp.Document(page_size=page_size)
    else:
        raise SketchartError(f"unknown layout {layout!r} (use grid or cell)")

    placed = [
        fit_lines(strokes3_to_lines(s), box, cell.center)
        for s, cell in zip(sketches, cells, strict=False)
    ]
    groups: list[tuple[str, list[np.ndarray]]] = []
    if layers == "single":
        groups.append((name, [line for lines in placed for line in lines]))
    elif layers == "per-sketch":
        groups = [(f"{name} {i + 1}", lines) for i, lines in enumerate(placed)]
    elif layers == "per-row":
        n_rows = max((cell.row for cell in cells[: len(placed)]), default=0) + 1
        groups = [(f"{name} row {r + 1}", []) for r in range(n_rows)]
        for lines, cell in zip(placed, cells, strict=False):
            groups[cell.row][1].extend(lines)
    else:  # per-stroke
        n_pens = min(len(palette), max((len(lines) for lines in placed), default=1)) or 1
        groups = [(f"{name} pen {k + 1}", []) for k in range(n_pens)]
        for lines in placed:
            for k, line in enumerate(lines):
                groups[k % n_pens][1].append(line)
    for k, (layer_name, lines) in enumerate(groups):
        lc = _new_layer(layer_name + name_suffix, palette[k % len(palette)], pen_width, lines)
        doc.add(lc, first_layer_id + k, with_metadata=True)
    if optimize:
        optimize_document(doc, seed=optimize_seed)
    return doc


def optimize_document(
    document: vp.Document,
    *,
    merge_tolerance: float | None = None,
    simplify_tolerance: float | None = None,
    reloop_tolerance: float | None = None,
    seed: int = 0,
) -> vp.Document:
    """Run vpype's plot-optimisation chain on every layer, in place.

    The chain is ``linemerge linesimplify reloop linesort`` with vpype's default tolerances
    (0.05 mm), done with the same vpype primitives those commands use: merging paths whose
    ends meet, Douglas-Peucker simplification (shapely, ``preserve_topology=False`` as vpype),
    random seams for closed paths, then greedy nearest-neighbour ordering with path flipping.
    The seams come from ``seed`` rather than numpy's global generator so the same seed gives
    the same file.

    Args:
        document: the document to optimise (modified and returned).
        merge_tolerance: ``linemerge`` tolerance in px (default 0.05 mm).
        simplify_tolerance: ``linesimplify`` tolerance in px (default 0.05 mm).
        reloop_tolerance: ``reloop`` tolerance in px (default 0.05 mm).
        seed: seed of the seam positions.

    Returns:
        ``document``.
    """
    default = vp.convert_length("0.05mm")
    merge_tol = default if merge_tolerance is None else merge_tolerance
    simplify_tol = default if simplify_tolerance is None else simplify_tolerance
    reloop_tol = default if reloop_tolerance is None else reloop_tolerance
    rng = np.random.default_rng(seed)
    for layer_id in list(document.ids()):
        lc = document.layers[layer_id]
        lc.merge(tolerance=merge_tol, flip=True)
        if len(lc):
            mls = lc.as_mls().simplify(tolerance=simplify_tol, preserve_topology=False)
            lc = lc.clone(mls)
        for i, line in enumerate(lc.lines):
            delta = line[-1] - line[0]
            if len(line) > 2 and abs(delta) <= reloop_tol:
                lc.lines[i] = vp.reloop(line, loc=int(rng.integers(len(line) - 1)))
        document.replace(_sort_lines(lc), layer_id, with_metadata=True)
    return document


def _sort_lines(lines: vp.LineCollection) -> vp.LineCollection:
    """vpype's greedy ``linesort``: nearest next path, flipped when that is shorter."""
    if len(lines) < 2:
        return lines
    index = vp.LineIndex(lines[1:], reverse=True)
    out = lines.clone([lines[0]])
    while len(index) > 0:
        idx, reverse = index.find_nearest(out[-1][-1])
        line = index.pop(idx)
        if line is not None:
            out.append(np.flip(line) if reverse else line)
    # as vpype: keep the original order when sorting made travel longer
    if out.pen_up_length()[0] > lines.pen_up_length()[0]:
        return lines
    return out


def set_sketch_metadata(document: vp.Document, **props: Any) -> None:
    """Record how a drawing was made in the document's properties.

    Each ``key=value`` becomes two global properties: ``sketchart_<key>`` (for ``proplist``
    and for gwrite templates, ``{sketchart_seed}``) and ``svg_data-sketchart-<key>`` which
    ``write --restore-attribs`` writes as a ``data-sketchart-<key>`` attribute of the SVG
    root. None values are skipped.
    """
    for key, value in props.items():
        if value is None:
            continue
        document.set_property(f"sketchart_{key}", value)
        document.set_property(f"svg_data-sketchart-{key.replace('_', '-')}", str(value))


def split_drawings(lines: Sequence[np.ndarray], margin: float = 0.0) -> list[list[np.ndarray]]:
    """Group polylines into drawings: paths whose bounding boxes touch belong together.

    Sketches laid out in a grid have disjoint boxes, while the strokes of one sketch overlap
    (an eye inside a head). Boxes grown by ``margin`` that intersect are merged
    transitively (union-find); groups come back in reading order (rows of groups whose
    vertical extents overlap, top to bottom, each row left to right) and keep their paths'
    order.

    Args:
        lines: ``[k, 2]`` polylines.
        margin: how far apart two boxes may be and still be one drawing.

    Returns:
        A list of drawings, each a list of polylines.
    """
    items = [np.asarray(line, dtype=np.float64) for line in lines if len(line)]
    if not items:
        return []
    boxes = np.array(
        [[*line.min(axis=0) - margin, *line.max(axis=0) + margin] for line in items]
    )
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # merge until stable: the union of two boxes can reach a third that neither reached
    changed = True
    while changed:
        changed = False
        groups: dict[int, list[int]] = {}
        for i in range(len(items)):
            groups.setdefault(find(i), []).append(i)
        roots = list(groups)
        gbox = {
            r: np.concatenate(
                [boxes[groups[r], :2].min(axis=0), boxes[groups[r], 2:].max(axis=0)]
            )
            for r in roots
        }
        for a_i, a in enumerate(roots):
            for b in roots[a_i + 1 :]:
                ra, rb = find(a), find(b)
                if ra == rb:
                    continue
                ba, bb = gbox[a], gbox[b]
                if ba[0] <= bb[2] and bb[0] <= ba[2] and ba[1] <= bb[3] and bb[1] <= ba[3]:
                    parent[rb] = ra
                    changed = True
    groups = {}
    for i in range(len(items)):
        groups.setdefault(find(i), []).append(i)
    return [[items[i] for i in idx] for idx in _reading_order(list(groups.values()), boxes)]


def _reading_order(groups: list[list[int]], boxes: np.ndarray) -> list[list[int]]:
    """Sort groups of paths into rows (overlapping vertical spans), each left to right."""
    spans = [(boxes[g, 1].min(), boxes[g, 3].max(), boxes[g, 0].min(), g) for g in groups]
    spans.sort(key=lambda s: (s[0] + s[1]) / 2.0)
    rows: list[list[tuple]] = []
    row_bottom = -math.inf
    for span in spans:
        if rows and span[0] < row_bottom:
            rows[-1].append(span)
            row_bottom = max(row_bottom, span[1])
        else:
            rows.append([span])
            row_bottom = span[1]
    return [span[3] for row in rows for span in sorted(row, key=lambda s: s[2])]
