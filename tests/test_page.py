"""Tests of the page layer's pieces: model frames, source drawings, options."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import vpype as vp
from conftest import shared_path

from sketchart.data.simplify import quickdraw_simplify
from sketchart.errors import SketchartError
from sketchart.page import frame, options, sources
from sketchart.page.layout import add_layers, layout_document, record_sketch

MM = vp.convert_length("mm")


def _quickdraw_pairs(category: str) -> list[tuple[list, list]]:
    """``(raw, simplified)`` drawings of a category with the same key_id."""
    root = shared_path("data", "quickdraw")

    def read(folder: str) -> dict[str, list]:
        with open(root / folder / f"{category}.ndjson") as fp:
            rows = [json.loads(line) for line in fp if line.strip()]
        return {row["key_id"]: row["drawing"] for row in rows}

    raw, simplified = read("raw"), read("simplified")
    return [(raw[k], simplified[k]) for k in sorted(raw.keys() & simplified.keys())]


def _on_page(raw: list, scale: float, offset: tuple[float, float]) -> list[np.ndarray]:
    return [np.column_stack([s[0], s[1]]).astype(np.float64) * scale + offset for s in raw]


@pytest.mark.parametrize("category", ["cat", "bicycle"])
def test_model_strokes_are_googles_simplification(category: str) -> None:
    """A raw QuickDraw drawing placed anywhere on a page becomes what Google published."""
    pairs = _quickdraw_pairs(category)
    assert len(pairs) >= 15
    same = exact = 0
    for raw, published in pairs:
        lines = _on_page(raw, 0.37, (120.0, 45.0))
        strokes3, model_frame = frame.to_model_strokes(lines, "drawing", None)
        points = np.cumsum(strokes3[:, :2], axis=0)
        # the project's reimplementation, up to rounding ties from the page's scale
        exact += np.array_equal(points, np.concatenate(quickdraw_simplify(raw)))
        ref = np.concatenate([np.column_stack([s[0], s[1]]) for s in published])
        same += len(ref) == len(points) and float(np.abs(points - ref).mean()) < 1.0
        # the frame puts model units back on the page
        back = model_frame.to_page(model_frame.to_model(lines))
        assert all(np.allclose(a, b) for a, b in zip(back, lines))
    assert exact / len(pairs) >= 0.8
    assert same / len(pairs) >= 0.9


def test_model_strokes_refuse_empty_point_and_long_drawings() -> None:
    with pytest.raises(SketchartError, match="is empty"):
        frame.to_model_strokes([], "layer 2", None)
    with pytest.raises(SketchartError, match="no extent"):
        frame.to_model_strokes([np.array([[3.0, 4.0], [3.0, 4.0]])], "it", None)
    zigzag = np.column_stack([np.arange(50.0) * 10, (np.arange(50) % 2) * 40.0])
    with pytest.raises(SketchartError, match="more than the model's max_seq_len 10"):
        frame.to_model_strokes([zigzag], "it", 10)


def test_continuation_starts_at_the_pen() -> None:
    lines = frame.continuation_lines(np.array([[5.0, 0, 0], [1, 1, 1]]), np.array([10.0, 2]))
    assert np.allclose(lines[0], [[15.0, 2.0], [16.0, 3.0]])
    assert frame.continuation_lines(np.zeros((0, 3)), np.zeros(2)) == []


def test_source_drawings_split_layers_and_read_svgs(tmp_path, sheep_npz) -> None:
    from sketchart.data.npzsafe import read_npz

    sketches = list(read_npz(sheep_npz)["test"][:3])
    doc = layout_document(sketches, size=30 * MM, gap=10 * MM, columns=3)
    found = sources.source_drawings(doc, [1], None, whole_layer=False, margin=2 * MM)
    assert [d.what for d in found] == [f"layer 1 drawing {k}" for k in (1, 2, 3)]
    assert {d.layer_id for d in found} == {1}
    whole = sources.source_drawings(doc, [1], None, whole_layer=True, margin=2 * MM)
    assert len(whole) == 1 and whole[0].what == "layer 1"
    svg = tmp_path / "three.svg"
    with open(svg, "w") as fp:
        vp.write_svg(fp, doc)
    from_file = sources.source_drawings(vp.Document(), [], str(svg), False, 2 * MM)
    assert len(from_file) == 3 and all(d.layer_id is None for d in from_file)
    with pytest.raises(SketchartError, match="no such SVG file"):
        sources.source_drawings(doc, [], str(tmp_path / "none.svg"), False, 0.0)
    with pytest.raises(SketchartError, match="layer 4 does not exist"):
        sources.source_drawings(doc, [4], None, False, 0.0)


def test_options() -> None:
    assert options.parse_grid("3x4") == (3, 4) and options.parse_grid("2*2") == (2, 2)
    assert options.parse_grid(None) is None
    for bad, message in (("3", "ROWSxCOLUMNS"), ("1x5", "at least 2x2")):
        with pytest.raises(options.OptionError, match=message) as info:
            options.parse_grid(bad)
        assert info.value.option == "'--grid'"
    assert options.oriented_page((100.0, 200.0), True) == (200.0, 100.0)
    assert options.oriented_page((100.0, 200.0), False) == (100.0, 200.0)
    assert options.oriented_page(None, True) is None
    with pytest.raises(options.OptionError, match="must be positive"):
        options.check_temperature(0.0)
    assert options.seed_label(3, 0.4) == " (seed 3, T=0.4)"
    np.random.seed(7)
    first = options.draw_seed(None)
    np.random.seed(7)
    assert options.draw_seed(None) == first and options.draw_seed(5) == 5
    assert options.Pens().grid_colors("single") == "black"
    assert options.Pens().grid_colors("per-row") is None


def test_add_layers_and_record() -> None:
    doc = vp.Document()
    doc.add(vp.LineCollection([0j, 1 + 1j]), 1)
    built = layout_document([np.array([[0.0, 0, 0], [5, 5, 1]])], size=10.0, name="x")
    add_layers(doc, built)
    assert sorted(doc.layers) == [1, 2] and doc.layers[2].property("vp_name") == "2 x"
    record_sketch(doc, seed=3)
    record_sketch(doc, seed=4, model=None)
    assert doc.property("sketchart_seeds") == "3 4"
    assert doc.property("svg_data-sketchart-seed") == "4"
    assert doc.property("sketchart_model") is None


def _named(name: str, color: str) -> vp.LineCollection:
    lc = vp.LineCollection([np.array([0j, 10 + 10j])])
    lc.set_property(vp.METADATA_FIELD_NAME, name)
    lc.set_property(vp.METADATA_FIELD_COLOR, vp.Color(color))
    return lc


def test_add_layers_keeps_a_users_layer_and_never_merges_new_ones() -> None:
    """A target layer that exists keeps its name and pen; the other new layers take free
    ids after it, never an existing layer's, each name renumbered to its id."""
    doc = vp.Document()
    doc.add(_named("frame", "red"), 1, with_metadata=True)
    doc.add(_named("border", "green"), 3, with_metadata=True)
    sketches = [np.array([[0.0, 0, 0], [5, 5, 0], [5, 0, 1]])] * 3
    built = layout_document(sketches, size=10.0, layers="per-sketch", name="cat")
    assert [built.layers[i].property("vp_name") for i in (1, 2, 3)] == [
        "1 cat 1", "2 cat 2", "3 cat 3"
    ]
    written = add_layers(doc, built, 1)
    assert written == [1, 2, 4]
    assert doc.layers[1].property("vp_name") == "frame"
    assert doc.layers[1].property("vp_color") == vp.Color("red")
    assert len(doc.layers[1]) > 1  # the sketch's lines joined the user's layer
    assert doc.layers[3].property("vp_name") == "border" and len(doc.layers[3]) == 1
    assert doc.layers[2].property("vp_name") == "2 cat 2"
    assert doc.layers[4].property("vp_name") == "4 cat 3"


