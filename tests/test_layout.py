"""Tests of sketchart.page.layout: stroke-3 sketches to vpype documents."""

from __future__ import annotations

import io

import numpy as np
import pytest
import vpype as vp

from sketchart.data.npzsafe import read_npz
from sketchart.errors import SketchartError
from sketchart.page import layout
from sketchart.strokes import strokes3_to_lines

MM = vp.convert_length("mm")


@pytest.fixture(scope="module")
def sheep_sketches(sheep_npz) -> list[np.ndarray]:
    """The first 100 test sketches of aaron_sheep (int16 stroke-3, dataset units)."""
    return list(read_npz(sheep_npz)["test"][:100])


def _bounds(lc: vp.LineCollection) -> tuple[float, float, float, float]:
    b = lc.bounds()
    assert b is not None
    return b


def test_fit_lines_larger_side_is_size_and_centred():
    lines = [np.array([[10.0, 10.0], [30.0, 10.0]]), np.array([[10.0, 0.0], [10.0, 50.0]])]
    out = layout.fit_lines(lines, 100.0, (200.0, 300.0))
    allp = np.vstack(out)
    assert allp[:, 1].max() - allp[:, 1].min() == pytest.approx(100.0)
    assert allp[:, 0].max() - allp[:, 0].min() == pytest.approx(40.0)
    assert (allp.min(axis=0) + allp.max(axis=0)) / 2 == pytest.approx([200.0, 300.0])
    # proportions are kept: a uniform scale
    assert np.allclose(np.diff(out[0], axis=0), [[40.0, 0.0]])


def test_fit_lines_degenerate_and_empty():
    assert layout.fit_lines([], 10.0, (0.0, 0.0)) == []
    out = layout.fit_lines([np.array([[3.0, 4.0], [3.0, 4.0]])], 10.0, (1.0, 2.0))
    assert np.allclose(out[0], [[1.0, 2.0], [1.0, 2.0]])


def test_grid_cells_default_square_and_page():
    spec, cells = layout.grid_cells(10, size=100.0, gap=20.0)
    assert (spec.rows, spec.columns) == (3, 4)
    assert spec.page_size == (4 * 120.0, 3 * 120.0)
    assert [c.center for c in cells[:2]] == [(60.0, 60.0), (180.0, 60.0)]
    assert (cells[-1].row, cells[-1].column) == (2, 1)


def test_grid_cells_centred_on_page_and_fit_to_page():
    page = vp.PAGE_SIZES["a4"]
    spec, _cells = layout.grid_cells(4, size=100.0, gap=10.0, columns=2, page_size=page)
    assert spec.offset == pytest.approx(((page[0] - 220) / 2, (page[1] - 220) / 2))
    spec, _ = layout.grid_cells(12, size=None, gap=10.0, rows=3, columns=4, page_size=page)
    assert spec.size == pytest.approx(page[0] / 4 - 10.0)
    assert spec.columns * spec.pitch <= page[0] + 1e-6
    assert spec.rows * spec.pitch <= page[1] + 1e-6


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"count": 0, "size": 10.0, "gap": 0.0}, "at least one cell"),
        ({"count": 4, "size": -1.0, "gap": 0.0}, "must be positive"),
        (
            {"count": 30, "size": 200.0, "gap": 10.0, "page_size": (793.7, 1122.5)},
            "more than the",
        ),
        (
            {"count": 4, "size": None, "gap": 900.0, "page_size": (793.7, 1122.5)},
            "does not fit",
        ),
        ({"count": 4, "size": None, "gap": 1.0}, "give a box size or a page size"),
        ({"count": 5, "size": 1.0, "gap": 0.0, "rows": 2, "columns": 2}, "cannot hold 5"),
    ],
)
def test_grid_cells_errors(kwargs, message):
    count = kwargs.pop("count")
    with pytest.raises(SketchartError, match=message):
        layout.grid_cells(count, **kwargs)


