"""``sketchart plot`` (typer) and ``vpype ... plot`` (plugin) end to end on the emulators."""

from __future__ import annotations

import numpy as np
import pytest
from plot_testing import STEP_MM, assert_polyline_close
from typer.testing import CliRunner

from sketchart.cli import app, main
from sketchart.plot.emulators import EBBEmulator, GrblEmulator
from sketchart.plot.paths import MM_PER_PX, load_svg


@pytest.fixture
def svg(tmp_path):
    """A two-layer A4 SVG written by vpype (so units and layers round-trip for real)."""
    import vpype as vp

    doc = vp.Document(page_size=(210 / MM_PER_PX, 297 / MM_PER_PX))
    t = np.linspace(0, 2 * np.pi, 25)
    circle = (60 + 20 * np.cos(t)) + 1j * (80 + 20 * np.sin(t))
    doc.add(vp.LineCollection([circle / MM_PER_PX]), 1)
    doc.add(vp.LineCollection([np.array([20 + 30j, 120 + 150j, 150 + 40j]) / MM_PER_PX]), 2)
    path = tmp_path / "drawing.svg"
    with open(path, "w") as fh:
        vp.write_svg(fh, doc)
    return path


def test_svg_reads_in_mm(svg):
    doc = load_svg(svg)
    assert len(doc.layers) == 2
    assert np.allclose(doc.layers[1].lines[0], [[20, 30], [120, 150], [150, 40]], atol=1e-3)
    assert doc.page_size_mm == pytest.approx((210, 297))


def test_cli_dry_run(svg):
    result = CliRunner().invoke(app, ["plot", str(svg), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "2 paths in 2 layer(s) on axidraw V3/A4" in result.output
    assert "estimated time" in result.output
    assert not svg.with_name("drawing.svg.plot.json").exists()


def test_cli_plots_on_the_emulator_then_resume_says_done(svg):
    with EBBEmulator() as emu:
        result = CliRunner().invoke(app, ["plot", str(svg), "--port", emu.url, "--no-pause"])
        assert result.exit_code == 0, result.output
        traced = emu.pen_down_paths()
        doc = load_svg(svg)
        for got, want in zip(
            traced, [doc.layers[0].lines[0], doc.layers[1].lines[0]], strict=True
        ):
            assert_polyline_close(got, want, STEP_MM)
        assert svg.with_name("drawing.svg.plot.json").exists()
        again = CliRunner().invoke(app, ["plot", str(svg), "--port", emu.url, "--resume"])
        assert again.exit_code == 0 and "nothing to resume" in again.output


def test_cli_pauses_for_each_layer(svg):
    with EBBEmulator() as emu:
        result = CliRunner().invoke(app, ["plot", str(svg), "--port", emu.url], input="\n\n")
        assert result.exit_code == 0, result.output
        assert result.output.count("put in its pen") == 2


def test_cli_grbl_with_template_values(svg):
    with GrblEmulator(pen="z") as emu:
        result = CliRunner().invoke(
            app,
            [
                "plot",
                str(svg),
                "--device",
                "grbl",
                "--port",
                emu.url,
                "--profile",
                "grbl-z",
                "-d",
                "feed=1500",
                "-d",
                "pen_up_z=3",
                "--no-pause",
            ],
        )
        assert result.exit_code == 0, result.output
        assert "G1 X120.000 Y150.000 F1500" in emu.log and "G0 Z3" in emu.log
        assert len(emu.pen_down_paths()) == 2


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--model", "V3/A4"], "outside the AxiDraw V3/A4 travel"),
        (["--port", "sketchartemu://missing"], "cannot open the AxiDraw port"),
        (["--device", "plotbot"], "unknown device 'plotbot'"),
        (["--pen-up", "150"], "pen-up 150.0 is not a 0-100 percent"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, args, expected):
    import vpype as vp

    doc = vp.Document()
    doc.add(vp.LineCollection([np.array([10 + 10j, 400 + 10j]) / MM_PER_PX]), 1)
    path = tmp_path / "wide.svg"
    with open(path, "w") as fh:
        vp.write_svg(fh, doc)
    if "outside" not in expected:
        doc2 = vp.Document()
        doc2.add(vp.LineCollection([np.array([10 + 10j, 40 + 10j]) / MM_PER_PX]), 1)
        with open(path, "w") as fh:
            vp.write_svg(fh, doc2)
    with pytest.raises(SystemExit) as info:
        main(["plot", str(path), *args])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and expected in err and err.count("\n") == 1


def test_cli_missing_file(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["plot", str(tmp_path / "nope.svg"), "--dry-run"])
    assert "no such file" in capsys.readouterr().err


def test_cli_empty_svg(tmp_path, capsys):
    path = tmp_path / "empty.svg"
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="100mm" height="100mm"/>')
    with pytest.raises(SystemExit):
        main(["plot", str(path), "--dry-run"])
    assert "the document is empty" in capsys.readouterr().err


def test_vpype_plot_command_on_the_emulator(tmp_path, monkeypatch):
    import vpype_cli

    from vpype_sketchart.plot_command import plot

    assert plot.help_group == "sketchart"
    if "plot" not in vpype_cli.cli.commands:
        vpype_cli.cli.add_command(plot, "plot")
    monkeypatch.chdir(tmp_path)
    with EBBEmulator() as emu:
        doc = vpype_cli.execute(
            f"line 10mm 10mm 60mm 40mm circle 80mm 80mm 10mm plot --port {emu.url} --no-pause"
        )
        assert len(doc.layers[1]) == 2  # the document passes through
        traced = emu.pen_down_paths()
        assert len(traced) == 2
        assert_polyline_close(traced[0], np.array([[10.0, 10.0], [60.0, 40.0]]), STEP_MM)
        # no vp_source: the journal is named after the drawing, never a shared file
        assert len(list(tmp_path.glob("sketchart-plot-*.json"))) == 1


def test_vpype_plot_errors_are_click_errors(tmp_path, monkeypatch):
    import click
    import vpype_cli

    from vpype_sketchart.plot_command import plot

    if "plot" not in vpype_cli.cli.commands:
        vpype_cli.cli.add_command(plot, "plot")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(click.ClickException, match="outside the AxiDraw MiniKit travel"):
        vpype_cli.execute("line 10mm 10mm 200mm 40mm plot --model MiniKit --dry-run")


def test_gwrite_uses_the_shipped_profiles(tmp_path):
    import vpype_cli

    from sketchart.plot import load_gwrite_profiles

    load_gwrite_profiles()
    out = tmp_path / "out.gcode"
    vpype_cli.execute(f"line 10mm 20mm 30mm 40mm gwrite -p grbl-servo '{out}'")
    text = out.read_text().splitlines()
    assert text[:2] == ["G21", "G90"]
    assert "G0 X10.000 Y20.000" in text and "G1 X30.000 Y40.000 F3000" in text
    assert text[-3:] == ["M5", "G4 P0.15", "G0 X0 Y0"]
