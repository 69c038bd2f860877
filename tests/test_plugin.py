"""Tests of the vpype plugin commands, through vpype itself (``vpype_cli.execute`` and
click's ``CliRunner`` on ``vpype_cli.cli``), with real models.

Decoder-only commands use Google's flamingo model from ``../shared`` (by file path, and by
category name served from a local HTTP server on 127.0.0.1). The conditional commands use
a tiny VAE trained on aaron_sheep for a few dozen steps by the project's trainer (a session
fixture). Written SVGs are read back with vpype.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import vpype as vp
import vpype_cli
from click.testing import CliRunner
from conftest import shared_path

from sketchart.data.npzsafe import read_npz
from sketchart.page import layout
from sketchart.strokes import strokes3_to_lines

MM = vp.convert_length("mm")


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flamingo() -> Path:
    return shared_path("models", "sketch-rnn-js", "flamingo.gen.json")


@pytest.fixture(scope="module")
def model_server(tmp_path_factory) -> Iterator[Path]:
    """Google's models served on 127.0.0.1, with an empty model cache; yields the cache."""
    root = shared_path("models", "sketch-rnn-js")
    cache = tmp_path_factory.mktemp("sketchart_home")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKETCHART_MODEL_URL", f"http://127.0.0.1:{server.server_address[1]}")
        mp.setenv("SKETCHART_HOME", str(cache))
        yield cache
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def sheep_vae(tmp_path_factory) -> Path:
    """A tiny conditional model trained on aaron_sheep (a few dozen steps): its log root."""
    from sketchart.training.trainer import train

    data = shared_path("data", "sketchrnn", "aaron_sheep.npz")
    log_root = tmp_path_factory.mktemp("sheep_vae")
    hparams = (
        "data_set=aaron_sheep.npz,enc_rnn_size=16,dec_rnn_size=32,z_size=8,num_mixture=3,"
        # short sketches only, for a fast fixture (longer ones are dropped with a warning)
        "batch_size=16,num_steps=30,save_every=30,max_seq_len=120"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        train(
            log_root,
            hparams,
            data_dir=data.parent,
            seed=0,
            progress=False,
            tensorboard=False,
            samples=0,
        )
    return log_root


@pytest.fixture(scope="module")
def sheep_test() -> list[np.ndarray]:
    """Four aaron_sheep test sketches short enough for the tiny model's max_seq_len."""
    test = read_npz(shared_path("data", "sketchrnn", "aaron_sheep.npz"))["test"]
    return [s for s in test if len(s) <= 100][:4]


def _run(pipeline: str, document: vp.Document | None = None, seed: int | None = None):
    return vpype_cli.execute(pipeline, document, global_opt=f"-s {seed}" if seed else "")


def _invoke_error(args: str) -> str:
    """Run a vpype command line that must fail; return its one error line."""
    result = CliRunner().invoke(vpype_cli.cli, args)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    return errors[0]


def _drawn_paths(sketch: np.ndarray) -> int:
    return sum(len(line) >= 2 for line in strokes3_to_lines(sketch))


# -- sketchrnn-sample ---------------------------------------------------------------------


@pytest.mark.parity
def test_sample_grid_per_sketch_svg_read_back(flamingo, tmp_path):
    from sketchart.generate.sampling import sample
    from sketchart.hub.store import load_model

    out = tmp_path / "out.svg"
    _run(
        f"sketchrnn-sample -m {flamingo} -t 0.4 -n 6 --seed 3 --columns 3 --size 3cm "
        f"--gap 5mm --layers per-sketch write {out}"
    )
    doc = vp.read_multilayer_svg(str(out), quantization=0.1)
    assert sorted(doc.layers) == [1, 2, 3, 4, 5, 6]
    names = [doc.layers[i].property("vp_name") for i in sorted(doc.layers)]
    assert names == [f"{i} flamingo {i} (seed 3, T=0.4)" for i in range(1, 7)]
    colours = [doc.layers[i].property("vp_color") for i in sorted(doc.layers)]
    assert colours == [vp.Color(c) for c in layout.DEFAULT_PALETTE[:6]]
    assert doc.layers[1].property("vp_pen_width") == pytest.approx(0.3 * MM, rel=1e-3)
    assert doc.page_size == pytest.approx((3 * 35 * MM, 2 * 35 * MM), rel=1e-6)
    # the same sketches as the library draws with the same seed, path for path
    expected = sample(load_model(str(flamingo)), 6, temperature=0.4, seed=3)
    assert [len(doc.layers[i]) for i in sorted(doc.layers)] == [
        _drawn_paths(s) for s in expected
    ]


def test_sample_category_from_local_server(model_server):
    doc = _run("sketchrnn-sample --category flamingo -t 0.4 --seed 1")
    assert (model_server / "google" / "flamingo.gen.json").is_file() or any(
        model_server.rglob("flamingo*.json")
    )
    assert len(doc.layers) == 1
    assert doc.layers[1].property("vp_name") == "1 flamingo (seed 1, T=0.4)"
    assert not doc.layers[1].is_empty()
    assert doc.property("sketchart_model") == "flamingo"


@pytest.mark.parity
def test_same_seed_same_bytes(flamingo, tmp_path):
    def svg(name: str, pipeline: str, seed: int | None = None) -> bytes:
        out = tmp_path / name
        _run(f"{pipeline} write --dont-set-date {out}", seed=seed)
        return out.read_bytes()

    cmd = f"sketchrnn-sample -m {flamingo} -n 2 -t 0.5"
    assert svg("a.svg", f"{cmd} --seed 11") == svg("b.svg", f"{cmd} --seed 11")
    # the optimisation's random seams (reloop) follow the seed too
    opt = f"{cmd} --seed 11 --optimize --layers per-sketch"
    assert svg("a2.svg", opt) == svg("b2.svg", opt)
    assert svg("c.svg", f"{cmd} --seed 11") != svg("d.svg", f"{cmd} --seed 12")
    # without --seed, vpype's -s decides
    assert svg("e.svg", cmd, seed=7) == svg("f.svg", cmd, seed=7)
    assert svg("g.svg", cmd, seed=7) != svg("h.svg", cmd, seed=8)


def test_metadata_in_properties_and_svg(flamingo, tmp_path):
    from sketchart import __version__

    out = tmp_path / "meta.svg"
    doc = _run(f"sketchrnn-sample -m {flamingo} -t 0.4 --seed 5 write --restore-attribs {out}")
    assert doc.property("sketchart_seed") == 5
    assert doc.property("sketchart_temperature") == 0.4
    assert doc.property("sketchart_model") == str(flamingo)
    assert doc.property("sketchart_version") == __version__
    text = out.read_text()
    assert 'data-sketchart-seed="5"' in text
    assert 'data-sketchart-temperature="0.4"' in text
    # a plain write keeps them in the layer label
    plain = tmp_path / "plain.svg"
    _run(f"sketchrnn-sample -m {flamingo} -t 0.4 --seed 5 write {plain}")
    assert 'inkscape:label="1 flamingo (seed 5, T=0.4)"' in plain.read_text()


def test_grid_block_one_sketch_per_cell(flamingo):
    doc = _run(
        f"begin grid -o 3cm 3cm 3 2 sketchrnn-sample -m {flamingo} --size 25mm "
        "--layout cell end",
        seed=5,
    )
    assert doc.page_size == pytest.approx((9 * 10 * MM, 6 * 10 * MM))
    seeds = doc.property("sketchart_seeds").split()
    assert len(seeds) == 6 and len(set(seeds)) == 6
    assert list(doc.layers) == [1]
    # one sketch per cell: all ink of cell (i, j) lies in its 25 mm box at (30i, 30j) mm
    cells = set()
    for line in layout.complex_to_lines(doc.layers[1]):
        col, row = (int(v) for v in (line.min(axis=0) + 1e-6) // (30 * MM))
        assert line.max(axis=0) == pytest.approx(
            np.minimum(line.max(axis=0), [col * 30 * MM + 25 * MM, row * 30 * MM + 25 * MM])
        )
        cells.add((row, col))
    assert cells == {(r, c) for r in range(2) for c in range(3)}


def test_optimize_flag_cuts_pen_up_travel(flamingo):
    base = f"sketchrnn-sample -m {flamingo} -n 16 -t 0.4 --seed 2 --size 2cm"
    plain = _run(base)
    optimized = _run(f"{base} --optimize")
    assert optimized.pen_up_length() < plain.pen_up_length()
    assert optimized.length() == pytest.approx(plain.length(), rel=0.02)


def test_per_stroke_layers_and_target_layer(flamingo):
    doc = _run(
        f"sketchrnn-sample -m {flamingo} -n 4 --seed 4 --layers per-stroke "
        "--colors red,blue --pen-width 0.5mm"
    )
    assert sorted(doc.layers) == [1, 2]
    assert doc.layers[2].property("vp_color") == vp.Color("blue")
    assert doc.layers[2].property("vp_pen_width") == pytest.approx(0.5 * MM)
    doc = _run(f"sketchrnn-sample -m {flamingo} --seed 1 -l 3 --name bird")
    assert list(doc.layers) == [3]
    assert doc.layers[3].property("vp_name") == "3 bird (seed 1, T=0.65)"


def test_hpgl_output(flamingo, tmp_path):
    out = tmp_path / "out.hpgl"
    doc = _run(
        f"sketchrnn-sample -m {flamingo} -n 4 --seed 6 --size 4cm -p a4 "
        f"write -d hp7475a -p a4 --center -q {out}"
    )
    text = out.read_text()
    assert text.startswith("IN;")
    assert "SP1;" in text
    # one pen-down run per path
    assert text.count("PD") == sum(len(lc) for lc in doc.layers.values())


def test_sample_page_centres_grid(flamingo):
    doc = _run(f"sketchrnn-sample -m {flamingo} -n 4 --seed 1 --size 3cm -p a4")
    assert doc.page_size == pytest.approx(vp.PAGE_SIZES["a4"])
    xmin, ymin, xmax, ymax = doc.bounds()
    w, h = vp.PAGE_SIZES["a4"]
    assert (xmin + xmax) / 2 == pytest.approx(w / 2, abs=35 * MM)
    assert ymin > h / 2 - 70 * MM and ymax < h / 2 + 70 * MM


# -- bad input: one line, no traceback ----------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        ("sketchrnn-sample --category flamingoo", "did you mean.*flamingo"),
        ("sketchrnn-sample --model /nonexistent/dir/x.gen.json", "no such file"),
        ("sketchrnn-sample", "give a model"),
        ("sketchrnn-sample -c flamingo -m flamingo", "not both"),
        ("sketchrnn-sample -c flamingo -t 0", "must be positive"),
        ("sketchrnn-sample -c flamingo -n 2 --layout cell", "one sketch per call"),
    ],
)
def test_sample_bad_input(args, message, model_server):
    assert re.search(message, _invoke_error(args))


