"""Polylines fitted into a square and drawn with Pillow: the one stroke rasteriser.

The TensorBoard sample grids, ``sketchart sample -o x.png`` and a shipped model's
``sample.png`` all draw through :func:`draw_fitted`. NumPy + Pillow only; callers turn
stroke-3 into absolute polylines first (:func:`sketchart.strokes.strokes3_to_lines`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["draw_fitted", "render_grid", "render_lines"]

#: grey of the gaps between the cells of :func:`render_grid`
GAP_GREY = 160


def draw_fitted(draw: Any, lines: Sequence[np.ndarray], origin: tuple[int, int], size: int,
                margin: int, width: int, dot_radius: int = 0) -> None:
    """Draw ``lines`` black, scaled and centred to fit the square at ``origin``.

    Args:
        draw: a ``PIL.ImageDraw.ImageDraw``.
        lines: absolute ``[k, 2]`` polylines (any units); a one-point line is a dot.
        origin: top-left corner of the square, in pixels.
        size: side of the square in pixels.
        margin: blank border inside the square in pixels.
        width: line width in pixels.
        dot_radius: a dot is a filled circle of this radius; 0 draws it as one pixel.
    """
    if not lines:
        return
    points = np.concatenate(lines)
    lo, hi = points.min(axis=0), points.max(axis=0)
    scale = (size - 2 * margin) / float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-9))
    centre = (lo + hi) / 2
    for line in lines:
        xy = (line - centre) * scale + np.array(origin) + size / 2
        coords = [(float(x), float(y)) for x, y in xy]
        if len(coords) > 1:
            draw.line(coords, fill="black", width=width, joint="curve")
        elif dot_radius:
            x, y = coords[0]
            draw.ellipse([x - dot_radius, y - dot_radius, x + dot_radius, y + dot_radius],
                         fill="black")
        else:
            draw.point(coords, fill="black")


def render_lines(lines: Sequence[np.ndarray], size: int = 128, margin: int = 6,
                 width: int = 1) -> np.ndarray:
    """One drawing black on white, fitted and centred in a ``size`` square.

    Returns:
        ``uint8 [size, size, 3]`` RGB.
    """
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), "white")
    draw_fitted(ImageDraw.Draw(image), lines, (0, 0), size, margin, width)
    return np.asarray(image, dtype=np.uint8)


def render_grid(drawings: Sequence[Sequence[np.ndarray]], cols: int | None = None,
                cell: int = 128, gap: int = 2) -> np.ndarray:
    """Several drawings (each a list of polylines) in a grid, row-major, with grey gaps.

    Args:
        drawings: the polylines of each drawing.
        cols: columns (default: about square).
        cell: side of each cell in pixels.
        gap: grey border between cells.

    Returns:
        ``uint8 [H, W, 3]`` RGB.
    """
    n = max(len(drawings), 1)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    height, width = rows * (cell + gap) + gap, cols * (cell + gap) + gap
    grid = np.full((height, width, 3), GAP_GREY, dtype=np.uint8)
    for k, lines in enumerate(drawings):
        r, c = divmod(k, cols)
        y, x = gap + r * (cell + gap), gap + c * (cell + gap)
        grid[y: y + cell, x: x + cell] = render_lines(lines, size=cell)
    return grid
