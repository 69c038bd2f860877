"""Polylines on the page: vpype paths to arrays, bounds, fitting into a box, drawings apart.

Polylines are ``[k, 2]`` float64 arrays in CSS pixels (vpype's unit, 1/96 in), y down.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["complex_to_lines", "drawing_bounds", "fit_lines", "split_drawings"]


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
    groups = _touching_groups(boxes)
    return [[items[i] for i in idx] for idx in _reading_order(groups, boxes)]


def _touching_groups(boxes: np.ndarray) -> list[list[int]]:
    """Indices of boxes grouped transitively by intersection (union-find)."""
    parent = list(range(len(boxes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def grouped() -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for i in range(len(boxes)):
            groups.setdefault(find(i), []).append(i)
        return groups

    # merge until stable: the union of two boxes can reach a third that neither reached
    changed = True
    while changed:
        changed = False
        groups = grouped()
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
    return list(grouped().values())


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
