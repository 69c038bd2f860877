"""Simplification: RDP (shapely and classic) and Google's QuickDraw simplification."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import ROOT, shared_path
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sketchart.data.simplify import (
    quickdraw_simplify,
    rdp_lines,
    rdp_points,
    rdp_strokes3,
    resample,
)
from sketchart.errors import SketchartError
from sketchart.strokes import lines_to_strokes3, strokes3_to_lines

CATEGORIES = ["cat", "bicycle", "tree", "face", "house", "bus", "fish", "star", "sun", "car"]


def _benchmark():
    spec = importlib.util.spec_from_file_location(
        "bench_simplify", ROOT / "benchmarks" / "simplify.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rdp_removes_collinear_and_small_wiggles():
    line = np.array([[0, 0], [1, 0.1], [2, -0.1], [3, 0], [3, 5]], float)
    for method in ("shapely", "classic"):
        out = rdp_points(line, 0.5, method)
        np.testing.assert_array_equal(out, [[0, 0], [3, 0], [3, 5]])
        np.testing.assert_array_equal(rdp_points(line, 0.0, method)[[0, -1]], line[[0, -1]])
    with pytest.raises(SketchartError):
        rdp_points(line, -1)
    with pytest.raises(SketchartError, match="unknown RDP method"):
        rdp_points(line, 1, "nope")


def test_classic_and_shapely_differ_where_documented():
    # a point beyond the chord's end: near the infinite line, far from the segment
    line = np.array([[0, 0], [10, 0], [12, 1], [5, 0.5], [6, 0]], float)
    assert len(rdp_points(line, 2.0, "classic")) == 2
    assert len(rdp_points(line, 2.0, "shapely")) == 3


def test_rdp_keeps_closed_strokes_and_dots():
    ring = np.array([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], float)
    out = rdp_points(ring, 1.0)
    np.testing.assert_array_equal(out[0], ring[0])
    np.testing.assert_array_equal(out[-1], ring[-1])
    there_and_back = np.array([[0, 0], [5, 0.1], [0, 0]], float)
    assert len(rdp_points(there_and_back, 10.0)) >= 2
    assert len(rdp_points(np.array([[3, 3]], float), 1.0)) == 1


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        hnp.arrays(
            np.float64,
            st.tuples(st.integers(1, 30), st.just(2)),
            elements=st.integers(-300, 300).map(float),
        ),
        min_size=1,
        max_size=6,
    ),
    st.floats(0.0, 20.0),
    st.sampled_from(["shapely", "classic"]),
)
def test_rdp_strokes3_properties(lines, epsilon, method):
    s3 = lines_to_strokes3(lines)
    out = rdp_strokes3(s3, epsilon, method)
    assert len(out) <= len(s3)
    # same strokes, same stroke ends (pen-up points), same total displacement
    before, after = strokes3_to_lines(s3), strokes3_to_lines(out)
    assert len(before) == len(after)
    for a, b in zip(before, after):
        np.testing.assert_allclose(b[[0, -1]], a[[0, -1]], atol=1e-3)
    # every original point lies within epsilon of the simplified stroke: of its segments
    # for GEOS, of the segments' lines for classic RDP (its distance measure)
    dist = _dist_to_segment if method == "shapely" else _dist_to_line
    for a, b in zip(before, after):
        if len(b) < 2:
            continue
        for p in a:
            d = min(dist(p, b[i], b[i + 1]) for i in range(len(b) - 1))
            assert d <= epsilon + 1e-6


def _dist_to_line(p, a, b):
    d = b - a
    n = float(np.hypot(*d))
    if n == 0:
        return float(np.hypot(*(p - a)))
    return abs(d[0] * (p - a)[1] - d[1] * (p - a)[0]) / n


def _dist_to_segment(p, a, b):
    d = b - a
    n2 = float(d @ d)
    t = 0.0 if n2 == 0 else min(1.0, max(0.0, float((p - a) @ d) / n2))
    return float(np.hypot(*(p - (a + t * d))))


def test_rdp_on_real_sheep(sheep_npz):
    from sketchart.data.npzsafe import read_npz

    sketches = read_npz(sheep_npz)["test"][:20]
    for s in sketches:
        out = rdp_strokes3(s, 2.0)
        assert len(out) <= len(s)
        np.testing.assert_allclose(out[:, 0:2].sum(axis=0), s[:, 0:2].sum(axis=0), atol=1e-3)
        assert (out[:, 2] == 1).sum() == (s[:, 2] == 1).sum()
    assert sum(len(rdp_strokes3(s, 5.0)) for s in sketches) < sum(len(s) for s in sketches)
    lines = rdp_lines(strokes3_to_lines(sketches[0]), 2.0)
    assert len(lines) == int(sketches[0][:, 2].sum())


def test_resample_spacing():
    pts = resample(np.array([[0, 0], [10, 0], [10, 2.5]], float), 1.0)
    steps = np.hypot(*np.diff(pts, axis=0).T)
    np.testing.assert_allclose(steps[:-1], 1.0)
    assert steps[-1] <= 1.0
    np.testing.assert_array_equal(pts[-1], [10, 2.5])
    np.testing.assert_array_equal(resample(np.array([[4.0, 4.0]])), [[4, 4], [4, 4]])


def test_quickdraw_simplify_scales_to_255_grid():
    raw = [[[100, 150, 300], [50, 60, 100], [0, 1, 2]], [[120], [80], [3]]]
    out = quickdraw_simplify(raw)
    allp = np.concatenate(out)
    assert allp.min() == 0 and allp.max() == 255
    assert len(out[1]) == 2 and (out[1][0] == out[1][1]).all()  # a dot keeps two points
    with pytest.raises(SketchartError):
        quickdraw_simplify([])
    with pytest.raises(SketchartError, match="stroke 0"):
        quickdraw_simplify([[[1, 2], [3]]])


def test_quickdraw_reproduction_on_a_subset():
    root = shared_path("data", "quickdraw")
    bench = _benchmark()
    pairs = bench.load_pairs(root, categories=CATEGORIES)
    assert len(pairs) >= 200
    figures = bench.measure(pairs)
    assert figures["same_count"] >= 0.95
    assert figures["mean_distance"] < 1.0


@pytest.mark.slow
def test_quickdraw_reproduction_on_all_7853():
    bench = _benchmark()
    figures = bench.measure(bench.load_pairs(shared_path("data", "quickdraw")))
    assert figures["pairs"] == 7853
    assert figures["same_count"] >= 0.95
    assert figures["mean_distance"] < 1.0
