"""AxiDraw parity with axicli against the emulators: live progress, per-layer pens, layer
selection, models and pen-lifts, copies, the journal's records, settings from vpype's
configuration, firmware versions, and the GRBL/EBB stop fixes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from plot_testing import STEP_MM, assert_polyline_close, synthetic_document

from sketchart.errors import SketchartError
from sketchart.plot import AxiDrawSettings, PlotOptions, document_from_lines, plot_document
from sketchart.plot.config import merge_config
from sketchart.plot.drivers.ebb_planner import AXIDRAW_MODELS, SERVO_RANGE, resolve_model
from sketchart.plot.emulators import EBBEmulator, GrblEmulator
from sketchart.plot.layers import layer_pen, select_layers
from sketchart.plot.live import progress_mode
from sketchart.plot.options import plot_option_table
from sketchart.plot.paths import PlotLayer
from sketchart.plot.run import PlotInterrupted


def _three_layers(names):
    square = np.array([[20.0, 20], [40, 20], [40, 40], [20, 40], [20, 20]])
    layers = [[square + [30 * i, 10 * i]] for i in range(3)]
    return document_from_lines(layers, names=names, source="<layers>")


def _plot(doc, emu, tmp_path, echo=None, **kw):
    kw.setdefault("quiet", True)
    opts = PlotOptions(port=emu.url, journal=tmp_path / "j.json", **kw)
    return plot_document(doc, opts, echo=echo or (lambda s: None))


# -- 1. live progress --------------------------------------------------------------------
@pytest.mark.parametrize("device", ["axidraw", "grbl"])
def test_plain_progress_lines_when_not_a_terminal(device, tmp_path):
    doc = synthetic_document(seed=4, layers=2, paths_per_layer=6)
    said: list[str] = []
    with EBBEmulator() if device == "axidraw" else GrblEmulator() as emu:
        _plot(doc, emu, tmp_path, echo=said.append, device=device, quiet=False, pause=None)
    lines = [s for s in said if s.startswith("progress: ")]
    assert len(lines) >= 2  # one every few seconds of plot time, and the last path
    assert lines[-1].startswith(f"progress: {doc.path_count}/{doc.path_count} paths")
    assert "m pen down" in lines[-1] and "elapsed" in lines[-1] and "left" in lines[-1]
    assert "layer 2" in lines[-1]


def test_quiet_prints_no_progress(tmp_path):
    said: list[str] = []
    with EBBEmulator() as emu:
        _plot(synthetic_document(seed=4), emu, tmp_path, echo=said.append, quiet=True)
    assert not [s for s in said if s.startswith("progress")]


def test_progress_mode_follows_the_terminal():
    class Tty:
        def isatty(self) -> bool:
            return True

    assert progress_mode(False, Tty()) == "bar"
    assert progress_mode(False, object()) == "lines"
    assert progress_mode(True, Tty()) == "off"


# -- 4. per-layer pen settings -----------------------------------------------------------
def test_layer_names_set_height_and_speed_seen_in_the_trace(tmp_path):
    doc = _three_layers(["1 +H10", "2 +H80 +S20", "3"])
    base = AxiDrawSettings(pen_down=30.0, pen_up=90.0)
    with EBBEmulator() as emu:
        _plot(doc, emu, tmp_path, axidraw=base, pause=None)
        positions = [p for _, p in emu.pen_down_positions]
    assert positions == [base.servo_value(10), base.servo_value(80), base.servo_value(30)]
    with EBBEmulator() as emu:
        slow = _plot(doc, emu, tmp_path, axidraw=base, pause=None, resume=False)
    fast = plot_document(
        _three_layers(["1 +H10", "2 +H80", "3"]),
        PlotOptions(dry_run=True, axidraw=base),
        echo=lambda s: None,
    )
    assert slow.estimate_s > fast.estimate_s  # +S20 draws layer 2 slower


def test_vpype_layer_properties_win_over_the_name():
    layer = PlotLayer(
        2, "2 +H80", [np.zeros((1, 2))], {"sketchart_pen_down": 35, "sketchart_speed": "50"}
    )
    pen = layer_pen(layer)
    assert (pen.pen_down, pen.speed, pen.force_pause) == (35.0, 50.0, False)
    assert layer_pen(PlotLayer(1, "!1 refill", [])).force_pause
    with pytest.raises(SketchartError, match="pen-down height 120 is not in 0-100"):
        layer_pen(PlotLayer(1, "1 +H120", []))


def test_no_pause_still_pauses_before_a_bang_layer(tmp_path):
    doc = _three_layers(["1", "!2 gold", "3"])
    asked: list[str] = []
    with EBBEmulator() as emu:
        _plot(doc, emu, tmp_path, pause=asked.append, layer_pauses=False)
    assert len(asked) == 1 and "layer 2/3 (!2 gold): forced pause (!)" in asked[0]


def test_dry_run_reports_each_layers_settings(tmp_path):
    said: list[str] = []
    plot_document(
        _three_layers(["1 +H10", "!2 +S50", "3"]),
        PlotOptions(dry_run=True, journal=tmp_path / "j.json"),
        echo=said.append,
    )
    layer_lines = [s for s in said if s.startswith("  layer ")]
    assert "pen down 10 %" in layer_lines[0]
    assert "pauses before (!)" in layer_lines[1] and "109 mm/s" in layer_lines[1]


# -- 5. plot only some layers ------------------------------------------------------------
def test_only_the_chosen_layers_are_drawn_and_resume_keeps_them(tmp_path):
    doc = _three_layers(["1 red", "2 blue", "3 green"])
    with EBBEmulator() as emu:
        emu.inject("interrupt", 60)
        with pytest.raises(PlotInterrupted):
            _plot(doc, emu, tmp_path, layers=(1, 3), pause=None)
        data = json.loads((tmp_path / "j.json").read_text())
        assert data["layers"] == [1, 3]
        _plot(doc, emu, tmp_path, resume=True, pause=None)  # no --layer: the journal's
        drawn = emu.pen_down_paths()
    expected = [doc.layers[0].lines[0], doc.layers[2].lines[0]]
    assert_polyline_close(drawn[-1], expected[-1], STEP_MM)
    for got in drawn:
        assert not np.allclose(got[0], doc.layers[1].lines[0][0])
    with pytest.raises(SketchartError, match="no layer 7; layers are 1, 2, 3"):
        select_layers(doc, [7])


# -- 6. models and pen-lifts -------------------------------------------------------------
def test_every_axicli_model_by_number_and_name():
    assert len(AXIDRAW_MODELS) == 7
    assert [resolve_model(str(i)) for i in range(1, 8)] == list(AXIDRAW_MODELS)
    assert resolve_model("xlx") == "V3/XLX" and resolve_model("se/a2") == "SE/A2"
    assert AXIDRAW_MODELS["V3/B6"] == (190.0, 140.0)
    with pytest.raises(SketchartError, match="1=V3/A4"):
        resolve_model("9")


def test_xlx_travel_accepts_a_wide_drawing(tmp_path):
    wide = document_from_lines([[np.array([[10.0, 10], [580, 200]])]], source="<wide>")
    opts = PlotOptions(dry_run=True, journal=tmp_path / "j.json")
    with pytest.raises(SketchartError, match="outside the AxiDraw V3/A4 travel"):
        plot_document(wide, opts, echo=lambda s: None)
    xlx = dataclasses.replace(opts, axidraw=AxiDrawSettings(model="V3/XLX"))
    assert plot_document(wide, xlx, echo=lambda s: None).dry_run


def test_brushless_penlift_drives_pin_b2_in_its_range(tmp_path):
    settings = AxiDrawSettings(penlift=3, pen_down=20.0)
    with EBBEmulator() as emu:
        _plot(synthetic_document(seed=1), emu, tmp_path, axidraw=settings, pause=None)
        assert any(cmd.startswith("S2,") for cmd in emu.log)
        assert not any(cmd.startswith("SP,") for cmd in emu.log)
        low, high = SERVO_RANGE["brushless"]
        assert {pin for pin, _ in emu.pen_down_positions} == {2}
        assert all(low <= pos <= high for _, pos in emu.pen_down_positions)
        assert not emu.pen_is_down


# -- 8. copies and settings from vpype's configuration -----------------------------------
def test_copies_with_a_page_delay(tmp_path):
    doc = synthetic_document(seed=6, layers=1, paths_per_layer=3)
    said: list[str] = []
    with EBBEmulator() as emu:
        report = _plot(doc, emu, tmp_path, echo=said.append, copies=2, page_delay=30.0)
        assert len(emu.pen_down_paths()) == 2 * doc.path_count
    assert report.elapsed_s > 30.0
    assert any("copy 1/2 done" in s for s in said)
    data = json.loads((tmp_path / "j.json").read_text())
    assert data["copies"] == 2 and data["copy"] == 1 and data["complete"]


def test_config_table_fills_what_the_command_line_left_out():
    table = plot_option_table()
    values = {o.name: o.default for o in table}
    settings = {"axidraw_model": 2, "pen_down": 35, "penlift": 3, "layer": [1, 2]}
    merged = merge_config(values, table, lambda name: name == "pen_down", settings)
    assert merged["axidraw_model"] == "2" and merged["penlift"] == 3
    assert merged["pen_down"] == values["pen_down"]  # given on the command line: it wins
    assert merged["layer"] == [1, 2]
    with pytest.raises(SketchartError, match=r"unknown key pen_hight; valid keys: .*pen_down"):
        merge_config(values, table, lambda name: False, {"pen_hight": 3})
    with pytest.raises(SketchartError, match="penlift = 'x': expected int"):
        merge_config(values, table, lambda name: False, {"penlift": "x"})


def test_sketchart_plot_reads_the_vpype_config(tmp_path, monkeypatch):
    import vpype as vp
    from typer.testing import CliRunner

    from sketchart.cli import app

    svg = tmp_path / "d.svg"
    doc = vp.Document(page_size=(800, 600))
    doc.add(vp.LineCollection([np.array([10 + 10j, 700 + 500j])]), 1)
    with open(svg, "w") as fh:
        vp.write_svg(fh, doc)
    monkeypatch.setitem(vp.config_manager.config, "sketchart", {"plot": {"axidraw_model": 5}})
    out = CliRunner().invoke(app, ["plot", str(svg), "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "on axidraw SE/A1" in out.output
    out = CliRunner().invoke(app, ["plot", str(svg), "--dry-run", "--axidraw-model", "3"])
    assert "on axidraw V3/XLX" in out.output


# -- 9. firmware -------------------------------------------------------------------------
def test_firmware_3_plots_and_its_error_lines_keep_the_replies_in_step(tmp_path):
    doc = synthetic_document(seed=2)
    with EBBEmulator(version="EBBv13_and_above EB Firmware Version 3.0.2") as emu:
        report = _plot(doc, emu, tmp_path, pause=None)
        assert report.paths_done == doc.path_count and emu.violations == []
        data = json.loads((tmp_path / "j.json").read_text())
        assert data["firmware"].endswith("3.0.2")


def test_firmware_2_error_line_and_its_ok_are_both_read(tmp_path):
    from sketchart.plot.drivers.ebb import EBBDriver
    from sketchart.plot.serialio import DeviceError

    for version in ("2.8.1", "3.0.2"):
        with EBBEmulator(version=f"EBBv13_and_above EB Firmware Version {version}") as emu:
            driver = EBBDriver(synthetic_document(), AxiDrawSettings(), emu.url)
            driver.connect()
            with pytest.raises(DeviceError, match="Unknown command"):
                driver.command("ZZ")
            assert driver.command("QB", reply="query") == "0"  # the next reply is its own
            driver.close()


def test_a_too_old_board_is_refused_in_one_line(tmp_path):
    with EBBEmulator(version="EBBv13_and_above EB Firmware Version 2.4.1") as emu:
        with pytest.raises(SketchartError, match=r"firmware 2\.4\.1, too old .*needs 2\.5\.0"):
            _plot(synthetic_document(), emu, tmp_path)


# -- the stop fixes ----------------------------------------------------------------------
def test_grbl_second_ctrl_c_still_lifts_the_pen_and_writes_the_journal(tmp_path, monkeypatch):
    from sketchart.plot.drivers.grbl import GrblDriver

    original = GrblDriver._hold_reset_lift
    calls = {"n": 0}

    def twice(self):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt  # the user presses Ctrl-C again while it stops
        original(self)

    monkeypatch.setattr(GrblDriver, "_hold_reset_lift", twice)
    with GrblEmulator() as emu:
        emu.inject("interrupt", 40)
        with pytest.raises(PlotInterrupted) as info:
            _plot(synthetic_document(seed=3), emu, tmp_path, device="grbl", pause=None)
        assert info.value.exit_code == 130 and not emu.pen_is_down
    data = json.loads((tmp_path / "j.json").read_text())
    assert data["message"] == "interrupted (Ctrl-C)" and data["position"] is not None


def test_a_port_failing_with_termios_error_is_a_device_error():
    import termios

    from sketchart.plot.serialio import DeviceError, LineReader, RealClock

    class Gone:
        in_waiting = 0

        def reset_input_buffer(self):
            raise termios.error(5, "Input/output error")

        def read(self, n):
            raise termios.error(5, "Input/output error")

    reader = LineReader(Gone(), RealClock(), "AxiDraw")
    reader.clear()  # swallowed: clearing a dead port has nothing left to do
    with pytest.raises(DeviceError, match="stopped responding"):
        reader.read_line(0.1)


# -- 10. the emulator --------------------------------------------------------------------
def test_emulator_hm_returns_home_and_sc_settings_are_kept():
    from sketchart.plot.drivers.ebb_manual import EBBManual

    with EBBEmulator() as emu:
        manual = EBBManual(AxiDrawSettings(pen_up=70, pen_down=25), emu.url, None)
        manual.connect()
        manual.lower_pen()
        s = manual.settings
        assert emu.servo[4] == s.servo_value(70) and emu.servo[5] == s.servo_value(25)
        manual.raise_pen()
        manual.walk(12.0, -3.0)
        assert emu.position == pytest.approx((12.0, -3.0), abs=STEP_MM)
        manual.home()
        assert "HM,3200" in emu.log and emu.position == (0.0, 0.0)
        manual.close()


def test_the_bar_survives_a_pen_change_prompt():
    from sketchart.plot.emulators.base import VirtualClock
    from sketchart.plot.live import LiveProgress

    clock = VirtualClock()
    live = LiveProgress("bar", 3, 30.0, 9.0, clock, print)
    live.set_layer("layer 1 (red)")
    clock.sleep(3)
    live.path_done(10.0)
    live.close()  # the run loop stops the bar for the prompt
    live.path_done(10.0)
    assert live.paths == 2 and "2/3 paths" in live.status() and "~0:03 left" in live.status()
    live.close()
    live.close()


def test_resume_inside_the_second_copy_finishes_only_that_copy(tmp_path):
    doc = synthetic_document(seed=6, layers=1, paths_per_layer=3)
    with EBBEmulator() as emu:
        _plot(doc, emu, tmp_path, copies=2)
        clean = emu.commands_seen
    with EBBEmulator() as emu:
        emu.inject("interrupt", int(clean * 0.8))
        with pytest.raises(PlotInterrupted, match=r"of copy 2/2"):
            _plot(doc, emu, tmp_path, copies=2)
        data = json.loads((tmp_path / "j.json").read_text())
        assert data["copy"] == 1 and data["copies"] == 2
        first = len(emu.pen_down_paths())
        mark = len(emu.trace)
        _plot(doc, emu, tmp_path, resume=True)  # copies come from the journal
        resumed = emu.pen_down_paths(since=mark)
        assert len(resumed) == doc.path_count - int(data["finished_paths"])
        assert first - doc.path_count <= int(data["finished_paths"]) + 1


def test_resume_with_other_layers_is_refused(tmp_path):
    doc = _three_layers(["1", "2", "3"])
    with EBBEmulator() as emu:
        emu.inject("interrupt", 30)
        with pytest.raises(PlotInterrupted):
            _plot(doc, emu, tmp_path, layers=(1, 2), pause=None)
        with pytest.raises(SketchartError, match="chose --layer 1 --layer 2; resume with"):
            _plot(doc, emu, tmp_path, layers=(3,), resume=True)
