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
    result = read_ndjson(path, keep_first_point=True)
    assert len(result.sketches) == len(records) == 25 and result.skipped == 0
    assert result.ids[0] == records[0]["key_id"]
    for strokes3, record in zip(result.sketches, records):
        lines = strokes3_to_lines(strokes3)
        assert len(lines) == len(record["drawing"])
        for line, (xs, ys) in zip(lines, record["drawing"]):
            np.testing.assert_array_equal(line, np.column_stack([xs, ys]))


def test_raw_ndjson_lands_on_google_grid():
    path = shared_path("data", "quickdraw", "raw", "cat.ndjson")
    result = read_ndjson(path, limit=10, keep_first_point=True)
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
    unsimplified = read_ndjson(path, limit=1, simplify_raw=False,
                               keep_first_point=True).sketches[0]
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
    s3 = read_svg(path, keep_first_point=True)
    lines = strokes3_to_lines(s3)
    assert len(lines) == 4  # circle, line, polyline, path
    x0, y0, x1, y1 = bounds(s3)
    assert (x0, y0) == (0, 0) and x1 == 255  # wider than tall: x fills 0..255
    assert y1 == pytest.approx(255 * 80 / 180, abs=1)
    # the circle is a closed polyline of many points, the line has two
    assert len(lines[0]) > 20 and np.allclose(lines[0][0], lines[0][-1], atol=1)
    assert len(lines[1]) == 2
    fewer = read_svg(path, rdp_epsilon=3.0, keep_first_point=True)
    assert len(fewer) < len(s3)
    unscaled = read_svg(path, size=None, keep_first_point=True)
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


# ------------------------------------------------ Google's convention (first move first)
def _js_lines_to_strokes(drawing):
    """``sketch_rnn.js``'s ``lines_to_strokes``: single points dropped, first row dropped."""
    rows, px, py = [], 0, 0
    for xs, ys in drawing:
        if len(xs) > 1:
            for j, (x, y) in enumerate(zip(xs, ys)):
                rows.append([x - px, y - py, 1 if j == len(xs) - 1 else 0])
                px, py = x, y
    return np.array(rows[1:], dtype=np.float32)


def test_ndjson_default_is_googles_convention():
    path, records = _simplified_records("flamingo")
    result = read_ndjson(path)
    for strokes3, record in zip(result.sketches, records, strict=True):
        np.testing.assert_array_equal(strokes3, _js_lines_to_strokes(record["drawing"]))
    magenta = read_ndjson(path, keep_first_point=True)
    first = records[0]["drawing"][0]
    np.testing.assert_array_equal(magenta.sketches[0][0], [first[0][0], first[1][0], 0])


def test_svg_default_starts_with_the_first_move(tmp_path):
    path = tmp_path / "two.svg"
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg"><g stroke="black">'
                    '<line x1="10" y1="10" x2="265" y2="10"/>'
                    '<line x1="10" y1="20" x2="10" y2="40"/></g></svg>')
    np.testing.assert_array_equal(read_svg(path), [[255, 0, 1], [-255, 10, 0], [0, 20, 1]])
    np.testing.assert_array_equal(read_svg(path, keep_first_point=True)[0], [0, 0, 0])


# ------------------------------------------------------------ SVG: only what renders
def _svg(body, tmp_path, name="x.svg"):
    path = tmp_path / name
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg" '
                    'xmlns:xlink="http://www.w3.org/1999/xlink" width="300" height="300">'
                    f'{body}</svg>')
    return path


DRAWN = '<line x1="10" y1="10" x2="110" y2="60" stroke="black"/>'


@pytest.mark.parametrize("hidden", [
    '<rect x="0" y="0" width="300" height="300" fill="none"/>',
    '<rect x="0" y="0" width="300" height="300" stroke="none" fill="none"/>',
    '<circle cx="150" cy="150" r="140" stroke="black" style="display:none"/>',
    '<g display="none"><circle cx="150" cy="150" r="140" stroke="black"/></g>',
    '<g visibility="hidden"><circle cx="150" cy="150" r="140" stroke="black"/></g>',
    '<circle cx="150" cy="150" r="140" stroke="none" fill="none"/>',
    '<circle cx="150" cy="150" r="140" stroke="black" stroke-width="0" fill="none"/>',
    '<defs><circle id="c" cx="150" cy="150" r="140" stroke="black"/></defs>',
    '<symbol id="s"><circle cx="150" cy="150" r="140" stroke="black"/></symbol>',
    '<clipPath id="cp"><circle cx="150" cy="150" r="140" stroke="black"/></clipPath>',
    '<mask id="m"><circle cx="150" cy="150" r="140" stroke="black"/></mask>',
    '<marker id="k"><circle cx="150" cy="150" r="140" stroke="black"/></marker>',
    '<pattern id="p"><circle cx="150" cy="150" r="140" stroke="black"/></pattern>',
])
def test_svg_imports_only_what_renders(tmp_path, hidden):
    alone = read_svg(_svg(DRAWN, tmp_path, "alone.svg"))
    with_hidden = read_svg(_svg(hidden + DRAWN, tmp_path))
    np.testing.assert_array_equal(with_hidden, alone)


