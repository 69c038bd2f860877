"""``sketchart interpolate|reconstruct|complete`` draw what the vpype plugin draws.

Both front ends call the same :mod:`sketchart.page` functions; these tests run each
command both ways with the same options and seed and compare the written SVGs (all but
the command line and date vpype records in their metadata), with the shipped sheep VAE and
Google's flamingo (decoder-only).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import NoReturn

import click
import pytest
import vpype as vp
import vpype_cli
from conftest import shared_path
from typer.testing import CliRunner

from sketchart.cli import app, main
from sketchart.data.npzsafe import read_npz
from sketchart.errors import SketchartError
from sketchart.page import layout, plans, redraw
from sketchart.page.options import OptionError, Pens, Sampling

ROOT = Path(__file__).resolve().parents[1]
SHEEP = ROOT / "models" / "sheep"
MM = vp.convert_length("mm")

runner = CliRunner()


@pytest.fixture(scope="module")
def flamingo() -> Path:
    return shared_path("models", "sketch-rnn-js", "flamingo.gen.json")


@pytest.fixture(scope="module")
def sheep_svgs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two aaron_sheep test drawings side by side, and the first strokes of one."""
    test = read_npz(shared_path("data", "sketchrnn", "aaron_sheep.npz"))["test"]
    short = [s for s in test if len(s) <= 80][:2]
    folder = tmp_path_factory.mktemp("sheep_svgs")
    pair, partial = folder / "pair.svg", folder / "partial.svg"
    for path, doc in (
        (pair, layout.layout_document(short, size=30 * MM, gap=10 * MM)),
        (partial, layout.layout_document([short[0][:25]], size=30 * MM, layout="cell")),
    ):
        with open(path, "w") as fp:
            vp.write_svg(fp, doc)
    return pair, partial


def _comparable(svg: str) -> str:
    """The SVG without what differs by front end: the command line and the date."""
    svg = re.sub(r"<dc:source>.*?</dc:source>", "", svg, flags=re.S)
    return re.sub(r"<dc:date>[^<]*</dc:date>", "", svg)


def _both(tmp_path: Path, command: str, options: str) -> tuple[str, str]:
    """The SVGs ``sketchart COMMAND`` and ``vpype sketchrnn-COMMAND ... write`` write."""
    cli_svg, vpype_svg = tmp_path / "cli.svg", tmp_path / "vpype.svg"
    result = runner.invoke(app, [command, *options.split(), "-o", str(cli_svg)])
    assert result.exit_code == 0, result.output
    vpype_cli.execute(f"sketchrnn-{command} {options} write {vpype_svg}")
    return _comparable(cli_svg.read_text()), _comparable(vpype_svg.read_text())


def _layer_names(svg: str) -> list[str]:
    return re.findall(r'inkscape:label="([^"]*)"', svg)


def test_interpolate_same_seed_same_svg(tmp_path: Path) -> None:
    cli, plugin = _both(
        tmp_path, "interpolate",
        f"-m {SHEEP} -e seed:1 -e seed:2 --steps 3 -t 0.3 --seed 5 --max-len 40 --optimize",
    )
    assert cli == plugin
    assert _layer_names(cli) == ["1 aaron_sheep row 1 (seed 5, T=0.3)"]
    assert cli.count("<path") + cli.count("<polyline") >= 3


def test_interpolate_grid_from_svg_corners_same_svg(tmp_path: Path, sheep_svgs) -> None:
    pair, partial = sheep_svgs
    cli, plugin = _both(
        tmp_path, "interpolate",
        f"-m {SHEEP} --grid 2x2 -e {pair} -e seed:3 -e {partial} -e seed:4 --seed 1 "
        "--max-len 30 -p a5 --landscape --layers per-cell --size 2cm --gap 1cm",
    )
    assert cli == plugin
    assert len(_layer_names(cli)) == 4


def test_reconstruct_same_seed_same_svg(tmp_path: Path, sheep_svgs) -> None:
    pair, _ = sheep_svgs
    cli, plugin = _both(
        tmp_path, "reconstruct",
        f"--model {SHEEP} --svg {pair} -n 2 -t 0.3 --seed 2 --max-len 40 --colors red,blue "
        "--pen-width 0.5mm",
    )
    assert cli == plugin
    names = [f"{k} aaron_sheep reconstruction {k} (seed 2, T=0.3)" for k in (1, 2)]
    assert _layer_names(cli) == names


def test_complete_same_seed_same_svg(tmp_path: Path, flamingo: Path, sheep_svgs) -> None:
    _, partial = sheep_svgs
    cli, plugin = _both(
        tmp_path, "complete",
        f"-m {flamingo} --svg {partial} -n 2 --seed 0 --max-len 30 --name bird --whole-layer",
    )
    assert cli == plugin
    assert _layer_names(cli) == [f"{k} bird {k} (seed 0, T=0.65)" for k in (1, 2)]


def test_cli_reads_the_written_svg_back(tmp_path: Path, flamingo: Path, sheep_svgs) -> None:
    _, partial = sheep_svgs
    out = tmp_path / "done.svg"
    result = runner.invoke(app, ["complete", "-m", str(flamingo), "--svg", str(partial),
                                 "--max-len", "20", "-o", str(out)])
    assert result.exit_code == 0, result.output
    seed = int(re.search(r"seed (\d+)", result.output).group(1))  # printed when drawn
    doc = vp.read_multilayer_svg(str(out), quantization=0.1)
    # vpype takes the layer id from the number the label starts with
    [layer] = doc.layers.values()
    assert layer.property("vp_name") == f"1 flamingo completion (seed {seed}, T=0.65)"
    assert list(doc.layers) == [1]
    assert layer.property("vp_color") == vp.Color("#d62728")  # after the originals' black


