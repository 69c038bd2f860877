"""vpype's plot optimisation (``linemerge linesimplify reloop linesort``), seeded."""

from __future__ import annotations

import numpy as np
import vpype as vp

__all__ = ["optimize_document"]


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
