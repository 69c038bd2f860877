"""Importers: QuickDraw ndjson (raw and simplified), SVG files and folders, sources."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

from sketchart.data.importers import (
    collect_sources,
    drawing_to_lines,
    read_ndjson,
    read_svg,
    read_svg_folder,
)
from sketchart.errors import SketchartError
from sketchart.strokes import bounds, strokes3_to_lines

SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">
  <circle cx="50" cy="50" r="40"/>
  <line x1="100" y1="10" x2="190" y2="10"/>
  <polyline points="100,90 150,30 190,90"/>
  <g><path d="M 110 60 C 120 40, 160 40, 170 60"/></g>
</svg>"""


def _simplified_records(name):
    path = shared_path("data", "quickdraw", "simplified", f"{name}.ndjson")
    return path, [json.loads(line) for line in path.read_text().splitlines()]


def test_simplified_ndjson_is_exact():
    path, records = _simplified_records("cat")
    result = read_ndjson(path)
    assert len(result.sketches) == len(records) == 25 and result.skipped == 0
    assert result.ids[0] == records[0]["key_id"]
    for strokes3, record in zip(result.sketches, records):
        lines = strokes3_to_lines(strokes3)
        assert len(lines) == len(record["drawing"])
        for line, (xs, ys) in zip(lines, record["drawing"]):
            np.testing.assert_array_equal(line, np.column_stack([xs, ys]))


def test_raw_ndjson_lands_on_google_grid():
    path = shared_path("data", "quickdraw", "raw", "cat.ndjson")
    result = read_ndjson(path, limit=10)
    assert len(result.sketches) == 10
    for s in result.sketches:
        x0, y0, x1, y1 = bounds(s)
        # RDP may drop the extreme point, as in Google's files (cat: 23 at 255, 254, 251)
        assert min(x0, y0) == 0 and 245 <= max(x1, y1) <= 255
        assert (s == np.rint(s)).all()
    # the same drawings in Google's simplified form have about as many points
    _, simplified = _simplified_records("cat")
    by_key = {r["key_id"]: r for r in simplified}
    common = [(s, by_key[k]) for s, k in zip(result.sketches, result.ids) if k in by_key]
    assert common
    for s, record in common:
        assert abs(len(s) - sum(len(x) for x, _ in record["drawing"])) <= 3
    # without Google's simplification the raw points are kept as they are
    unsimplified = read_ndjson(path, limit=1, simplify_raw=False).sketches[0]
    assert len(unsimplified) > 2 * len(result.sketches[0])


def test_rdp_epsilon_shortens(tmp_path):
    path, _ = _simplified_records("bicycle")
    plain = read_ndjson(path)
    simplified = read_ndjson(path, rdp_epsilon=8.0)
    assert sum(map(len, simplified.sketches)) < sum(map(len, plain.sketches))


def test_malformed_lines_error_or_skip(tmp_path):
    _, records = _simplified_records("face")
    lines = [json.dumps(r) for r in records[:5]]
    lines.insert(2, "{not json")
    lines.insert(4, json.dumps({"word": "face"}))
    lines.insert(5, json.dumps({"drawing": [[[1, 2], [3]]]}))
    lines.append(json.dumps({"drawing": []}))
    bad = tmp_path / "face.ndjson"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(SketchartError, match=r"face.ndjson:3: malformed JSON") as err:
        read_ndjson(bad)
    assert "\n" not in str(err.value)
    result = read_ndjson(bad, skip_bad=True)
    assert len(result.sketches) == 5 and result.skipped == 4
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in result.problems] == [
        "3",
        "5",
        "6",
        "9",
    ]
    assert "no 'drawing' key" in result.problems[1]
    assert "stroke 0" in result.problems[2]
    with pytest.raises(SketchartError, match="cannot read"):
        read_ndjson(tmp_path / "missing.ndjson")


def test_drawing_validation():
    with pytest.raises(SketchartError, match="coordinates must be numbers"):
        drawing_to_lines([[["a"], [1]]])
    with pytest.raises(SketchartError, match="non-empty list"):
        drawing_to_lines({})
    lines = drawing_to_lines([[[0, 10], [0, 10]]])
    np.testing.assert_array_equal(lines[0], [[0, 0], [10, 10]])


