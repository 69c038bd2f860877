"""Motion planning: trapezoids, triangles, corner limits; journal and path conversion."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sketchart.errors import SketchartError
from sketchart.plot.motion import junction_speed, make_profile, plan_polyline
from sketchart.plot.paths import check_travel, document_from_lines
from sketchart.plot.progress import Journal


def test_trapezoid_and_triangle_times():
    trap = make_profile(100.0, 0.0, 0.0, vmax=50.0, accel=500.0)
    assert trap.v_peak == 50.0 and trap.duration == pytest.approx(2.0 + 0.1)
    tri = make_profile(1.0, 0.0, 0.0, vmax=50.0, accel=500.0)
    assert tri.v_peak == pytest.approx(np.sqrt(500.0))  # v^2 = a * L for a symmetric triangle
    assert tri.duration == pytest.approx(2 * np.sqrt(1.0 / 500.0))
    assert tri.distance_at(tri.duration / 2) == pytest.approx(0.5)
    assert tri.distance_at(10.0) == 1.0


def test_junction_speeds():
    e = np.array([1.0, 0.0])
    assert junction_speed(e, e, 1000, 0.1, 80.0) == 80.0  # straight on
    assert junction_speed(e, -e, 1000, 0.1, 80.0) == 0.0  # reversal
    right = junction_speed(e, np.array([0.0, 1.0]), 1000, 0.1, 80.0)
    assert right == pytest.approx(np.sqrt(1000 * 0.1 * np.sqrt(0.5) / (1 - np.sqrt(0.5))))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 200), st.floats(0, 200)), min_size=2, max_size=12),
    st.floats(5, 200),
    st.floats(50, 5000),
)
def test_plans_respect_speed_and_acceleration(points, vmax, accel):
    pts = np.array(points)
    profiles = plan_polyline(pts, vmax, accel, 0.1)
    length = np.sum(np.linalg.norm(np.diff(pts, axis=0), axis=1))
    assert sum(p.length for p in profiles) == pytest.approx(length)
    assert all(p.v_peak <= vmax + 1e-9 for p in profiles)
    if profiles:
        assert profiles[0].v_entry == 0.0 and profiles[-1].v_exit == 0.0
    for a, b in itertools.pairwise(profiles):
        assert a.v_exit == pytest.approx(b.v_entry)
    for p in profiles:
        # the ramps fit in the segment: what is gained and lost needs no more than a
        assert p.v_peak**2 - p.v_entry**2 <= 2 * accel * p.length + 1e-6
        assert p.v_peak**2 - p.v_exit**2 <= 2 * accel * p.length + 1e-6
        assert p.distance_at(p.duration) == pytest.approx(p.length)


def test_document_checks():
    doc = document_from_lines([[np.array([[0.0, 0.0], [0.0, 0.0], [10.0, 5.0]])]])
    assert len(doc.layers[0].lines[0]) == 2  # repeated point dropped
    check_travel(doc, (10.0, 5.0))
    with pytest.raises(SketchartError, match="outside"):
        check_travel(doc, (9.0, 5.0))
    with pytest.raises(SketchartError, match="shape"):
        document_from_lines([[np.zeros((3, 3))]])
    with pytest.raises(SketchartError, match="non-finite"):
        document_from_lines([[np.array([[0.0, np.nan], [1.0, 1.0]])]])


def test_journal_round_trip_and_refusals(tmp_path):
    doc = document_from_lines(
        [[np.array([[1.0, 1.0], [2.0, 2.0]])] * 2, [], [np.array([[3.0, 3.0]])]]
    )
    path = tmp_path / "j.json"
    journal = Journal.start(path, doc, "axidraw V3/A4")
    journal.mark_done(0, 0)
    journal.mark_done(0, 1)
    assert journal.next == (2, 0)  # the empty layer is skipped
    journal.position = (1.5, 2.5)
    journal.save()
    again = Journal.resume(path, doc, "axidraw V3/A4")
    assert again.next == (2, 0) and again.position == (1.5, 2.5)
    assert again.finished_paths == 2
    with pytest.raises(SketchartError, match="not 'grbl grbl-servo'"):
        Journal.resume(path, doc, "grbl grbl-servo")
    path.write_text("{broken")
    with pytest.raises(SketchartError, match="not a readable plot journal"):
        Journal.resume(path, doc, "axidraw V3/A4")
    with pytest.raises(SketchartError, match="no plot journal"):
        Journal.resume(tmp_path / "none.json", doc, "axidraw V3/A4")
