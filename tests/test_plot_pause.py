"""The AxiDraw's pause button against the EBB emulator: a press at a random move stops with
the pen up, exit status 130 and a journal from which ``--resume`` ends in the same drawing.

CI presses 3 times; the ``slow`` test presses 20 times (all 20 must resume exactly).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from plot_testing import STEP_MM, assert_polyline_close

from sketchart.plot import PlotOptions, document_from_lines, plot_document
from sketchart.plot.emulators import EBBEmulator
from sketchart.plot.run import PlotInterrupted


def _document():
    t = np.linspace(0, 2 * np.pi, 17)
    circle = np.column_stack([60 + 10 * np.cos(t), 60 + 10 * np.sin(t)])
    zigzag = np.array([[90.0, 40], [96, 52], [102, 40], [108, 52]])
    dot = np.array([[120.0, 70.0]])
    second = [circle + [80, 50], zigzag + [-40, 90]]
    return document_from_lines([[circle, zigzag, dot], second], source="<pause>")


DOC = _document()
EXPECTED = [line for layer in DOC.layers for line in layer.lines]


def _clean_commands(tmp_dir) -> tuple[int, int]:
    """The commands of a clean run a press can stop: from the first after the start's
    button read to the last button read (the trip home after the last path reads none)."""
    with EBBEmulator() as emu:
        options = PlotOptions(port=emu.url, journal=tmp_dir / "clean.json", quiet=True)
        plot_document(DOC, options, echo=lambda s: None)
        last = len(emu.log) - emu.log[::-1].index("QB")
        return emu.log.index("QB") + 2, last


def _press_and_resume(at: int, tmp_path, park: str = "home") -> str:
    journal = tmp_path / f"pause-{at}.json"
    options = PlotOptions(port="", journal=journal, quiet=True, park=park)
    with EBBEmulator() as emu:
        options = dataclasses.replace(options, port=emu.url)
        emu.press_button(at=at)
        with pytest.raises(PlotInterrupted) as info:
            plot_document(DOC, options, echo=lambda s: None)
        message = str(info.value)
        assert info.value.exit_code == 130
        assert "\n" not in message and "--resume" in message
        assert "paused (the AxiDraw's button)" in message
        assert not emu.pen_is_down and not emu.motors_on
        data = json.loads(journal.read_text())
        assert data["message"].startswith("paused")
        assert data["parked"] == park and data["position"] is not None
        if park == "home":
            assert emu.position == (0.0, 0.0)
        else:
            assert "move it home before --resume" in message
            emu.m1 = emu.m2 = 0  # the user pushes the carriage home (motors are off)
        first = emu.pen_down_paths()
        mark = len(emu.trace)
        done = int(data["finished_paths"])
        for got, want in zip(first[:done], EXPECTED[:done], strict=True):
            assert_polyline_close(got, want, STEP_MM)
        if data["partial"]:
            assert "cut short" in message
        plot_document(DOC, dataclasses.replace(options, resume=True), echo=lambda s: None)
        resumed = emu.pen_down_paths(since=mark)
        assert len(resumed) == len(EXPECTED) - done
        for got, want in zip(resumed, EXPECTED[done:], strict=True):
            assert_polyline_close(got, want, STEP_MM)
        assert not emu.pen_is_down and emu.violations == []
        assert json.loads(journal.read_text())["complete"]
        return message


def _press_points(count: int, seed: int, tmp_dir) -> list[int]:
    first, last = _clean_commands(tmp_dir)
    rng = np.random.default_rng(seed)
    points = rng.choice(np.arange(first, last + 1), size=count, replace=False)
    return sorted(int(p) for p in points)


def test_three_presses_stop_pen_up_and_resume_to_the_same_drawing(tmp_path):
    for at in _press_points(3, seed=23, tmp_dir=tmp_path):
        _press_and_resume(at, tmp_path)


def test_park_stay_leaves_the_carriage_and_says_so(tmp_path):
    _press_and_resume(_press_points(1, seed=5, tmp_dir=tmp_path)[0], tmp_path, park="stay")


@pytest.mark.slow
def test_twenty_random_presses_all_resume(tmp_path):
    ok = 0
    for at in _press_points(20, seed=99, tmp_dir=tmp_path):
        _press_and_resume(at, tmp_path)
        ok += 1
    assert ok == 20


def test_a_press_before_the_plot_is_forgotten(tmp_path):
    with EBBEmulator() as emu:
        emu.press_button()  # pressed while the board sat idle
        options = PlotOptions(port=emu.url, journal=tmp_path / "j.json", quiet=True)
        plot_document(DOC, options, echo=lambda s: None)
        assert len(emu.pen_down_paths()) == len(EXPECTED)
        assert emu.button_presses == 1  # read (and cleared) at the start