def test_layout_single_layer_real_sketches(sheep_sketches):
    sketches = sheep_sketches[:6]
    doc = layout.layout_document(
        sketches, size=30 * MM, gap=5 * MM, columns=3, name="sheep", pen_width=0.3 * MM
    )
    assert list(doc.layers) == [1]
    lc = doc.layers[1]
    assert lc.property(vp.METADATA_FIELD_NAME) == "1 sheep"
    assert lc.property(vp.METADATA_FIELD_COLOR) == vp.Color("black")
    assert lc.property(vp.METADATA_FIELD_PEN_WIDTH) == pytest.approx(0.3 * MM)
    assert doc.page_size == pytest.approx((3 * 35 * MM, 2 * 35 * MM))
    n_paths = sum(sum(len(line) >= 2 for line in strokes3_to_lines(s)) for s in sketches)
    assert len(lc) == n_paths
    # every sketch stays inside its cell, with the larger side equal to the box
    xmin, ymin, xmax, ymax = _bounds(lc)
    assert xmin >= 2.5 * MM - 1e-6 and ymin >= 2.5 * MM - 1e-6
    assert xmax <= 3 * 35 * MM - 2.5 * MM + 1e-6 and ymax <= 2 * 35 * MM - 2.5 * MM + 1e-6


def test_layout_per_sketch_layers_names_colours(sheep_sketches):
    doc = layout.layout_document(
        sheep_sketches[:10], size=20 * MM, gap=2 * MM, layers="per-sketch", name="sheep"
    )
    assert list(doc.layers) == list(range(1, 11))
    names = [doc.layers[i].property(vp.METADATA_FIELD_NAME) for i in doc.layers]
    assert names == [f"{i} sheep {i}" for i in range(1, 11)]
    colours = [doc.layers[i].property(vp.METADATA_FIELD_COLOR) for i in doc.layers]
    palette = [vp.Color(c) for c in layout.DEFAULT_PALETTE]
    assert colours == [palette[i % len(palette)] for i in range(10)]
    for lid in doc.layers:
        xmin, ymin, xmax, ymax = _bounds(doc.layers[lid])
        assert max(xmax - xmin, ymax - ymin) == pytest.approx(20 * MM)


def test_layout_per_stroke_cycles_pens(sheep_sketches):
    sketches = sheep_sketches[:4]
    doc = layout.layout_document(
        sketches, size=20 * MM, gap=0.0, layers="per-stroke", colors="red,blue,green"
    )
    assert len(doc.layers) == 3
    assert [doc.layers[i].property(vp.METADATA_FIELD_COLOR) for i in (1, 2, 3)] == [
        vp.Color("red"),
        vp.Color("blue"),
        vp.Color("green"),
    ]
    per_pen = [0, 0, 0]
    for s in sketches:
        for k, line in enumerate(strokes3_to_lines(s)):
            per_pen[k % 3] += len(line) >= 2
    assert [len(doc.layers[i]) for i in (1, 2, 3)] == per_pen


def test_layout_cell_mode_and_errors(sheep_sketches):
    doc = layout.layout_document(sheep_sketches[:1], size=50.0, layout="cell")
    assert doc.page_size is None
    xmin, ymin, xmax, ymax = _bounds(doc.layers[1])
    assert xmin >= -1e-9 and ymin >= -1e-9 and xmax <= 50 + 1e-9 and ymax <= 50 + 1e-9
    with pytest.raises(SketchartError, match="unknown layer mode"):
        layout.layout_document(sheep_sketches[:1], size=50.0, layers="per-pen")
    with pytest.raises(SketchartError, match="unknown layout"):
        layout.layout_document(sheep_sketches[:1], size=50.0, layout="spiral")
    with pytest.raises(SketchartError, match="unknown colour 'notacolour'"):
        layout.layout_document(sheep_sketches[:1], size=50.0, colors="red,notacolour")


def test_layout_empty_sketch_gives_empty_layer():
    doc = layout.layout_document([np.zeros((0, 3))], size=50.0)
    assert doc.layers[1].is_empty()


