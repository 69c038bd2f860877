"""GRBL driver against the GRBL emulator; the gwrite profiles against vpype-gcode itself."""

from __future__ import annotations

import io

import numpy as np
import pytest
import serial
from conftest import shared_path
from plot_testing import assert_polyline_close, quickdraw_document, synthetic_document

from sketchart.errors import SketchartError
from sketchart.plot import PlotOptions, document_from_lines, plot_document
from sketchart.plot.emulators import EBBEmulator, GrblEmulator
from sketchart.plot.gcode import MachineLimits, estimate_program, parse_words
from sketchart.plot.profiles import get_profile, gwrite_profiles_path, render_program


@pytest.fixture
def grbl():
    emu = GrblEmulator()
    yield emu
    emu.close()


def _plot(doc, emu, tmp_path, **kw):
    opts = PlotOptions(device="grbl", port=emu.url, journal=tmp_path / "j.json", **kw)
    return plot_document(doc, opts, echo=lambda s: None)


@pytest.mark.parametrize("profile,pen", [("grbl-servo", "servo"), ("grbl-z", "z")])
def test_trace_time_and_buffer(profile, pen, tmp_path):
    doc = synthetic_document(seed=4)
    with GrblEmulator(pen=pen) as emu:
        t0 = emu.clock.now
        report = _plot(doc, emu, tmp_path, profile=profile)
        expected = [line for layer in doc.layers for line in layer.lines]
        traced = emu.pen_down_paths()
        assert len(traced) == len(expected)
        for got, want in zip(traced, expected):
            assert_polyline_close(got, want, 1e-3)  # G-code carries 3 decimals
        assert emu.pen_transitions() == ["down", "up"] * len(expected)
        assert emu.violations == []
        assert emu.rx_max <= 128
        assert not emu.pen_is_down and emu.position == (0.0, 0.0)
        emulated = emu.idle_at - t0
        assert abs(report.estimate_s - emulated) <= 0.05 * emulated


def test_real_drawings_keep_the_receive_buffer_full_but_never_over(grbl, tmp_path):
    doc = quickdraw_document(shared_path("data", "quickdraw", "simplified", "owl.ndjson"), 4)
    t0 = grbl.clock.now
    report = _plot(doc, grbl, tmp_path, defaults={"feed": "6000"})
    assert grbl.violations == []
    assert 100 < grbl.rx_max <= 128  # character counting really fills the buffer
    for got, want in zip(grbl.pen_down_paths(), doc.layers[0].lines, strict=True):
        assert_polyline_close(got, want, 1e-3)
    emulated = grbl.idle_at - t0
    assert abs(report.estimate_s - emulated) <= 0.05 * emulated


def test_a_naive_sender_overflows_the_emulated_buffer(grbl):
    # the overflow check can fail: streaming without counting breaks it
    port = serial.serial_for_url(grbl.url, timeout=0.1)
    port.read(100)
    port.write(b"".join(f"G1 X{i}.000 Y{i}.000 F3000\n".encode() for i in range(10)))
    assert grbl.violations and "overflow" in grbl.violations[0]
    port.close()


def test_render_equals_vpype_gcode_gwrite(tmp_path):
    import vpype as vp
    import vpype_cli

    from sketchart.plot.paths import MM_PER_PX, document_from_vpype

    vdoc = vp.Document()
    rng = np.random.default_rng(0)
    for layer in (1, 2):
        lc = vp.LineCollection()
        for _ in range(3):
            pts = rng.uniform(10, 150, size=(5, 2)) / MM_PER_PX
            lc.append(pts[:, 0] + 1j * pts[:, 1])
        vdoc.add(lc, layer)
    vdoc.page_size = (210 / MM_PER_PX, 297 / MM_PER_PX)
    for name in ("grbl-servo", "grbl-z"):
        out = tmp_path / f"{name}.gcode"
        vpype_cli.execute(f"gwrite -p {name} '{out}'", document=vdoc)
        program = render_program(
            document_from_vpype(vdoc), get_profile(name), filename=str(out)
        )
        assert program.text == out.read_text()
        assert "\n".join(program.all_lines()) + "\n" == out.read_text()


def test_profiles_start_and_end_with_the_pen_up():
    doc = document_from_lines([np.array([[1.0, 2.0], [3.0, 4.0]])])
    servo = render_program(doc, get_profile("grbl-servo"))
    assert servo.document_start[:2] == ["G21", "G90"] and "M5" in servo.document_start
    assert servo.document_end[0] == "M5"
    z = render_program(doc, get_profile("grbl-z"))
    assert z.document_start[:3] == ["G21", "G90", "G0 Z5"]
    assert z.document_end[0] == "G0 Z5"
    assert gwrite_profiles_path().is_file()


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(SketchartError, match="no gwrite profile 'nope'.*grbl-servo"):
        get_profile("nope")


