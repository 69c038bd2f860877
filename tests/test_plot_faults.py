"""Fault injection: at 20 random points per device the plot stops with the pen up, one clear
line and a journal from which ``--resume`` completes the drawing exactly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from plot_testing import STEP_MM, assert_polyline_close, synthetic_document

from sketchart.errors import SketchartError
from sketchart.plot import PlotOptions, document_from_lines, plot_document
from sketchart.plot.emulators import FAULT_KINDS, EBBEmulator, GrblEmulator


def _small_document():
    """Two layers of three short paths (a circle, a zigzag with a reversal, a dot)."""
    t = np.linspace(0, 2 * np.pi, 13)
    circle = np.column_stack([60 + 8 * np.cos(t), 60 + 8 * np.sin(t)])
    zigzag = np.array([[90.0, 40], [96, 52], [102, 40], [108, 52], [102, 40]])
    dot = np.array([[120.0, 70.0]])
    second = [circle + [80, 50], zigzag + [-40, 90], dot + [30, 30]]
    return document_from_lines([[circle, zigzag, dot], second], source="<faults>")


DOC = _small_document()
EXPECTED = [line for layer in DOC.layers for line in layer.lines]
_TOTALS: dict[str, int] = {}


def _emulator(device: str):
    return EBBEmulator() if device == "axidraw" else GrblEmulator()


def _clean_total(device: str) -> int:
    """Commands a clean run sends (fault points are drawn among them)."""
    if device not in _TOTALS:
        with _emulator(device) as emu:
            plot_document(
                DOC,
                PlotOptions(
                    device=device, port=emu.url, journal=_scratch() / f"{device}.json"
                ),
                echo=lambda s: None,
            )
            _TOTALS[device] = emu.commands_seen
    return _TOTALS[device]


def _fault_points(device: str, count: int = 20, seed: int = 11) -> list[tuple[str, int]]:
    """``count`` (kind, command number) pairs spread over a clean run's commands."""
    total = _clean_total(device)
    rng = np.random.default_rng(seed)
    points = sorted(rng.choice(np.arange(1, total + 1), size=count, replace=False).tolist())
    kinds = [FAULT_KINDS[i % len(FAULT_KINDS)] for i in range(count)]
    rng.shuffle(kinds)
    return list(zip(kinds, points))


_SCRATCH: list = []


def _scratch():
    import tempfile
    from pathlib import Path

    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="sketchart-faults-")))
    return _SCRATCH[0]


def _flat_index(nxt: tuple[int, int]) -> int:
    return sum(len(layer.lines) for layer in DOC.layers[: nxt[0]]) + nxt[1]


def _check_fault_and_resume(device: str, kind: str, at: int, tmp_path) -> None:
    journal_path = tmp_path / "plot.json"
    options = PlotOptions(device=device, port=None, journal=journal_path)
    with _emulator(device) as emu:
        options = dataclasses.replace(options, port=emu.url)
        emu.inject(kind, at)
        with pytest.raises(SketchartError) as info:
            plot_document(DOC, options, echo=lambda s: None)
        message = str(info.value)
        assert "\n" not in message and len(message) < 400
        assert not emu.pen_is_down, f"pen left down after {kind} at {at}: {message}"
        first_run = emu.pen_down_paths()
        mark = len(emu.trace)

        if not journal_path.exists():  # failed while connecting: nothing was plotted
            assert first_run == []
            plot_document(DOC, options, echo=lambda s: None)
            start = 0
        else:
            assert "--resume" in message
            import json

            data = json.loads(journal_path.read_text())
            start = _flat_index(tuple(data["next"]))
            if device == "axidraw":
                assert not emu.motors_on
            plot_document(DOC, dataclasses.replace(options, resume=True), echo=lambda s: None)
        tol = STEP_MM if device == "axidraw" else 1e-3
        # before the fault: every path the journal calls done, fully; maybe one partial more
        done_strokes = first_run[:start] if journal_path.exists() else []
        for got, want in zip(done_strokes, EXPECTED[:start], strict=True):
            assert_polyline_close(got, want, tol)
        extra = first_run[len(done_strokes) :]
        assert len(extra) <= 1
        if extra:
            assert_polyline_close(extra[0], EXPECTED[start], tol, prefix=True)
        # the resume draws exactly the rest, each path whole, and ends with the pen up
        resumed = emu.pen_down_paths(since=mark)
        assert len(resumed) == len(EXPECTED) - start
        for got, want in zip(resumed, EXPECTED[start:]):
            assert_polyline_close(got, want, tol)
        assert not emu.pen_is_down
        assert emu.violations == []
        if device == "grbl":
            assert emu.rx_max <= 128


@pytest.mark.parametrize("device", ["axidraw", "grbl"])
def test_twenty_random_faults_each_resume_correctly(device, tmp_path):
    points = _fault_points(device)
    assert len(points) == 20 and {k for k, _ in points} == set(FAULT_KINDS)
    completed = 0
    for i, (kind, at) in enumerate(points):
        sub = tmp_path / f"{i:02d}-{kind}-{at}"
        sub.mkdir()
        _check_fault_and_resume(device, kind, at, sub)
        completed += 1
    assert completed == 20


@pytest.mark.parametrize("device", ["axidraw", "grbl"])
@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_mid_plot(device, kind, tmp_path):
    _check_fault_and_resume(device, kind, _clean_total(device) // 2, tmp_path)


def test_resume_refuses_another_drawing(tmp_path):
    with EBBEmulator() as emu:
        options = PlotOptions(device="axidraw", port=emu.url, journal=tmp_path / "j.json")
        emu.inject("error", 40)
        with pytest.raises(SketchartError):
            plot_document(DOC, options, echo=lambda s: None)
        other = synthetic_document(seed=99)
        with pytest.raises(SketchartError, match="another drawing"):
            plot_document(other, dataclasses.replace(options, resume=True), echo=print)


def test_resume_of_a_finished_plot_does_nothing(tmp_path):
    with EBBEmulator() as emu:
        options = PlotOptions(device="axidraw", port=emu.url, journal=tmp_path / "j.json")
        plot_document(DOC, options, echo=lambda s: None)
        before = len(emu.log)
        said: list[str] = []
        report = plot_document(
            DOC, dataclasses.replace(options, resume=True), echo=said.append
        )
        assert report.paths_done == DOC.path_count and len(emu.log) == before
        assert "nothing to resume" in said[0]


def test_journal_is_written_as_paths_finish(tmp_path):
    import json

    seen: list[int] = []
    journal = tmp_path / "j.json"
    with EBBEmulator() as emu:

        def pause(msg: str) -> None:
            seen.append(json.loads(journal.read_text())["finished_paths"])

        plot_document(
            DOC,
            PlotOptions(device="axidraw", port=emu.url, journal=journal, pause=pause),
            echo=lambda s: None,
        )
    assert seen == [0, 3]  # by the pen change, the whole first layer is recorded
    data = json.loads(journal.read_text())
    assert data["complete"] and data["finished_paths"] == DOC.path_count
    assert not (tmp_path / "j.json.tmp").exists()