def test_svg_shapes_are_flattened(tmp_path):
    path = tmp_path / "shapes.svg"
    path.write_text(SVG)
    s3 = read_svg(path)
    lines = strokes3_to_lines(s3)
    assert len(lines) == 4  # circle, line, polyline, path
    x0, y0, x1, y1 = bounds(s3)
    assert (x0, y0) == (0, 0) and x1 == 255  # wider than tall: x fills 0..255
    assert y1 == pytest.approx(255 * 80 / 180, abs=1)
    # the circle is a closed polyline of many points, the line has two
    assert len(lines[0]) > 20 and np.allclose(lines[0][0], lines[0][-1], atol=1)
    assert len(lines[1]) == 2
    fewer = read_svg(path, rdp_epsilon=3.0)
    assert len(fewer) < len(s3)
    unscaled = read_svg(path, size=None)
    assert bounds(unscaled)[2] == pytest.approx(180, abs=1)


def test_bad_svgs(tmp_path):
    broken = tmp_path / "broken.svg"
    broken.write_text("<svg><path d='M 0 0 L")
    with pytest.raises(SketchartError, match="broken.svg: unreadable SVG") as err:
        read_svg(broken)
    assert "\n" not in str(err.value)
    empty = tmp_path / "empty.svg"
    empty.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    with pytest.raises(SketchartError, match="empty.svg: no lines"):
        read_svg(empty)
    with pytest.raises(SketchartError, match="no such file"):
        read_svg(tmp_path / "nope.svg")
    good = tmp_path / "good.svg"
    good.write_text(SVG)
    result = read_svg_folder([good, broken, empty], skip_bad=True)
    assert len(result.sketches) == 1 and result.skipped == 2
    with pytest.raises(SketchartError, match="broken.svg"):
        read_svg_folder([good, broken])


def test_collect_sources_classes(tmp_path, sheep_npz):
    qd = shared_path("data", "quickdraw", "simplified")
    shapes = tmp_path / "shapes"
    shapes.mkdir()
    for i in range(3):
        (shapes / f"s{i}.svg").write_text(SVG.replace('r="40"', f'r="{10 + 10 * i}"'))
    nested = tmp_path / "more" / "circles"
    nested.mkdir(parents=True)
    (nested / "c.svg").write_text(SVG)
    seen = []
    classes = collect_sources(
        [qd / "cat.ndjson", qd / "bus.ndjson", shapes, tmp_path / "more", sheep_npz],
        progress=seen.append,
    )
    assert sorted(classes) == ["aaron_sheep", "bus", "cat", "circles", "shapes"]
    assert len(classes["cat"].sketches) == 25 and len(classes["shapes"].sketches) == 3
    assert len(classes["circles"].sketches) == 1
    assert len(classes["aaron_sheep"].sketches) == 8000  # all splits pooled
    assert "cat.ndjson" in seen
    with pytest.raises(SketchartError, match="unsupported source"):
        bad = tmp_path / "x.txt"
        bad.write_text("x")
        collect_sources([bad])
    with pytest.raises(SketchartError, match="no such file or folder"):
        collect_sources([tmp_path / "absent"])


def test_float_npz_source_is_rounded_in_absolute_space():
    kanji = shared_path("data", "sketchrnn", "kanji.rdp100.npz")
    classes = collect_sources([kanji])
    sketches = classes["kanji.rdp100"].sketches
    assert len(sketches) == 10358 + 600 + 500
    from sketchart.data.npzsafe import read_npz

    original = read_npz(kanji)["train"][0]
    ours = sketches[0]
    assert (ours == np.rint(ours)).all()
    # rounding each absolute point keeps every point within half a unit per axis
    a = np.concatenate(strokes3_to_lines(original))
    b = np.concatenate(strokes3_to_lines(ours))
    assert np.abs(a - b).max() <= 0.5 + 1e-9