def test_grid_that_does_not_fit_the_page(flamingo):
    line = _invoke_error(f"sketchrnn-sample -m {flamingo} -n 30 --size 5cm -p a6")
    assert "more than the" in line and "page" in line


def test_interpolate_with_decoder_only_model(flamingo):
    line = _invoke_error(f"sketchrnn-interpolate -m {flamingo} -e seed:1 -e seed:2")
    assert "decoder-only" in line


def test_unknown_colour(flamingo):
    line = _invoke_error(f"sketchrnn-sample -m {flamingo} --colors red,nocolour")
    assert "unknown colour 'nocolour'" in line


# -- conditional commands (tiny sheep VAE) -----------------------------------------------


def test_interpolate_seeds_row(sheep_vae, tmp_path):
    out = tmp_path / "morph.svg"
    doc = _run(
        f"sketchrnn-interpolate -m {sheep_vae} -e seed:1 -e seed:2 --steps 5 -t 0.2 --seed 0 "
        f"write {out}"
    )
    assert list(doc.layers) == [1]
    assert doc.page_size == pytest.approx(vp.PAGE_SIZES["a4"])
    back = vp.read_multilayer_svg(str(out), quantization=0.1)
    assert len(back.layers) == 1
    drawings = layout.split_drawings(layout.complex_to_lines(doc.layers[1]), margin=0.5 * MM)
    assert 1 <= len(drawings)
    assert doc.property("sketchart_endpoints") == "seed:1 seed:2"