@pytest.mark.parametrize(
    "argv, message",
    [
        (["interpolate", "-m", "x", "-e", "seed:1"], "give 2 endpoints"),
        (["interpolate", "-c", "flamingo", "-m", "x"], "not both"),
        (["reconstruct", "--svg", "x.svg"], "give a model"),
        (["complete", "-m", "/nonexistent/x.gen.json", "--svg", "x.svg"], "no such file"),
    ],
)
def test_cli_usage_errors_are_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*argv, "-o", str(tmp_path / "x.svg")])
    assert info.value.code in (1, 2)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_bad_option_values(tmp_path: Path, flamingo: Path) -> None:
    out = str(tmp_path / "x.svg")
    for argv, message in (
        (["interpolate", "-m", str(SHEEP), "--grid", "1x3", "-o", out], "at least 2x2"),
        (["interpolate", "-m", str(SHEEP), "--gap", "5furlongs", "-o", out], "not a length"),
        (["interpolate", "-m", str(SHEEP), "-t", "0", "-o", out], "must be positive"),
        (["interpolate", "-m", str(flamingo), "-o", out], "decoder-only"),
        (["reconstruct", "-m", str(SHEEP), "--svg", "x.svg", "-n", "0", "-o", out],
         "at least 1"),
    ):
        result = runner.invoke(app, argv)
        assert result.exit_code != 0
        text = result.output + str(result.exception)
        assert message in text, (argv, text)
    assert not Path(out).exists()


def test_no_seed_draws_one_per_run(tmp_path: Path) -> None:
    seeds, outs = [], []
    for name in ("a.svg", "b.svg"):
        out = tmp_path / name
        result = runner.invoke(app, ["interpolate", "-m", str(SHEEP), "--steps", "2",
                                     "--max-len", "10", "-o", str(out)])
        assert result.exit_code == 0, result.output
        seeds.append(int(re.search(r"seed (\d+)", result.output).group(1)))
        outs.append(_comparable(out.read_text()))
    assert seeds[0] != seeds[1] and outs[0] != outs[1]
    # the printed seed remakes the drawing
    again = tmp_path / "again.svg"
    result = runner.invoke(app, ["interpolate", "-m", str(SHEEP), "--steps", "2",
                                 "--max-len", "10", "--seed", str(seeds[1]), "-o", str(again)])
    assert result.exit_code == 0, result.output
    assert _comparable(again.read_text()) == outs[1]


# -- what is cheap is checked first ---------------------------------------------------------


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sampling functions and endpoint encoding, replaced: each call is recorded and
    fails, so a check that comes after any of them cannot pass unseen."""
    from sketchart.generate import sampling

    calls: list[str] = []

    def recorder(name: str) -> Callable[..., NoReturn]:
        def call(*args: object, **kwargs: object) -> NoReturn:
            calls.append(name)
            raise RuntimeError(f"{name} was called")
        return call

    for name in ("sample", "interpolate", "grid", "encode", "decode", "complete"):
        monkeypatch.setattr(sampling, name, recorder(name))
    monkeypatch.setattr(plans, "endpoint_z", recorder("endpoint_z"))
    return calls


def _stub(conditional: bool) -> SimpleNamespace:
    return SimpleNamespace(hps=SimpleNamespace(conditional=conditional, max_seq_len=40))


def test_page_and_model_checks_come_before_sampling(drawn: list[str]) -> None:
    a6 = vp.convert_page_size("a6")
    run, pens = Sampling(0.5, 1), Pens()
    with pytest.raises(SketchartError, match="more than the"):
        plans.sample_page(vp.Document(), _stub(True), "stub", run, count=4, size=100 * MM,
                          page_size=a6, pens=pens)
    with pytest.raises(SketchartError, match="more than the"):
        plans.interpolate_page(vp.Document(), _stub(True), "stub", run, grid=(2, 2),
                               size=100 * MM, page_size=a6, pens=pens)
    with pytest.raises(OptionError, match="decoder-only"):
        plans.interpolate_page(vp.Document(), _stub(False), "stub", run, pens=pens)
    with pytest.raises(OptionError, match="decoder-only"):
        redraw.reconstruct_page(vp.Document(), _stub(False), "stub", run, [], pens=pens)
    assert drawn == []
    # the stand-ins are in place: a page that fits gets as far as sampling
    with pytest.raises(RuntimeError):
        plans.sample_page(vp.Document(), _stub(True), "stub", run, count=4, size=10 * MM,
                          page_size=a6, pens=pens)
    assert drawn == ["sample"]


def test_front_ends_check_the_page_before_loading_the_model(tmp_path: Path) -> None:
    missing = "/nonexistent/x.gen.json"  # loading it would fail with "no such file"
    result = runner.invoke(app, ["interpolate", "-m", missing, "--size", "10cm", "-p", "a6",
                                 "-o", str(tmp_path / "x.svg")])
    assert result.exit_code != 0
    assert "more than the" in result.output + str(result.exception)
    for command in (f"sketchrnn-sample -m {missing} -n 4 --size 10cm -p a6",
                    f"sketchrnn-interpolate -m {missing} --steps 3 --size 10cm -p a6"):
        with pytest.raises(click.ClickException, match="more than the"):
            vpype_cli.execute(command)