def test_layer_names_start_with_the_layer_number() -> None:
    from sketchart.page.pens import numbered, renumbered

    assert numbered(3, "cat (seed 1, T=0.5)") == "3 cat (seed 1, T=0.5)"
    assert renumbered("1 cat", 1, 5) == "5 cat"
    assert renumbered("user name", 1, 5) == "user name"


def test_svg_inputs_go_to_vp_sources(tmp_path) -> None:
    from sketchart.page.sources import source_drawings

    svg = tmp_path / "in.svg"
    lines = vp.LineCollection([np.array([0j, 30 + 30j, 30j])])
    src = vp.Document(lines, page_size=(100.0, 100.0))
    with svg.open("w") as fh:
        vp.write_svg(fh, src)
    doc = vp.Document()
    doc.set_property(vp.METADATA_FIELD_SOURCE, pathlib.Path("/elsewhere/first.svg"))
    source_drawings(doc, [], str(svg), whole_layer=True, margin=1.0)
    assert svg.absolute() in doc.sources
    assert doc.property(vp.METADATA_FIELD_SOURCE) == pathlib.Path("/elsewhere/first.svg")


def test_drawn_seed_is_logged(caplog) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="sketchart.page.options"):
        seed = options.draw_seed(None, "sketchrnn-sample")
        options.draw_seed(5, "sketchrnn-sample")
    assert [r.getMessage() for r in caplog.records] == [
        f"sketchrnn-sample: no --seed given, drawn seed {seed}"
    ]


def test_parse_length_accepts_units_and_pixels() -> None:
    assert options.parse_length("96", "'--cell'") == 96.0
    assert options.parse_length("4cm", "'--cell'") == pytest.approx(4 * 10 * MM)
    for bad in ("abc", "-3", "0"):
        with pytest.raises(options.OptionError):
            options.parse_length(bad, "'--cell'")