def test_interpolate_grid_per_row_and_per_cell(sheep_vae):
    doc = _run(f"sketchrnn-interpolate -m {sheep_vae} --grid 2x3 --seed 4 --landscape")
    assert sorted(doc.layers) == [1, 2]
    assert doc.layers[2].property("vp_name") == "2 aaron_sheep row 2 (seed 4, T=0.65)"
    w, h = vp.PAGE_SIZES["a4"]
    assert doc.page_size == pytest.approx((h, w))
    doc = _run(f"sketchrnn-interpolate -m {sheep_vae} --grid 2x2 --seed 4 --layers per-cell")
    assert sorted(doc.layers) == [1, 2, 3, 4]


def test_interpolate_between_layers_and_svg(sheep_vae, sheep_test, tmp_path):
    source = layout.layout_document(
        sheep_test[:2], size=30 * MM, gap=5 * MM, layers="per-sketch"
    )
    svg = tmp_path / "one.svg"
    single = layout.layout_document(sheep_test[2:3], size=30 * MM)
    with open(svg, "w") as fp:
        vp.write_svg(fp, single)
    doc = _run(
        f"sketchrnn-interpolate -m {sheep_vae} -e 1 -e layer:2 --steps 3 --seed 1", source
    )
    assert sorted(doc.layers) == [1, 2, 3]
    doc = _run(
        f"sketchrnn-interpolate -m {sheep_vae} -e 1 -e {svg} --steps 3 --seed 1", source
    )
    assert sorted(doc.layers) == [1, 2, 3]


