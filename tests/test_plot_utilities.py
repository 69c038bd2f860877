"""``sketchart plotter ...`` (manual utilities) and the new plot options in both CLIs."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from sketchart.cli import app
from sketchart.plot.emulators import EBBEmulator, GrblEmulator
from sketchart.plot.paths import MM_PER_PX


def _run(*args: str):
    return CliRunner().invoke(app, ["plotter", *args])


def test_axidraw_utilities_on_the_emulator():
    with EBBEmulator() as emu:
        out = _run("version", "--port", emu.url)
        assert out.exit_code == 0 and out.output.strip().endswith("Version 2.8.1")
        assert _run("lower", "--port", emu.url, "--pen-down", "20").exit_code == 0
        assert emu.pen_is_down and emu.servo[5] == 9855 + round(0.2 * (27831 - 9855))
        assert _run("toggle", "--port", emu.url).exit_code == 0 and not emu.pen_is_down
        assert _run("toggle", "--port", emu.url).exit_code == 0 and emu.pen_is_down
        assert _run("raise", "--port", emu.url).exit_code == 0 and not emu.pen_is_down
        assert _run("walk", "--x", "10", "--y", "5", "--port", emu.url).exit_code == 0
        assert _run("walk", "--x", "-4", "--port", emu.url).exit_code == 0  # relative
        assert emu.position == pytest.approx((6.0, 5.0), abs=0.02)
        assert _run("home", "--port", emu.url).exit_code == 0 and emu.position == (0, 0)
        assert _run("motors-off", "--port", emu.url).exit_code == 0 and not emu.motors_on


def test_grbl_utilities_on_the_emulator():
    with GrblEmulator() as emu:
        out = _run("version", "--device", "grbl", "--port", emu.url)
        assert out.exit_code == 0 and out.output.startswith("[VER:1.1h")
        assert _run("walk", "--device", "grbl", "--port", emu.url, "--x", "15").exit_code == 0
        assert emu.position == pytest.approx((15.0, 0.0))
        assert _run("home", "--device", "grbl", "--port", emu.url).exit_code == 0
        assert emu.position == pytest.approx((0.0, 0.0)) and not emu.pen_is_down
        assert _run("motors-off", "--device", "grbl", "--port", emu.url).exit_code == 0


def test_utilities_fail_in_one_line():
    from sketchart.cli import main

    with pytest.raises(SystemExit) as info:
        main(["plotter", "raise", "--device", "grbl"])
    assert info.value.code == 1


@pytest.fixture
def svg(tmp_path):
    import vpype as vp

    doc = vp.Document(page_size=(210 / MM_PER_PX, 297 / MM_PER_PX))
    for i in range(3):
        line = np.array([20 + 30 * i + 30j, 40 + 30 * i + 90j]) / MM_PER_PX
        doc.add(vp.LineCollection([line]), i + 1)
    path = tmp_path / "three.svg"
    with open(path, "w") as fh:
        vp.write_svg(fh, doc)
    return path


def test_layer_option_in_sketchart_plot(svg):
    with EBBEmulator() as emu:
        args = ["plot", str(svg), "--port", emu.url, "--layer", "2", "--layer", "3"]
        out = CliRunner().invoke(app, [*args, "--no-pause", "--quiet"])
        assert out.exit_code == 0, out.output
        assert len(emu.pen_down_paths()) == 2
        assert emu.pen_down_paths()[0][0] == pytest.approx((50.0, 30.0), abs=0.02)


def test_layer_option_and_exit_130_in_the_vpype_command(svg):
    import vpype_cli
    from click.testing import CliRunner as ClickRunner

    with EBBEmulator() as emu:
        vpype_cli.execute(
            f"read {svg} plot --port {emu.url} --layer 1 --no-pause --quiet "
            f"--journal {svg.with_suffix('.json')}"
        )
        assert len(emu.pen_down_paths()) == 1
    with EBBEmulator() as emu:
        emu.press_button(at=40)
        journal = svg.with_suffix(".j2.json")
        out = ClickRunner().invoke(
            vpype_cli.cli,
            f"read {svg} plot --port {emu.url} --no-pause --quiet --journal {journal}",
        )
        assert out.exit_code == 130, out.output
        assert "paused (the AxiDraw's button)" in out.output
        assert not emu.pen_is_down


def test_old_model_spelling_still_works_with_a_warning(svg, caplog):
    out = CliRunner().invoke(app, ["plot", str(svg), "--dry-run", "--model", "MiniKit"])
    assert "on axidraw MiniKit" in out.output or "outside the AxiDraw MiniKit" in str(
        out.exception
    )
    assert "--model is deprecated" in caplog.text
    help_text = CliRunner().invoke(app, ["plot", "--help"]).output
    assert "--axidraw-model" in help_text and "--model " not in help_text


@pytest.mark.parametrize("profile", ["grbl-servo", "grbl-servo-bl-pause"])
def test_grbl_pen_utilities_with_the_shipped_servo_profiles(profile):
    # each command is a fresh session: toggle reads the spindle state back ($G)
    with GrblEmulator() as emu:
        base = ["--device", "grbl", "--port", emu.url, "--profile", profile]
        out = _run("lower", *base)
        assert out.exit_code == 0 and emu.pen_is_down, out.output
        assert _run("toggle", *base).exit_code == 0 and not emu.pen_is_down
        assert _run("toggle", *base).exit_code == 0 and emu.pen_is_down
        assert _run("raise", *base).exit_code == 0 and not emu.pen_is_down


@pytest.mark.parametrize("profile", ["grbl-z", "grbl-z-bl-pause"])
def test_grbl_pen_utilities_with_the_shipped_z_profiles(profile):
    with GrblEmulator(pen="z") as emu:  # powered on at Z = 0: raise first
        base = ["--device", "grbl", "--port", emu.url, "--profile", profile]
        out = _run("raise", *base)
        assert out.exit_code == 0 and not emu.pen_is_down, out.output
        assert _run("lower", *base).exit_code == 0 and emu.pen_is_down
        assert _run("raise", *base).exit_code == 0 and not emu.pen_is_down
        assert _run("toggle", *base).exit_code == 0 and emu.pen_is_down  # taken as up
