"""SVG drawings as polylines: only the geometry that renders, within resource caps.

A drawing is what a viewer would show: shapes with a visible stroke (a colour that is not
``none`` or transparent, a non-zero width), not hidden by ``display:none`` or
``visibility:hidden``, and not inside ``defs``, ``symbol`` (unless a ``<use>`` places it),
``clipPath``, ``mask``, ``marker`` or ``pattern``. A file without any stroked shape falls back
to its visibly filled shapes' outlines (silhouettes drawn in fill only); an unstroked
``<rect fill="none">`` page background draws nothing and is never read as a frame.

Hostile files are refused before they cost time or memory: the file size, the nesting depth
and the element count after ``<use>`` expansion (a chain of doubling ``<use>`` grows
exponentially) are checked on the parsed tree before svgelements sees it, and curves are
flattened with a step relative to the drawing's size, with a cap on the points.
"""

from __future__ import annotations

import io
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from sketchart.errors import SketchartError

__all__ = ["MAX_SVG_BYTES", "MAX_SVG_DEPTH", "MAX_SVG_ELEMENTS", "MAX_SVG_POINTS",
           "read_svg_polylines"]

#: largest SVG file read
MAX_SVG_BYTES = 32 << 20
#: deepest element nesting (with ``<use>`` references followed)
MAX_SVG_DEPTH = 256
#: most elements once every ``<use>`` is expanded
MAX_SVG_ELEMENTS = 20_000
#: most points of one flattened drawing
MAX_SVG_POINTS = 200_000
#: largest absolute coordinate: beyond it float64 has no resolution left for a sketch
MAX_COORD = 1e12

_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
# containers whose content is paint or clipping, never drawn geometry
_NEVER_DRAWN = frozenset({"clipPath", "mask", "marker", "pattern"})


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _href(el: ET.Element) -> str | None:
    ref = el.get("href") or el.get(_XLINK_HREF)
    return ref[1:] if ref and ref.startswith("#") else None