def test_reconstruct_each_drawing_in_place(sheep_vae, sheep_test):
    source = layout.layout_document(sheep_test, size=30 * MM, gap=10 * MM, columns=2)
    doc = _run(f"sketchrnn-reconstruct -m {sheep_vae} -l 1 -n 2 -t 0.1 --seed 3", source)
    assert sorted(doc.layers) == [1, 2, 3]
    assert doc.layers[2].property("vp_color") != doc.layers[1].property("vp_color")
    originals = layout.split_drawings(layout.complex_to_lines(doc.layers[1]), margin=2 * MM)
    assert len(originals) == 4
    for lid in (2, 3):
        lines = layout.complex_to_lines(doc.layers[lid])
        # every redrawn path lies in the square box (the original's larger side, same
        # centre) of one of the original drawings
        squares = []
        for b in map(layout.drawing_bounds, originals):
            half = max(b[2] - b[0], b[3] - b[1]) / 2 + 1e-6
            squares.append(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, half))
        for line in lines:
            assert any(np.abs(line - [cx, cy]).max() <= half for cx, cy, half in squares)
    replaced = _run(f"sketchrnn-reconstruct -m {sheep_vae} -l 1 --replace --seed 3", source)
    # the source layer is gone; its id is free again, so the redrawing takes it
    assert sorted(replaced.layers) == [1]
    assert "reconstruction" in replaced.layers[1].property("vp_name")


def test_reconstruct_empty_layer_is_an_error(sheep_vae):
    doc = vp.Document()
    doc.add(vp.LineCollection(), 1)
    with pytest.raises(Exception) as info:
        _run(f"sketchrnn-reconstruct -m {sheep_vae} -l 1", doc)
    import click

    assert isinstance(info.value, click.ClickException)
    assert "layer 1 is empty" in info.value.format_message()
    line = _invoke_error(f"sketchrnn-reconstruct -m {sheep_vae} -l 1")
    assert "empty" in line


def test_complete_continues_from_the_partial_drawing(flamingo, sheep_vae, sheep_test):
    partial = sheep_test[0][:20]
    source = layout.layout_document([partial], size=30 * MM, layout="cell")
    doc = _run(f"sketchrnn-complete -m {flamingo} -l 1 -n 2 --seed 0", source)
    assert sorted(doc.layers) == [1, 2, 3]
    assert not doc.layers[2].is_empty() or not doc.layers[3].is_empty()
    doc = _run(f"sketchrnn-complete -m {sheep_vae} -l 1 --seed 0 -t 0.2", source)
    assert sorted(doc.layers) == [1, 2]
    assert doc.property("sketchart_command") == "sketchrnn-complete"


def test_reconstruct_from_an_svg_file(sheep_vae, sheep_test, tmp_path):
    svg = tmp_path / "sheep.svg"
    drawing = layout.layout_document(sheep_test[1:2], size=40 * MM, layout="cell")
    with open(svg, "w") as fp:
        vp.write_svg(fp, drawing)
    doc = _run(f"sketchrnn-reconstruct -m {sheep_vae} --svg {svg} -n 3 --seed 2 -t 0.5")
    assert sorted(doc.layers) == [1, 2, 3]
    assert all("reconstruction" in lc.property("vp_name") for lc in doc.layers.values())
    # the redrawings sit in the square box of the drawing as vpype reads it from the file
    ox0, oy0, ox1, oy1 = vp.read_svg(str(svg), quantization=0.1)[0].bounds()
    half = max(ox1 - ox0, oy1 - oy0) / 2
    centre = np.array([(ox0 + ox1) / 2, (oy0 + oy1) / 2])
    assert half == pytest.approx(20 * MM, rel=1e-3)
    assert doc.bounds() is not None
    xmin, ymin, xmax, ymax = doc.bounds()
    assert np.all(np.abs(np.array([[xmin, ymin], [xmax, ymax]]) - centre) <= half + 0.1)