def test_optimize_keeps_ink_and_cuts_travel(sheep_sketches):
    doc = layout.layout_document(sheep_sketches, size=15 * MM, gap=3 * MM, columns=10)
    before = doc.clone(keep_layers=True)
    for lid in doc.layers:
        before.layers[lid] = doc.layers[lid].clone([line.copy() for line in doc.layers[lid]])
    layout.optimize_document(doc, seed=3)
    assert doc.pen_up_length() < 0.7 * before.pen_up_length()
    assert len(doc.layers[1]) <= len(before.layers[1])
    # simplification at 0.05 mm moves ink by at most that: drawn length nearly unchanged
    assert doc.length() == pytest.approx(before.length(), rel=0.02)
    # the layer keeps its pen
    assert doc.layers[1].property(vp.METADATA_FIELD_NAME) == "1 sketch"
    # ink neither moves nor disappears by more than the tolerance, in both directions
    import shapely

    def far(lines_from: vp.LineCollection, lines_to: vp.LineCollection) -> float:
        pts = np.concatenate(list(lines_from))
        return float(
            shapely.distance(lines_to.as_mls(), shapely.points(pts.real, pts.imag)).max()
        )

    assert far(doc.layers[1], before.layers[1]) < 0.051 * MM
    assert far(before.layers[1], doc.layers[1]) < 0.051 * MM


def test_optimize_is_deterministic_for_a_seed(sheep_sketches):
    def svg(seed: int) -> str:
        doc = layout.layout_document(
            sheep_sketches[:20], size=15 * MM, gap=3 * MM, optimize=True, optimize_seed=seed
        )
        out = io.StringIO()
        vp.write_svg(out, doc, set_date=False)
        return out.getvalue()

    assert svg(1) == svg(1)


def test_metadata_properties():
    doc = vp.Document()
    layout.set_sketch_metadata(doc, seed=7, temperature=0.4, model="flamingo", greedy=None)
    assert doc.property("sketchart_seed") == 7
    assert doc.property("svg_data-sketchart-temperature") == "0.4"
    assert not doc.property_exists("sketchart_greedy")


def test_split_drawings_grid_order(sheep_sketches):
    doc = layout.layout_document(sheep_sketches[:6], size=20 * MM, gap=6 * MM, columns=3)
    lines = layout.complex_to_lines(doc.layers[1])
    drawings = layout.split_drawings(lines, margin=2 * MM)
    assert len(drawings) == 6
    boxes = [layout.drawing_bounds(d) for d in drawings]
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
    expected = [
        (13 * MM + c * 26 * MM, 13 * MM + r * 26 * MM) for r in range(2) for c in range(3)
    ]
    assert np.allclose(centres, expected, atol=1e-6)
    assert sum(len(d) for d in drawings) == len(lines)


def test_parse_colors():
    assert layout.parse_colors("red, #00ff00,rgb(0,0,255)") == [
        vp.Color("red"),
        vp.Color(0, 255, 0),
        vp.Color(0, 0, 255),
    ]
    assert layout.parse_colors("Black") == [vp.Color("black")]
    with pytest.raises(SketchartError):
        layout.parse_colors(" , ")


def test_optimize_matches_vpypes_own_chain(sheep_sketches):
    """Same result as ``linemerge linesimplify reloop linesort`` run by vpype itself."""
    import vpype_cli

    ours = layout.layout_document(sheep_sketches[:30], size=15 * MM, gap=3 * MM)
    plain = layout.layout_document(sheep_sketches[:30], size=15 * MM, gap=3 * MM)
    theirs = vpype_cli.execute("linemerge linesimplify reloop linesort", document=plain)
    layout.optimize_document(ours, seed=0)
    assert len(ours.layers[1]) == len(theirs.layers[1])
    assert ours.segment_count() == theirs.segment_count()
    assert ours.length() == pytest.approx(theirs.length(), rel=1e-9)
    # seams of closed paths are random in both, so the sorted travel may differ a little
    assert ours.pen_up_length() == pytest.approx(theirs.pen_up_length(), rel=0.05)