def test_svg_used_symbol_and_fill_only_drawings(tmp_path):
    used = ('<symbol id="s"><line x1="0" y1="0" x2="100" y2="0" stroke="black"/></symbol>'
            '<use xlink:href="#s" x="0" y="50"/>' + DRAWN)
    assert len(strokes3_to_lines(read_svg(_svg(used, tmp_path)))) == 2
    # a silhouette drawn in fill only still imports (its outline), a blank page does not
    filled = read_svg(_svg('<rect x="0" y="0" width="100" height="50"/>', tmp_path))
    assert len(filled) == 4
    with pytest.raises(SketchartError, match="no lines"):
        read_svg(_svg('<rect width="300" height="300" fill="none"/>', tmp_path))


@pytest.mark.parametrize("body, message", [
    ('<circle cx="0" cy="0" r="1e9" stroke="black"/>', None),
    ('<line x1="-1e308" y1="0" x2="1e308" y2="5" stroke="black"/>', "out of range"),
    ('<g transform="scale(1e300)"><line x1="0" y1="0" x2="1e10" y2="5" stroke="black"/></g>',
     "out of range"),
    ("<g>" * 400 + DRAWN + "</g>" * 400, "nested"),
    ('<g id="u0">' + DRAWN + "</g>" + "".join(
        f'<g id="u{i}"><use href="#u{i - 1}"/><use href="#u{i - 1}" x="1"/></g>'
        for i in range(1, 40)), "expands to more than"),
    ('<g id="a"><use href="#a"/></g>' + DRAWN, "refers to its own"),
])
def test_svg_bombs_and_absurd_coordinates_are_refused(tmp_path, body, message):
    import time

    start = time.perf_counter()
    path = _svg(body, tmp_path)
    if message is None:  # a huge circle flattens to as few points as a small one
        assert 50 < len(read_svg(path)) < 5000
    else:
        with pytest.raises(SketchartError, match=message) as err:
            read_svg(path)
        assert "\n" not in str(err.value)
    assert time.perf_counter() - start < 5


def test_svg_unscaled_huge_circle_is_capped(tmp_path):
    path = _svg('<circle cx="0" cy="0" r="1e8" stroke="black"/>', tmp_path)
    with pytest.raises(SketchartError, match="more than .* points"):
        read_svg(path, size=None)


# ---------------------------------------------------------- ndjson: one line per fault
@pytest.mark.parametrize("line, message", [
    (b'{"drawing": [[[1, 2], [3, 4]]], "word": "\xff\xfe"}', "not UTF-8"),
    (b"[" * 100_000, "nested too deeply|malformed"),
    (b'{"drawing": [[[1, 1' + b"0" * 400 + b'], [3, 4]]]}', "beyond"),
    (b'{"drawing": [[[-1e308, 1e308], [0, 1], [0, 10]]]}', "beyond"),
    (b'{"drawing": [[[0, 1e308], [0, 1]]]}', "beyond"),
    (b'{"drawing": [[[0, NaN], [0, 1]]]}', "beyond"),
])
def test_ndjson_faults_are_one_line_and_skippable(tmp_path, line, message):
    _, records = _simplified_records("face")
    path = tmp_path / "f.ndjson"
    path.write_bytes(json.dumps(records[0]).encode() + b"\n" + line + b"\n")
    with pytest.raises(SketchartError, match=message) as err:
        read_ndjson(path)
    assert "f.ndjson:2:" in str(err.value) and "\n" not in str(err.value)
    result = read_ndjson(path, skip_bad=True)
    assert len(result.sketches) == 1 and result.skipped == 1


def test_ndjson_points_per_drawing_are_capped(tmp_path):
    n = 100_001
    path = tmp_path / "big.ndjson"
    path.write_text(json.dumps({"drawing": [[[0] * n, [1] * n]]}) + "\n")
    with pytest.raises(SketchartError, match="more than 100000 points"):
        read_ndjson(path)
