"""Helpers for the plotter tests: test drawings and polyline comparison."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sketchart.plot.paths import PlotDocument, document_from_lines

__all__ = [
    "STEP_MM",
    "assert_polyline_close",
    "point_to_polyline",
    "quickdraw_document",
    "synthetic_document",
]

#: one motor step of the AxiDraw along an axis, mm (80 steps/mm)
STEP_MM = 1.0 / 80.0


def synthetic_document(
    seed: int = 0, layers: int = 2, paths_per_layer: int = 4
) -> PlotDocument:
    """Circles, zigzags with sharp reversals, spirals and a dot, inside 20..280 x 20..200
    mm."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(layers):
        layer = []
        for k in range(paths_per_layer):
            cx, cy = rng.uniform(50, 250), rng.uniform(50, 170)
            kind = k % 4
            if kind == 0:
                t = np.linspace(0, 2 * np.pi, 40)
                r = rng.uniform(5, 25)
                line = np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])
            elif kind == 1:
                n = int(rng.integers(4, 12))
                xs = cx + np.linspace(-20, 20, n)
                ys = cy + np.where(np.arange(n) % 2, 8.0, -8.0) + rng.normal(0, 1, n)
                line = np.column_stack([xs, ys])
                line = np.vstack([line, line[::-1][1:3]])  # a reversal
            elif kind == 2:
                t = np.linspace(0, 6 * np.pi, 60)
                line = np.column_stack([cx + t * np.cos(t), cy + t * np.sin(t)])
            else:
                line = np.array([[cx, cy]])  # a dot
            layer.append(line)
        out.append(layer)
    return document_from_lines(out, source="<synthetic>")


def quickdraw_document(path: Path, count: int = 6, cell_mm: float = 40.0) -> PlotDocument:
    """The first ``count`` QuickDraw drawings of a simplified ndjson file, in a grid."""
    lines = []
    with open(path, encoding="utf-8") as fh:
        for i, row in enumerate(fh):
            if i >= count:
                break
            drawing = json.loads(row)["drawing"]
            ox = 10 + (i % 5) * (cell_mm + 5)
            oy = 10 + (i // 5) * (cell_mm + 5)
            for xs, ys in drawing:
                pts = np.column_stack([xs, ys]).astype(np.float64) * (cell_mm / 255.0)
                lines.append(pts + [ox, oy])
    return document_from_lines([lines], source=str(path))


def point_to_polyline(p: np.ndarray, line: np.ndarray) -> float:
    """Distance from a point to a polyline (or to its single point)."""
    if len(line) == 1:
        return float(np.linalg.norm(p - line[0]))
    a, b = line[:-1], line[1:]
    ab = b - a
    denom = np.maximum(np.sum(ab * ab, axis=1), 1e-18)
    t = np.clip(np.sum((p - a) * ab, axis=1) / denom, 0.0, 1.0)
    return float(np.min(np.linalg.norm(a + t[:, None] * ab - p, axis=1)))


def assert_polyline_close(
    traced: np.ndarray, expected: np.ndarray, tol: float, prefix: bool = False
) -> None:
    """``traced`` follows ``expected`` within ``tol``: it hits every vertex in order (or a
    prefix of them when ``prefix``) and never strays more than ``tol`` from the polyline."""
    assert len(traced) >= 1
    for q in traced:
        d = point_to_polyline(q, expected)
        assert d <= tol, f"traced point {q} is {d:.4f} mm off the path"
    j = 0
    hit = 0
    for v in expected:
        while j < len(traced) and np.linalg.norm(traced[j] - v) > tol:
            j += 1
        if j == len(traced):
            break
        hit += 1
    if not prefix:
        assert hit == len(expected), f"only {hit} of {len(expected)} vertices were reached"
    else:
        assert hit >= 1 and np.linalg.norm(traced[0] - expected[0]) <= tol
