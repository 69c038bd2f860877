"""sketchart.page.place: sketches drawn at a place, into a vpype Document or a Vsketch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import vpype as vp
from conftest import shared_path

from sketchart.page import place
from sketchart.strokes import bounds

ROOT = Path(__file__).resolve().parents[1]


def _lines(doc: vp.Document, layer: int = 1) -> list[np.ndarray]:
    return [np.asarray(line) for line in doc.layers[layer]]


def _inside(lines: list[np.ndarray], box: tuple[float, float, float, float]) -> bool:
    pts = np.vstack(lines)
    x, y, w, h = box
    eps = 1e-6
    return bool((pts[:, 0] >= x - eps).all() and (pts[:, 0] <= x + w + eps).all()
                and (pts[:, 1] >= y - eps).all() and (pts[:, 1] <= y + h + eps).all())


def test_draw_sketch_fills_its_box_centred_keeping_the_aspect_ratio() -> None:
    doc = vp.Document()
    raw = place.load_engine("sheep").sample(1, temperature=0.4, seed=3)[0]
    place.draw_sketch(doc, "sheep", 100, 50, 200, seed=3, layer=2)
    assert list(doc.layers) == [2]
    xmin, ymin, xmax, ymax = doc.bounds()
    rx0, ry0, rx1, ry1 = bounds(raw)
    assert max(xmax - xmin, ymax - ymin) == pytest.approx(200)
    assert (xmax - xmin) / (ymax - ymin) == pytest.approx((rx1 - rx0) / (ry1 - ry0), rel=1e-5)
    assert ((xmin + xmax) / 2, (ymin + ymax) / 2) == pytest.approx((200, 150))


def test_length_strings_and_a_box_that_is_not_square() -> None:
    doc = vp.Document()
    lines = place.draw_sketch(doc, "sheep", "1cm", "2cm", "4cm", "1cm", seed=1)
    box = (vp.convert_length("1cm"), vp.convert_length("2cm"), vp.convert_length("4cm"),
           vp.convert_length("1cm"))
    assert list(doc.layers) == [1]
    assert _inside(lines, box)
    xmin, ymin, xmax, ymax = doc.bounds()
    # a sheep is wider than tall but not 4:1: the height is the tighter side
    assert ymax - ymin == pytest.approx(box[3])
    assert (xmin + xmax) / 2 == pytest.approx(box[0] + box[2] / 2)


def test_a_seed_draws_the_same_sketch() -> None:
    docs = [vp.Document() for _ in range(3)]
    for doc, seed in zip(docs, (7, 7, 8)):
        place.draw_sketch(doc, "sheep", 0, 0, 100, seed=seed)
    same, other = _lines(docs[1]), _lines(docs[2])
    assert len(_lines(docs[0])) == len(same)
    assert all(np.array_equal(a, b) for a, b in zip(_lines(docs[0]), same))
    assert len(same) != len(other) or not all(
        len(a) == len(b) and np.allclose(a, b) for a, b in zip(same, other))


def test_engines_are_cached_by_model() -> None:
    place.clear_engine_cache()
    engine = place.load_engine("sheep")
    assert place.load_engine("sheep") is engine
    assert place.load_engine(ROOT / "models" / "sheep") is engine  # a name and its path
    assert place.load_engine(engine) is engine
    place.clear_engine_cache()
    assert place.load_engine("sheep") is not engine


def test_draw_grid_puts_every_sketch_in_its_cell() -> None:
    doc = vp.Document()
    cells = place.draw_grid(doc, "sheep-uncond", 0, 0, 400, 200, rows=2, cols=4, gap=10,
                            seed=0, layer=5)
    boxes = place.cell_boxes(0, 0, 400, 200, 2, 4, gap=10)
    assert list(doc.layers) == [5] and len(cells) == len(boxes) == 8
    assert boxes[1] == pytest.approx((102.5, 0, 92.5, 95))
    assert all(_inside(lines, box) for lines, box in zip(cells, boxes) if lines)
    again = place.draw_grid(vp.Document(), "sheep-uncond", 0, 0, 400, 200, 2, 4, gap=10,
                            seed=0)
    assert all(np.array_equal(a, b) for c, d in zip(cells, again) for a, b in zip(c, d))


def test_draw_interpolation_needs_a_vae_and_fills_the_grid() -> None:
    doc = vp.Document()
    cells = place.draw_interpolation(doc, "sheep", 10, 10, 300, 200, 2, 3, seed=4)
    assert len(cells) == 6
    assert all(_inside(lines, box) for lines, box in
               zip(cells, place.cell_boxes(10, 10, 300, 200, 2, 3)) if lines)
    with pytest.raises(place.PlaceError, match="conditional"):
        place.draw_interpolation(vp.Document(), "sheep-uncond", 0, 0, 100, 100, 2, 2)


def test_a_sketch_rnn_js_file_by_path() -> None:
    path = shared_path("models", "sketch-rnn-js", "flamingo.gen.json")
    doc = vp.Document()
    lines = place.draw_sketch(doc, path, 0, 0, 50, 80, seed=1, temperature=0.2)
    assert lines and _inside(lines, (0, 0, 50, 80))


def test_draw_strokes_places_a_given_drawing() -> None:
    square = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [-10, 0, 0], [0, -10, 1]], float)
    doc = vp.Document()
    (line,) = place.draw_strokes(doc, square, 0, 0, 40, 20, layer=3)
    assert doc.bounds() == pytest.approx((10, 0, 30, 20))
    assert line[0] == pytest.approx((10, 0))


@pytest.mark.parametrize("call, match", [
    (lambda d: place.draw_sketch(d, "sheep", 0, 0, 10, layer=0), "layer"),
    (lambda d: place.draw_sketch(d, "sheep", 0, 0, -10), "positive"),
    (lambda d: place.draw_sketch(d, "sheep", 0, 0, "3 parsecs"), "not a length"),
    (lambda d: place.draw_grid(d, "sheep", 0, 0, 10, 10, 2, 2, gap=20), "no room"),
    (lambda d: place.draw_grid(d, "sheep", 0, 0, 10, 10, 0, 2), "rows"),
    (lambda d: place.draw_sketch(object(), "sheep", 0, 0, 10), "vpype Document"),
])
def test_bad_input_says_what_is_wrong(call: object, match: str) -> None:
    with pytest.raises(place.PlaceError, match=match):
        call(vp.Document())  # type: ignore[operator]


def test_into_a_vsketch() -> None:
    vsketch = pytest.importorskip(
        "vsketch", reason="vsketch is an optional extra: pip install 'sketchart[vsketch]'")
    vsk = vsketch.Vsketch()
    vsk.stroke(4)
    vsk.translate(1000, 0)
    place.draw_sketch(vsk, "sheep", 0, 0, 100, seed=2, layer=3)
    vsk.line(0, 0, 1, 1)  # the stroke layer is restored after the sketch
    assert sorted(vsk.document.layers) == [3, 4]
    assert vsk.document.layers[3].bounds()[0] >= 1000 - 1e-6  # vsketch's transform applies

    def page(seed: int) -> list[np.ndarray]:
        sketch = vsketch.Vsketch()
        sketch.randomSeed(seed)  # seed=None follows vsketch's own seed
        place.draw_sketch(sketch, "sheep", 0, 0, 100)
        return [np.asarray(line) for line in sketch.document.layers[1]]

    first, second = page(5), page(5)
    assert len(first) == len(second)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_drawing_imports_no_framework_and_no_vsketch() -> None:
    code = (
        "import sys, vpype as vp\n"
        "from sketchart.page import place\n"
        "doc = vp.Document()\n"
        "place.draw_sketch(doc, 'sheep', 0, 0, 100, seed=1)\n"
        "place.draw_grid(doc, 'sheep-uncond', 0, 0, 100, 100, 2, 2, seed=1)\n"
        "place.draw_interpolation(doc, 'sheep', 0, 0, 100, 100, 2, 2, seed=1)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in\n"
        "       ('tensorflow', 'keras', 'jax', 'vsketch', 'PySide6')]\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
