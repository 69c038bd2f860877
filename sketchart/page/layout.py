"""Stroke-3 sketches to vpype documents: grids, layers and pens.

This module is the bridge between the model's output (``strokes3`` arrays in dataset units,
y pointing down as on screen) and vpype's world (``vp.LineCollection`` / ``vp.Document`` in
CSS pixels, 1/96 in). It never imports TensorFlow or Keras: the vpype plugin imports it on
every ``vpype`` call.

The main entry point is :func:`layout_document`. The pieces it is made of live in
:mod:`~sketchart.page.geometry` (fitting, splitting), :mod:`~sketchart.page.grid`,
:mod:`~sketchart.page.pens` and :mod:`~sketchart.page.optimize`; they are re-exported here,
the names scripts and the plugin have always imported from this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import vpype as vp

from sketchart.errors import SketchartError
from sketchart.page.geometry import complex_to_lines, drawing_bounds, fit_lines, split_drawings
from sketchart.page.grid import Cell, GridSpec, grid_cells
from sketchart.page.optimize import optimize_document
from sketchart.page.pens import DEFAULT_PALETTE, numbered, parse_colors, pen_layer, renumbered
from sketchart.strokes import strokes3_to_lines

__all__ = [
    "DEFAULT_PALETTE",
    "LAYER_MODES",
    "Cell",
    "GridSpec",
    "add_layers",
    "check_layout",
    "complex_to_lines",
    "drawing_bounds",
    "fit_lines",
    "grid_cells",
    "layout_document",
    "optimize_document",
    "parse_colors",
    "record_sketch",
    "set_sketch_metadata",
    "split_drawings",
]

LAYER_MODES: tuple[str, ...] = ("single", "per-sketch", "per-stroke", "per-row")


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

    Layers (``vp_name``, ``vp_color`` and ``vp_pen_width`` set on each; every name starts
    with its layer number, :func:`~sketchart.page.pens.numbered`):

    - ``single``: every sketch in one layer named ``"1 name"``, the first colour;
    - ``per-sketch``: one layer per sketch (``"3 name 3"``), colours cycled;
    - ``per-stroke``: stroke ``k`` of every sketch goes to pen ``k mod len(colors)``, one
      layer per pen (``"2 name pen 2"``), for multi-colour prints with few pens;
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
        name_suffix: appended to every layer name (the commands put the seed there, so that
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
    count = max(len(sketches), 1)
    doc, box, cells = _page_cells(count, size, gap, layout, columns, rows, page_size)
    placed = [
        fit_lines(strokes3_to_lines(s), box, cell.center)
        for s, cell in zip(sketches, cells, strict=False)
    ]
    groups = _layer_groups(placed, cells, layers, name, len(palette))
    for k, (layer_name, lines) in enumerate(groups):
        lid = first_layer_id + k
        label = numbered(lid, layer_name + name_suffix)
        doc.add(pen_layer(label, palette[k % len(palette)], pen_width, lines), lid,
                with_metadata=True)
    if optimize:
        optimize_document(doc, seed=optimize_seed)
    return doc


def check_layout(
    count: int,
    *,
    size: float | None,
    gap: float = 0.0,
    layout: str = "grid",
    columns: int | None = None,
    rows: int | None = None,
    page_size: tuple[float, float] | None = None,
    layers: str = "single",
) -> None:
    """Raise what :func:`layout_document` would raise for ``count`` drawings with these
    options, before any drawing exists (the commands call it before they sample).

    Raises:
        SketchartError: an unknown mode, a bad size, or a grid that does not fit the page.
    """
    if layers not in LAYER_MODES:
        raise SketchartError(f"unknown layer mode {layers!r} (use {', '.join(LAYER_MODES)})")
    _page_cells(max(count, 1), size, gap, layout, columns, rows, page_size)


def _page_cells(
    count: int,
    size: float | None,
    gap: float,
    layout: str,
    columns: int | None,
    rows: int | None,
    page_size: tuple[float, float] | None,
) -> tuple[vp.Document, float, list[Cell]]:
    """The empty document (page set for a grid), the box side and the cells to fill."""
    if layout == "grid":
        spec, cells = grid_cells(
            count, size=size, gap=gap, columns=columns, rows=rows, page_size=page_size
        )
        return vp.Document(page_size=spec.page_size), spec.size, cells
    if layout == "cell":
        if size is None or size <= 0:
            raise SketchartError("the cell layout needs a positive box size")
        cells = [Cell(0, 0, (size / 2.0, size / 2.0))] * count
        return vp.Document(page_size=page_size), size, cells
    raise SketchartError(f"unknown layout {layout!r} (use grid or cell)")


def _layer_groups(
    placed: list[list[np.ndarray]], cells: list[Cell], layers: str, name: str, pens: int
) -> list[tuple[str, list[np.ndarray]]]:
    """Layer names and their polylines for a layer mode of :func:`layout_document`."""
    if layers == "single":
        return [(name, [line for lines in placed for line in lines])]
    if layers == "per-sketch":
        return [(f"{name} {i + 1}", lines) for i, lines in enumerate(placed)]
    groups: list[tuple[str, list[np.ndarray]]]
    if layers == "per-row":
        n_rows = max((cell.row for cell in cells[: len(placed)]), default=0) + 1
        groups = [(f"{name} row {r + 1}", []) for r in range(n_rows)]
        for lines, cell in zip(placed, cells, strict=False):
            groups[cell.row][1].extend(lines)
        return groups
    # per-stroke: stroke k of every sketch on pen k mod the pens used
    n_pens = min(pens, max((len(lines) for lines in placed), default=1)) or 1
    groups = [(f"{name} pen {k + 1}", []) for k in range(n_pens)]
    for lines in placed:
        for k, line in enumerate(lines):
            groups[k % n_pens][1].append(line)
    return groups


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


def record_sketch(document: vp.Document, **props: Any) -> None:
    """Record how a drawing was made (:func:`set_sketch_metadata`), with sketchart's version.

    A ``seed`` is also appended to ``sketchart_seeds``: every call of a pipeline (every cell
    of a vpype ``grid`` block) adds its own.
    """
    from sketchart import __version__

    seed = props.get("seed")
    if seed is not None:
        previous = document.property("sketchart_seeds")
        props["seeds"] = f"{previous} {seed}" if previous else str(seed)
    set_sketch_metadata(document, **props, version=__version__)


def add_layers(
    document: vp.Document, built: vp.Document, start: int | None = None
) -> list[int]:
    """Add ``built``'s layers to ``document`` as vpype's generators do; grow its page.

    The first layer goes to ``start`` (default: the first free id); when ``start`` already
    exists (the user named it), the lines join it and its name, colour and pen width stay.
    Every other layer is new: it takes the next free id after the previous one, never an
    existing layer's, with its properties and its name renumbered to its id.

    Returns:
        The ids written to, in order.
    """
    written: list[int] = []
    for k, built_id in enumerate(sorted(built.layers)):
        lc = built.layers[built_id]
        if k == 0:
            lid = document.free_id() if start is None else start
        else:
            lid = written[-1] + 1
            while lid in document.layers:
                lid += 1
        if lid in document.layers:
            document.add(lc, lid)  # lines only: a user's layer keeps its pen
        else:
            layer = vp.LineCollection(lc, metadata=dict(lc.metadata))
            name = layer.property(vp.METADATA_FIELD_NAME)
            if isinstance(name, str):
                layer.set_property(vp.METADATA_FIELD_NAME, renumbered(name, built_id, lid))
            document.add(layer, lid, with_metadata=True)
        written.append(lid)
    if built.page_size is not None:
        document.extend_page_size(built.page_size)
    return written
