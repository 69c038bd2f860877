"""G-code through vpype-gcode's ``gwrite`` with the project's pen-plotter profiles.

The plugin package loads ``sketchart/resources/gwrite.toml`` when vpype imports it, so
``gwrite -p grbl-servo`` works after ``pip install``. The written G-code is parsed back:
the pen-down paths equal the document's within 0.01 mm after the profile's transform, and
every path starts with the pen up (travel happens only with the pen lifted).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import vpype as vp
import vpype_cli
from conftest import shared_path

from sketchart.data.npzsafe import read_npz
from sketchart.page import layout

MM = vp.convert_length("mm")
PROFILES = (
    "grbl-servo",
    "grbl-servo-pause",
    "grbl-servo-bl",
    "grbl-servo-bl-pause",
    "grbl-z",
    "grbl-z-pause",
    "grbl-z-bl",
    "grbl-z-bl-pause",
)


def _profile(name: str) -> dict:
    import vpype_sketchart  # noqa: F401  (importing the plugin registers the profiles)

    return dict(vp.config_manager.config["gwrite"][name])


def _expected_paths(document: vp.Document, config: dict) -> list[np.ndarray]:
    """The document's paths in machine units, with gwrite's documented transforms."""
    unit = vp.convert_length(config.get("unit", "mm"))
    sx, sy = config.get("scale_x", 1.0) / unit, config.get("scale_y", 1.0) / unit
    ox, oy = config.get("offset_x", 0.0), config.get("offset_y", 0.0)
    paths = [
        np.stack([line.real * sx + ox, line.imag * sy + oy], axis=1)
        for lid in sorted(document.layers)
        for line in document.layers[lid]
    ]
    if config.get("invert_x") or config.get("invert_y"):
        allp = np.vstack(paths)
        centre = (allp.min(axis=0) + allp.max(axis=0)) / 2
        sign = np.array(
            [-1.0 if config.get("invert_x") else 1.0, -1.0 if config.get("invert_y") else 1.0]
        )
        paths = [(p - centre) * sign + centre for p in paths]
    if config.get("horizontal_flip") or config.get("vertical_flip"):
        w, h = (v / unit for v in document.page_size)
        sign = np.array(
            [
                -1.0 if config.get("horizontal_flip") else 1.0,
                -1.0 if config.get("vertical_flip") else 1.0,
            ]
        )
        paths = [(p - [w / 2, h / 2]) * sign + [w / 2, h / 2] for p in paths]
    return paths


_WORD = re.compile(r"([A-Z])\s*(-?\d+(?:\.\d*)?)")


def parse_gcode(text: str, config: dict) -> tuple[list[np.ndarray], list[str]]:
    """Pen-down polylines of a G-code program, and the violations found on the way.

    The pen goes down with ``M3`` (servo profile) or a Z at or below the profile's
    ``pen_down_z``, up with ``M5`` or a Z at or above ``pen_up_z``. A violation is an XY
    move before the pen was first lifted, or a rapid ``G0`` with the pen down.
    """
    defaults = config.get("default_values", {})
    z_down = float(defaults.get("pen_down_z", 0.0))
    z_up = float(defaults.get("pen_up_z", 1e9))
    pen: str | None = None  # unknown until the program says
    pos = np.array([0.0, 0.0])
    paths: list[list[np.ndarray]] = []
    problems: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split(";")[0].strip().upper()
        if not line:
            continue
        words = {k: float(v) for k, v in _WORD.findall(line)}
        if "M" in words:
            if words["M"] in (3, 4):
                pen = "down"
                paths.append([pos.copy()])
            elif words["M"] == 5:
                pen = "up"
        if "G" in words and words["G"] in (0, 1):
            target = pos.copy()
            if "X" in words:
                target[0] = words["X"]
            if "Y" in words:
                target[1] = words["Y"]
            moved_xy = not np.array_equal(target, pos)
            if "Z" in words:
                if words["Z"] <= z_down and pen != "down":
                    pen = "down"
                    paths.append([target.copy()])
                elif words["Z"] >= z_up:
                    pen = "up"
            if moved_xy:
                if pen is None:
                    problems.append(f"line {n}: XY move before the pen was lifted: {raw}")
                elif pen == "down":
                    if words["G"] == 0:
                        problems.append(f"line {n}: rapid move with the pen down: {raw}")
                    paths[-1].append(target.copy())
            pos = target
    return [np.array(p) for p in paths], problems


def _check(document: vp.Document, out: Path, profile: str) -> None:
    config = _profile(profile)
    drawn, problems = parse_gcode(out.read_text(), config)
    assert problems == []
    expected = _expected_paths(document, config)
    assert len(drawn) == len(expected)
    for got, want in zip(drawn, expected, strict=True):
        assert got.shape == want.shape
        assert np.abs(got - want).max() < 0.01


@pytest.fixture(scope="module")
def sheep_doc() -> vp.Document:
    sketches = list(read_npz(shared_path("data", "sketchrnn", "aaron_sheep.npz"))["test"][:12])
    return layout.layout_document(
        sketches, size=30 * MM, gap=5 * MM, columns=4, layers="per-sketch", optimize=True
    )


def test_profiles_are_registered_by_the_plugin():
    import vpype_sketchart  # noqa: F401

    profiles = vp.config_manager.config["gwrite"]
    for name in PROFILES:
        assert name in profiles
        assert profiles[name].get("unit") == "mm"


@pytest.mark.parametrize("profile", PROFILES)
def test_gwrite_paths_match_document(sheep_doc, profile, tmp_path):
    out = tmp_path / f"{profile}.gcode"
    doc = vpype_cli.execute(f"gwrite -p {profile} {out}", sheep_doc)
    _check(doc, out, profile)
    text = out.read_text()
    assert text.lstrip().startswith("G21")  # mm, set before anything moves
    assert "G90" in text


@pytest.mark.parametrize("profile", PROFILES)
def test_gwrite_after_sketchrnn_sample(profile, tmp_path):
    flamingo = shared_path("models", "sketch-rnn-js", "flamingo.gen.json")
    out = tmp_path / "flamingo.gcode"
    doc = vpype_cli.execute(
        f"sketchrnn-sample -m {flamingo} -n 4 -t 0.4 --seed 9 --layers per-sketch --optimize "
        f"gwrite -p {profile} {out}"
    )
    assert sum(len(lc) for lc in doc.layers.values()) > 4
    _check(doc, out, profile)


def test_parser_catches_a_path_drawn_without_lifting():
    config = _profile("grbl-servo")
    bad = "G21\nG90\nG0 X1 Y1\nM3 S1000\nG1 X2 Y2 F100\nG0 X5 Y5\nM5\n"
    _, problems = parse_gcode(bad, config)
    assert len(problems) == 2  # XY before the first lift; rapid with the pen down


def test_hpgl_pen_down_runs_match_the_paths(sheep_doc, tmp_path):
    """``write -d hp7475a`` (vpype's own HPGL): one PD run per path, same drawn length."""
    out = tmp_path / "sheep.hpgl"
    doc = vpype_cli.execute(f"write -d hp7475a -p a4 --center --absolute -q {out}", sheep_doc)
    text = out.read_text()
    assert text.startswith("IN;")
    unit_mm = 0.02488  # hp7475a plotter_unit_length
    runs = []
    pos = None
    for cmd in text.strip().rstrip(";").split(";"):
        if cmd[:2] not in ("PU", "PD"):
            continue
        numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", cmd[2:])]
        pts = np.array(numbers).reshape(-1, 2) if numbers else np.zeros((0, 2))
        if cmd.startswith("PU") and len(pts):
            pos = pts[-1]
        elif cmd.startswith("PD"):
            assert pos is not None, "pen down before any pen-up move"
            runs.append(np.vstack([pos, pts]))
            pos = pts[-1]
    paths = [line for lid in sorted(doc.layers) for line in doc.layers[lid]]
    assert len(runs) == len(paths)
    for run, line in zip(runs, paths, strict=True):
        assert len(run) == len(line)
        drawn = np.hypot(*np.diff(run, axis=0).T).sum() * unit_mm
        # coordinates are rounded to whole plotter units (0.025 mm)
        assert drawn == pytest.approx(np.abs(np.diff(line)).sum() / MM, abs=0.02 * len(line))


def test_gwrite_profile_works_in_a_fresh_vpype(tmp_path):
    """After installation, a plain ``vpype ... gwrite -p grbl-servo`` finds the profile."""
    import subprocess
    import sys

    out = tmp_path / "rect.gcode"
    proc = subprocess.run(
        [sys.executable, "-m", "vpype_cli", "rect", "1cm", "1cm", "2cm", "1cm"]
        + ["gwrite", "-p", "grbl-servo", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    drawn, problems = parse_gcode(out.read_text(), _profile("grbl-servo"))
    assert problems == []
    assert len(drawn) == 1
    assert np.allclose(drawn[0][[0, 2]], [[10.0, 10.0], [30.0, 20.0]], atol=0.01)
