"""AxiDraw (EBB) driver against the EBB emulator: trace, limits, time, bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import shared_path
from plot_testing import STEP_MM, assert_polyline_close, quickdraw_document, synthetic_document
from serial.tools.list_ports_common import ListPortInfo

from sketchart.errors import SketchartError
from sketchart.plot import AxiDrawSettings, PlotOptions, document_from_lines, plot_document
from sketchart.plot.drivers.ebb import EBBDriver
from sketchart.plot.drivers.ebb_planner import EBBPlanner, find_axidraw
from sketchart.plot.emulators import EBBEmulator, GrblEmulator


@pytest.fixture
def ebb():
    emu = EBBEmulator()
    yield emu
    emu.close()


def _plot(doc, emu, tmp_path, **kw):
    opts = PlotOptions(device="axidraw", port=emu.url, journal=tmp_path / "j.json", **kw)
    return plot_document(doc, opts, echo=lambda s: None)


def test_trace_matches_document_within_one_step(ebb, tmp_path):
    doc = synthetic_document(seed=1)
    t0 = ebb.clock.now
    report = _plot(doc, ebb, tmp_path)
    expected = [line for layer in doc.layers for line in layer.lines]
    traced = ebb.pen_down_paths()
    assert len(traced) == len(expected)
    for got, want in zip(traced, expected):
        assert_polyline_close(got, want, STEP_MM)
    assert ebb.pen_transitions() == ["down", "up"] * len(expected)
    assert ebb.violations == []
    assert ebb.max_rate <= 25_000
    assert not ebb.pen_is_down and not ebb.motors_on
    assert ebb.position == (0.0, 0.0)  # back home
    emulated = ebb.idle_at - t0
    assert abs(report.estimate_s - emulated) <= 0.05 * emulated
    assert report.paths_done == doc.path_count


def test_real_quickdraw_drawings_with_fast_settings(ebb, tmp_path):
    doc = quickdraw_document(shared_path("data", "quickdraw", "simplified", "cat.ndjson"), 5)
    fast = AxiDrawSettings(speed_down=220.0, speed_up=400.0, accel_down=3000, accel_up=5000)
    t0 = ebb.clock.now
    report = _plot(doc, ebb, tmp_path, axidraw=fast)
    # travel is capped so that the diagonal motor stays under 25 kHz
    assert ebb.violations == [] and ebb.max_rate <= 25_000
    for got, want in zip(ebb.pen_down_paths(), doc.layers[0].lines, strict=True):
        assert_polyline_close(got, want, STEP_MM)
    emulated = ebb.idle_at - t0
    assert abs(report.estimate_s - emulated) <= 0.05 * emulated


def test_steps_never_drift_over_many_tiny_moves():
    # 2000 moves of 1/3 step each: rounding must not accumulate
    planner = EBBPlanner(AxiDrawSettings())
    x = np.linspace(0, 2000 / 240.0, 2001)
    line = np.column_stack([x, np.zeros_like(x)])
    moves = planner.moves(line, pen_down=True)
    m1 = sum(int(c.split(",")[2]) for c, _ in moves)
    m2 = sum(int(c.split(",")[3]) for c, _ in moves)
    assert (m1, m2) == EBBPlanner.steps_for(line[-1])
    for cmd, ms in moves:
        _, dur, s1, s2 = cmd.split(",")
        assert int(dur) == ms >= 1
        assert max(abs(int(s1)), abs(int(s2))) <= 25 * ms


def test_speed_and_acceleration_follow_the_settings():
    s = AxiDrawSettings(speed_down=50.0, accel_down=500.0, time_slice=0.01)
    planner = EBBPlanner(s)
    moves = planner.moves(np.array([[0.0, 0.0], [100.0, 0.0]]), pen_down=True)
    speeds = np.array([int(c.split(",")[2]) / 80.0 / (ms / 1000) for c, ms in moves])
    assert speeds.max() == pytest.approx(50.0, rel=0.05)
    total = sum(ms for _, ms in moves) / 1000
    # trapezoid: 100 mm at 50 mm/s plus the ramp time v/a
    assert total == pytest.approx(100 / 50 + 50 / 500, rel=0.02)


def test_multilayer_pauses_between_layers(ebb, tmp_path):
    doc = synthetic_document(seed=2, layers=3, paths_per_layer=2)
    messages: list[str] = []
    pen_states: list[bool] = []

    def pause(msg: str) -> None:
        messages.append(msg)
        pen_states.append(ebb.pen_is_down)

    _plot(doc, ebb, tmp_path, pause=pause)
    assert len(messages) == 3 and "layer 2/3" in messages[1]
    assert pen_states == [False, False, False]


def test_dry_run_needs_no_device(tmp_path):
    doc = synthetic_document(seed=3)
    lines: list[str] = []
    opts = PlotOptions(
        device="axidraw",
        port="sketchartemu://nothing-here",
        journal=tmp_path / "j.json",
        dry_run=True,
    )
    report = plot_document(doc, opts, echo=lines.append)
    assert report.dry_run and report.estimate_s > 0
    assert any("estimated time" in line for line in lines)
    assert not (tmp_path / "j.json").exists()


def test_out_of_travel_refused_before_anything_moves(ebb, tmp_path):
    doc = document_from_lines([np.array([[10.0, 10.0], [310.0, 20.0]])])
    with pytest.raises(SketchartError, match="outside the AxiDraw V3/A4 travel"):
        _plot(doc, ebb, tmp_path)
    assert ebb.log == []
    # the same drawing fits an A3 model
    _plot(doc, ebb, tmp_path, axidraw=AxiDrawSettings(model="V3/A3"))
    assert len(ebb.pen_down_paths()) == 1


def test_negative_coordinates_refused(ebb, tmp_path):
    doc = document_from_lines([np.array([[-1.0, 10.0], [20.0, 20.0]])])
    with pytest.raises(SketchartError, match="outside"):
        _plot(doc, ebb, tmp_path)


def test_empty_document_refused(ebb, tmp_path):
    with pytest.raises(SketchartError, match="empty"):
        _plot(document_from_lines([[]]), ebb, tmp_path)
    assert ebb.log == []


def test_unknown_model_refused(ebb, tmp_path):
    with pytest.raises(SketchartError, match="unknown AxiDraw model"):
        _plot(synthetic_document(), ebb, tmp_path, axidraw=AxiDrawSettings(model="V9"))


def test_wrong_device_on_the_port(tmp_path):
    with (
        GrblEmulator() as grbl,
        pytest.raises(SketchartError, match="wrong device on .*not an EiBotBoard"),
    ):
        _plot(synthetic_document(), grbl, tmp_path)


def _port(device: str, vid: int | None, pid: int | None) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid = vid, pid
    return info


def test_discovery_by_usb_id():
    ports = [_port("/dev/ttyS0", None, None), _port("/dev/ttyACM3", 0x04D8, 0xFD92)]
    assert find_axidraw(lambda: ports) == "/dev/ttyACM3"


def test_no_device_lists_the_ports_found():
    ports = [_port("/dev/ttyS0", None, None), _port("/dev/ttyUSB0", 0x1A86, 0x7523)]
    with pytest.raises(SketchartError) as info:
        EBBDriver(
            synthetic_document(), AxiDrawSettings(), None, list_ports=lambda: ports
        ).connect()
    msg = str(info.value)
    assert "no AxiDraw found" in msg and "/dev/ttyS0" in msg and "/dev/ttyUSB0" in msg
    assert "\n" not in msg


def test_missing_port_is_one_line(tmp_path):
    opts = PlotOptions(
        device="axidraw", port=str(tmp_path / "ttyNONE"), journal=tmp_path / "j.json"
    )
    with pytest.raises(SketchartError, match="cannot open the AxiDraw port") as info:
        plot_document(synthetic_document(), opts, echo=lambda s: None)
    assert "\n" not in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root opens any file: no EACCES to provoke")
def test_permission_denied(tmp_path):
    port = tmp_path / "ttyLOCKED"
    port.write_text("")
    port.chmod(0)
    opts = PlotOptions(device="axidraw", port=str(port), journal=tmp_path / "j.json")
    with pytest.raises(SketchartError, match="permission denied on .*dialout"):
        plot_document(synthetic_document(), opts, echo=lambda s: None)


def test_permission_denied_message_from_pyserial_error(monkeypatch):
    # as root the test above cannot provoke EACCES: check the mapping of pyserial's error
    import errno

    import serial

    from sketchart.plot import serialio

    def denied(*args, **kwargs):
        raise serial.SerialException(
            errno.EACCES,
            "could not open port /dev/ttyACM0: [Errno 13] Permission denied: '/dev/ttyACM0'",
        )

    monkeypatch.setattr(serial, "serial_for_url", denied)
    with pytest.raises(SketchartError, match="permission denied on /dev/ttyACM0"):
        serialio.open_port("/dev/ttyACM0", baudrate=9600, timeout=0.1, device="AxiDraw")


def test_emulator_rejects_fast_moves_and_reports_them(ebb):
    import serial

    port = serial.serial_for_url(ebb.url, timeout=0.1)
    port.write(b"V\r")
    assert port.read(200).startswith(b"EBBv13")
    port.write(b"SM,10,300,0\r")  # 30 kHz
    assert port.read(200).startswith(b"!0 Err")
    port.write(b"QP\r")
    assert port.read(200) == b"1\n\rOK\r\n"
    port.write(b"XX\r")
    assert port.read(200).startswith(b"!8 Err: Unknown command")
    assert len(ebb.violations) == 1
    port.close()


def test_emulator_fifo_blocks_the_third_move(ebb):
    import serial

    port = serial.serial_for_url(ebb.url, timeout=0.1)
    for _ in range(3):
        port.write(b"SM,100,10,10\r")
        assert port.read(10) == b"OK\r\n"
    # the third OK could only come once the first move finished
    assert ebb.clock.now == pytest.approx(0.1)
    port.write(b"QM\r")
    assert port.read(50) == b"QM,1,1,1,1\n\r"
    port.close()


def test_real_serial_device_through_a_pty(tmp_path):
    # a real tty, stock pyserial and the wall clock: the driver's non-emulated path
    from sketchart.plot.emulators import PtyBridge

    doc = document_from_lines(
        [
            [
                np.array([[10.0, 10.0], [30.0, 10.0], [30.0, 25.0]]),
                np.array([[40.0, 40.0], [45.0, 50.0]]),
            ]
        ]
    )
    with EBBEmulator() as emu, PtyBridge(emu) as device:
        opts = PlotOptions(device="axidraw", port=device, journal=tmp_path / "j.json")
        report = plot_document(doc, opts, echo=lambda s: None)
        assert report.paths_done == 2
        for got, want in zip(emu.pen_down_paths(), doc.layers[0].lines, strict=True):
            assert_polyline_close(got, want, STEP_MM)
        assert not emu.pen_is_down and emu.violations == []