def _parse(data: bytes, where: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise SketchartError(f"{where}: unreadable SVG ({exc})") from None


def _check_tree(root: ET.Element, where: str) -> None:
    """Refuse trees nested too deeply or that expand to too many elements."""
    ids: dict[str, ET.Element] = {}
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        if depth > MAX_SVG_DEPTH:
            raise SketchartError(f"{where}: SVG nested more than {MAX_SVG_DEPTH} deep")
        if el.get("id"):
            ids.setdefault(str(el.get("id")), el)
        stack.extend((child, depth + 1) for child in el)
    memo: dict[int, int] = {}
    busy: set[int] = set()

    def expanded(el: ET.Element, depth: int) -> int:
        key = id(el)
        if key in memo:
            return memo[key]
        if key in busy:
            raise SketchartError(f"{where}: a <use> refers to its own ancestor")
        if depth > MAX_SVG_DEPTH:
            raise SketchartError(f"{where}: <use> references nested more than "
                                 f"{MAX_SVG_DEPTH} deep")
        busy.add(key)
        total = 1 + sum(expanded(child, depth + 1) for child in el)
        ref = _href(el) if _local(el.tag) == "use" else None
        if ref is not None and ref in ids:
            total += expanded(ids[ref], depth + 1)
        busy.discard(key)
        if total > MAX_SVG_ELEMENTS:
            raise SketchartError(f"{where}: SVG expands to more than {MAX_SVG_ELEMENTS} "
                                 "elements (nested <use> references)")
        memo[key] = total
        return total

    expanded(root, 1)


def _drop_hidden_containers(root: ET.Element) -> None:
    """Remove paint/clip containers; move symbols into ``defs`` (drawn only when used)."""
    symbols: list[ET.Element] = []
    stack = [root]
    while stack:
        parent = stack.pop()
        for child in list(parent):
            name = _local(child.tag)
            if name in _NEVER_DRAWN:
                parent.remove(child)
            elif name == "symbol":
                parent.remove(child)
                symbols.append(child)
            elif name != "defs":
                stack.append(child)
    if symbols:
        defs = ET.SubElement(root, f"{{{_SVG_NS}}}defs")
        defs.extend(symbols)


def _paint_visible(paint: Any) -> bool:
    return paint is not None and getattr(paint, "value", None) is not None and (
        getattr(paint, "alpha", 255) != 0)


def _rendered_shapes(svg: Any) -> list[Any]:
    """Stroked visible shapes; the filled ones when nothing is stroked."""
    import svgelements as se

    stroked, filled = [], []
    for el in svg.elements():
        if not isinstance(el, se.Shape):
            continue
        if el.values.get("visibility") in ("hidden", "collapse"):
            continue
        if str(el.values.get("opacity", "1")).strip() in ("0", "0.0"):
            continue
        width = el.stroke_width if el.stroke_width is not None else 1.0
        if _paint_visible(el.stroke) and width > 0:
            stroked.append(el)
        elif _paint_visible(el.fill):
            filled.append(el)
    return stroked or filled


def _bounds(shapes: list[Any], where: str) -> tuple[float, float, float, float]:
    boxes = [box for box in (s.bbox() for s in shapes) if box is not None]
    if not boxes:
        raise SketchartError(f"{where}: no lines in SVG")
    arr = np.array(boxes, dtype=np.float64)
    if not np.isfinite(arr).all() or np.abs(arr).max() > MAX_COORD:
        raise SketchartError(f"{where}: SVG coordinates out of range (beyond ±{MAX_COORD:g})")
    return arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max()


def _segment_points(seg: Any, step: float) -> np.ndarray:
    """Points after the segment's start, ``step`` apart at most (an upper bound of length)."""
    import svgelements as se

    if isinstance(seg, (se.Line, se.Close)):
        return np.array([[seg.end.x, seg.end.y]], dtype=np.float64)
    if isinstance(seg, se.Arc):
        length = abs(seg.sweep) * max(abs(seg.rx), abs(seg.ry))
    else:
        pts = [(p.x, p.y) for p in (seg.start, getattr(seg, "control", None),
                                   getattr(seg, "control1", None),
                                   getattr(seg, "control2", None), seg.end) if p is not None]
        if len(pts) < 2:
            return np.zeros((0, 2))
        length = float(np.sum(np.hypot(*np.diff(np.array(pts), axis=0).T)))
    count = max(2, math.ceil(length / step) + 1) if math.isfinite(length) else -1
    if count < 0 or count > MAX_SVG_POINTS:
        raise _TooManyPoints
    return np.asarray(seg.npoint(np.linspace(0.0, 1.0, count))[1:], dtype=np.float64)


class _TooManyPoints(Exception):
    pass


def _flatten(shapes: list[Any], step: float) -> list[np.ndarray]:
    import svgelements as se

    lines: list[np.ndarray] = []
    budget = MAX_SVG_POINTS
    for shape in shapes:
        path = shape if isinstance(shape, se.Path) else se.Path(shape)
        current: list[np.ndarray] = []
        for seg in path:
            if isinstance(seg, se.Move) or not current:
                if current:
                    lines.append(np.concatenate(current))
                point = seg.end if isinstance(seg, se.Move) else seg.start
                current = [np.array([[point.x, point.y]])] if point is not None else []
                if isinstance(seg, se.Move):
                    continue
            pts = _segment_points(seg, step)
            budget -= len(pts)
            if budget < 0:
                raise _TooManyPoints
            current.append(pts)
        if current:
            lines.append(np.concatenate(current))
    return [line for line in lines if len(line) > 1]


def read_svg_polylines(path: str | os.PathLike[str], *, size: float | None,
                       quantization: float) -> list[np.ndarray]:
    """The rendered geometry of one SVG file as polylines in SVG user units.

    Curves are flattened every ``quantization`` units of the output (a drawing scaled so its
    larger side is ``size``), or every ``quantization`` SVG pixels when ``size`` is None.

    Raises:
        SketchartError: a missing, unreadable or oversized file, a resource bomb,
            coordinates out of range, or nothing that renders.
    """
    import svgelements as se  # deferred: svgelements is a large import

    where = str(path)
    try:
        if os.path.getsize(path) > MAX_SVG_BYTES:
            raise SketchartError(f"{where}: SVG larger than {MAX_SVG_BYTES >> 20} MB")
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SketchartError(f"{where}: no such file") from None
    except OSError as exc:
        raise SketchartError(f"{where}: cannot read ({exc.strerror or exc})") from None
    root = _parse(data, where)
    if _local(root.tag) != "svg":
        raise SketchartError(f"{where}: unreadable SVG (the root element is not <svg>)")
    _check_tree(root, where)
    _drop_hidden_containers(root)
    ET.register_namespace("", _SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    try:
        # overflow on absurd numbers is expected: the results are checked for finiteness
        with np.errstate(all="ignore"):
            svg = se.SVG.parse(io.BytesIO(ET.tostring(root)), reify=True)
            shapes = _rendered_shapes(svg)
            x0, y0, x1, y1 = _bounds(shapes, where)
            extent = max(x1 - x0, y1 - y0)
            step = quantization * extent / size if size and extent > 0 else quantization
            lines = _flatten(shapes, max(step, 1e-9))
    except SketchartError:
        raise
    except _TooManyPoints:
        raise SketchartError(f"{where}: SVG flattens to more than {MAX_SVG_POINTS} points"
                             ) from None
    # svgelements raises many unrelated types for a malformed file; any of them means the
    # SVG is unreadable, and the user needs the file name, not a traceback
    except Exception as exc:  # noqa: BLE001
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SketchartError(f"{where}: unreadable SVG ({detail[:200]})") from None
    if not lines or not all(np.isfinite(line).all() for line in lines):
        raise SketchartError(f"{where}: no lines in SVG")
    return lines