def test_missing_template_value_is_one_line_error():
    doc = document_from_lines([np.array([[1.0, 2.0], [3.0, 4.0]])])
    profile = dict(get_profile("grbl-servo"), segment="G1 X{x} F{speed}\n")
    with pytest.raises(SketchartError, match=r"no value for \{speed\}"):
        render_program(doc, profile)


def test_error_reply_stops_with_pen_up(grbl, tmp_path):
    profile_doc = synthetic_document(seed=5, layers=1)
    grbl.inject("error", 12)
    with pytest.raises(SketchartError, match="error:9") as info:
        _plot(profile_doc, grbl, tmp_path)
    assert "\n" not in str(info.value) and "--resume" in str(info.value)
    assert not grbl.pen_is_down


def test_out_of_travel_refused_before_any_motion(tmp_path):
    doc = document_from_lines([np.array([[10.0, 10.0], [250.0, 150.0]])])
    with GrblEmulator(settings={130: 200.0, 131: 200.0}) as emu:
        with pytest.raises(SketchartError, match=r"outside the GRBL travel .*\$130"):
            _plot(doc, emu, tmp_path)
        assert all(line.startswith("$") for line in emu.log)
        assert len(emu.pen_down_paths()) == 0


def test_wrong_device_on_the_port(tmp_path):
    with (
        EBBEmulator() as ebb,
        pytest.raises(SketchartError, match="wrong device on .*no GRBL greeting"),
    ):
        _plot(synthetic_document(), ebb, tmp_path)


def test_grbl_needs_a_port(tmp_path):
    opts = PlotOptions(device="grbl", port=None, journal=tmp_path / "j.json")
    with pytest.raises(SketchartError, match=r"GRBL needs --port .*; ports found: none"):
        plot_document(synthetic_document(), opts, echo=lambda s: None, list_ports=list)


def test_alarm_at_start_is_unlocked(grbl, tmp_path):
    grbl.state = "Alarm"
    _plot(synthetic_document(seed=6, layers=1, paths_per_layer=2), grbl, tmp_path)
    assert "$X" in grbl.log and grbl.state == "Idle"


def test_estimate_matches_a_hand_computed_trapezoid():
    limits = MachineLimits.from_settings({110: 6000, 111: 6000, 120: 100, 121: 100})
    # one 100 mm move at 3000 mm/min = 50 mm/s with 100 mm/s^2: 2 s cruise + 0.5 s ramps
    t = estimate_program(["G21", "G90", "G1 X100 Y0 F3000", "G4 P0.5"], limits)
    assert t == pytest.approx(100 / 50 + 50 / 100 + 0.5)


def test_parse_words():
    assert parse_words("g1 x10 Y-2.5 (comment) F3000 ; tail") == [
        ("G", 1.0),
        ("X", 10.0),
        ("Y", -2.5),
        ("F", 3000.0),
    ]
    with pytest.raises(ValueError):
        parse_words("G1 X1O")


def test_status_and_realtime_commands(grbl):
    port = serial.serial_for_url(grbl.url, timeout=0.1)
    assert b"Grbl 1.1h" in port.read(100)
    port.write(b"G21 G90\nG1 X50 F3000\n")
    assert port.read(100) == b"ok\r\n"
    assert port.read(100) == b"ok\r\n"
    port.write(b"?")
    assert port.read(200).startswith(b"<Run|")
    port.write(b"!")
    grbl.clock.sleep(5)
    port.write(b"?")
    assert port.read(200).startswith(b"<Hold:0|")
    port.write(b"~")
    grbl.clock.sleep(5)
    port.write(b"?")
    status = port.read(200)
    assert status.startswith(b"<Idle|MPos:50.000,0.000,0.000")
    port.write(b"G2 X1\n")
    assert port.read(100) == b"error:20\r\n"
    port.close()


def test_settings_dump_roundtrips(grbl):
    port = serial.serial_for_url(grbl.url, timeout=0.1)
    port.read(100)
    port.write(b"$$\n")
    text = io.BytesIO()
    while True:
        chunk = port.read(4096)
        if not chunk:
            break
        text.write(chunk)
    dump = text.getvalue().decode()
    assert "$110=6000\r\n" in dump and dump.endswith("ok\r\n")
    port.close()


def test_real_serial_device_through_a_pty(tmp_path):
    from sketchart.plot.emulators import PtyBridge

    doc = document_from_lines(
        [
            [
                np.array([[10.0, 10.0], [30.0, 10.0], [30.0, 25.0]]),
                np.array([[40.0, 40.0], [45.0, 50.0]]),
            ]
        ]
    )
    with GrblEmulator() as emu, PtyBridge(emu) as device:
        opts = PlotOptions(device="grbl", port=device, journal=tmp_path / "j.json")
        report = plot_document(doc, opts, echo=lambda s: None)
        assert report.paths_done == 2
        for got, want in zip(emu.pen_down_paths(), doc.layers[0].lines, strict=True):
            assert_polyline_close(got, want, 1e-3)
        assert not emu.pen_is_down and emu.violations == [] and emu.rx_max <= 128
