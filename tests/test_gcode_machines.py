"""G-code for real machines, and the gwrite conventions of the plugin.

The user's gwrite profiles win over the shipped ones; ``-d KEY VALUE`` is spelled as
gwrite spells it and checked before anything moves; the pause profiles stop once per layer
when a generic sender streams them line by line to the GRBL emulator; the bottom-left
profiles flip Y over the page; a GRBL dry run checks the travel as the live run does.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import vpype as vp
import vpype_cli
from click.testing import CliRunner
from typer.testing import CliRunner as TyperRunner

from sketchart.cli import app
from sketchart.errors import SketchartError
from sketchart.plot import profiles
from sketchart.plot.emulators import GrblEmulator
from sketchart.plot.gcode import parse_words
from sketchart.plot.paths import MM_PER_PX
from sketchart.plot.progress import default_journal_path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = tomllib.loads(profiles.gwrite_profiles_path().read_text())["gwrite"]
COLOURS = ("red", "blue", "green")


@pytest.fixture
def config() -> Iterator[dict[str, Any]]:
    """vpype's configuration, restored after the test (it is process-wide)."""
    import vpype_sketchart  # noqa: F401  (registers the profiles)

    saved = copy.deepcopy(vp.config_manager.config)
    loaded = profiles._loaded
    yield vp.config_manager.config
    vp.config_manager.config.clear()
    vp.config_manager.config.update(saved)
    profiles._loaded = loaded


def _document(layers: int = 3, size_mm: float = 100.0) -> vp.Document:
    """``layers`` layers of one line each, coloured and named, on a page of ``size_mm``."""
    doc = vp.Document(page_size=(size_mm / MM_PER_PX, size_mm / MM_PER_PX))
    for k in range(layers):
        y = 10.0 + 10 * k
        lc = vp.LineCollection([np.array([10 + 1j * y, 40 + 1j * (y + 5)]) / MM_PER_PX])
        lc.set_property(vp.METADATA_FIELD_COLOR, vp.Color(COLOURS[k % len(COLOURS)]))
        lc.set_property(vp.METADATA_FIELD_NAME, f"{k + 1} pen {k + 1}")
        doc.add(lc, k + 1, with_metadata=True)
    return doc


def _svg(tmp_path: Path, doc: vp.Document, name: str = "drawing.svg") -> Path:
    path = tmp_path / name
    with path.open("w") as fh:
        vp.write_svg(fh, doc)
    return path


def _vpype(args: str) -> Any:
    from vpype_sketchart.plot_command import plot, sketchart_plot

    for command in (sketchart_plot, plot):
        if command.name not in vpype_cli.cli.commands:
            vpype_cli.cli.add_command(command, command.name)
    return CliRunner().invoke(vpype_cli.cli, args)


def _one_error(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, output
    assert "Traceback" not in output
    return errors[0]


# -- the user's configuration wins ---------------------------------------------------------


def test_users_profile_and_default_profile_win_in_a_fresh_vpype(tmp_path: Path) -> None:
    """A ``[gwrite.grbl-servo]`` in ~/.vpype.toml is the one gwrite and the plot commands
    use, never merged with the shipped one; ``gwrite.default_profile`` picks the profile."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".vpype.toml").write_text(
        '[gwrite]\ndefault_profile = "grbl-z-pause"\n'
        '[gwrite.grbl-servo]\nunit = "mm"\ndocument_start = "(mine)\\n"\n'
        'segment = "G1 X{x:.1f} Y{y:.1f}\\n"\n'
    )
    out = tmp_path / "rect.gcode"
    code = textwrap.dedent(
        f"""
        import vpype_cli
        vpype_cli.execute("rect 1cm 1cm 2cm 1cm gwrite -p grbl-servo {out}")
        from sketchart.plot.profiles import default_profile, get_profile
        print(default_profile(), sorted(get_profile("grbl-servo")))
        """
    )
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.read_text().startswith("(mine)\nG1 X10.0 Y10.0\n")
    assert proc.stdout.split()[0] == "grbl-z-pause"
    assert "['document_start', 'segment', 'unit']" in proc.stdout


def test_profiles_are_added_once_and_never_reloaded(config: dict[str, Any]) -> None:
    config["gwrite"]["grbl-z"] = {"unit": "mm", "segment": "G1 X{x} Y{y}\n"}
    assert profiles.load_gwrite_profiles() == []  # the plugin's import did it already
    assert profiles.get_profile("grbl-z") == {"unit": "mm", "segment": "G1 X{x} Y{y}\n"}
    profiles._loaded = False
    del config["gwrite"]["grbl-servo"]
    assert profiles.load_gwrite_profiles() == ["grbl-servo"]
    assert config["gwrite"]["grbl-z"] == {"unit": "mm", "segment": "G1 X{x} Y{y}\n"}
    assert "default_profile" not in SHIPPED


def test_default_profile_is_honoured_by_the_grbl_device(config: dict[str, Any]) -> None:
    from sketchart.plot.options import options_from_values, plot_option_table

    values: dict[str, Any] = {o.name: o.default for o in plot_option_table()}
    values.update(device="grbl", default={}, define={})
    assert options_from_values(values, pause=None).profile == "grbl-servo"
    config["gwrite"]["default_profile"] = "grbl-z-bl"
    assert options_from_values(values, pause=None).profile == "grbl-z-bl"


# -- -d KEY VALUE, checked -----------------------------------------------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        ("-d speed 10", "-d speed: profile 'grbl-servo' has no such value; valid keys: "),
        ("-d feed abc", "-d feed abc: not a number"),
        ("-d feed -100", "-d feed -100: must be above 0"),
        ("-d pen_delay -1", "-d pen_delay -1: must be 0 or more"),
    ],
)
def test_bad_defaults_are_one_line_errors_in_both_clis(
    tmp_path: Path, args: str, message: str
) -> None:
    svg = _svg(tmp_path, _document())
    result = TyperRunner().invoke(app, ["plot", str(svg), "--device", "grbl", "--dry-run",
                                        *args.split()])
    assert result.exit_code == 1
    assert message in str(result.exception)
    result = _vpype(f"read {svg} sketchart-plot --device grbl --dry-run {args}")
    assert result.exit_code == 1
    assert message in _one_error(result.output)


def test_defaults_spelled_as_gwrite_spells_them(tmp_path: Path) -> None:
    from sketchart.cli.plot import _join_pairs, _parse_defaults

    joined = _join_pairs(["x.svg", "-d", "feed", "2000", "--default", "pen_down", "800",
                          "-d", "z_feed=90"], {"-d", "--default"})
    assert _parse_defaults([a for a in joined if "\0" in a or "=" in a]) == {
        "feed": "2000", "pen_down": "800", "z_feed": "90"
    }
    svg = _svg(tmp_path, _document())
    for spelling in (["-d", "feed", "2000"], ["-d", "feed=2000"], ["--define", "feed=2000"]):
        result = TyperRunner().invoke(
            app, ["plot", str(svg), "--device", "grbl", "--dry-run", *spelling]
        )
        assert result.exit_code == 0, result.output
    result = _vpype(f"read {svg} sketchart-plot --device grbl --dry-run -d feed 2000")
    assert result.exit_code == 0, result.output


def test_the_old_vpype_plot_name_still_works_and_says_it_goes(tmp_path: Path, caplog) -> None:
    from vpype_sketchart.plot_command import plot, sketchart_plot

    assert plot.hidden and not sketchart_plot.hidden
    svg = _svg(tmp_path, _document())
    result = _vpype(f"read {svg} plot --device grbl --dry-run")
    assert result.exit_code == 0, result.output
    assert any("use `sketchart-plot`" in r.getMessage() for r in caplog.records)
    entry_points = (ROOT / "pyproject.toml").read_text()
    assert 'sketchart-plot = "vpype_sketchart.plot_command:sketchart_plot"' in entry_points


def test_vpype_option_types_substitute_expressions(tmp_path: Path) -> None:
    """``%expr%`` works in the sink's options, as in vpype's own commands."""
    svg = _svg(tmp_path, _document())
    result = _vpype(f"read {svg} sketchart-plot --device grbl --dry-run -d feed %1000*2% "
                    "--travel %100+20%x120")
    assert result.exit_code == 0, result.output
    assert "120 x 120 mm" in result.output


# -- the journal beside its source ---------------------------------------------------------


def test_journal_defaults_beside_the_pipelines_source(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    svg = _svg(tmp_path, _document(layers=1), "frame.svg")
    with GrblEmulator() as emu:
        result = _vpype(f"read {svg} sketchart-plot --device grbl --port {emu.url} --no-pause")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "frame.svg.plot.json").exists()
    assert default_journal_path(None, "abcdef0123456789") == Path(
        "sketchart-plot-abcdef012345.json"
    )
    assert default_journal_path("<vpype document>", "ff" * 20).name.startswith(
        "sketchart-plot-ffff"
    )


# -- G-code for real machines --------------------------------------------------------------


class _PausingGrbl(GrblEmulator):
    """GRBL's program pause, which the project's emulator does not model: ``M0`` finishes
    what is planned, then holds until cycle start (``~``)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.pauses: list[tuple[float, float]] = []

    def _execute(self, line: str) -> str:
        try:
            words = parse_words(line)
        except ValueError:
            words = []
        if ("M", 0.0) in words:
            self._sync()
            self.hold = True
            self.state = "Hold"
            self.pauses.append((float(self.machine[0]), float(self.machine[1])))
            return "ok\r\n"
        return super()._execute(line)


def _stream(emu: GrblEmulator, text: str) -> list[str]:
    """Send ``text`` as a simple sender does: a line, wait for its reply, and resume (``~``)
    when the controller holds; returns the comment seen before each hold."""
    link = emu.connect()
    link.read(1000)  # the greeting
    comment, held = "", []
    for raw in text.splitlines():
        if raw.startswith(";"):
            comment = raw
        link.write(raw.encode() + b"\n")
        reply = b""
        for _ in range(1000):
            link.pump()
            reply += link.read(1000)
            if b"ok" in reply or b"error" in reply:
                break
        assert reply.strip() == b"ok", (raw, reply)
        link.write(b"?")
        if b"Hold" in link.read(1000):
            held.append(comment)
            link.write(b"~")
    return held


@pytest.mark.parametrize("profile,pen", [("grbl-servo-pause", "servo"), ("grbl-z-pause", "z")])
def test_pause_profile_stops_once_per_layer_in_a_generic_sender(
    tmp_path: Path, profile: str, pen: str
) -> None:
    out = tmp_path / "three.gcode"
    vpype_cli.execute(f"gwrite -p {profile} {out}", _document())
    with _PausingGrbl(pen=pen) as emu:
        held = _stream(emu, out.read_text())
        assert len(emu.pauses) == 3 and len(emu.pen_down_paths()) == 3
        assert emu.violations == []
    for k, comment in enumerate(held):
        assert f"layer {k + 1} {k + 1} pen {k + 1}" in comment
        assert f"colour {vp.Color(COLOURS[k])}" in comment


def test_sketchart_plot_pauses_itself_with_a_pause_profile(tmp_path: Path) -> None:
    """The driver leaves ``M0`` out (it prompts between layers itself): the plain emulator,
    which refuses M0, plots the pause profile."""
    from sketchart.plot import PlotOptions, document_from_vpype, plot_document

    with GrblEmulator() as emu:
        options = PlotOptions(device="grbl", port=emu.url, profile="grbl-servo-pause",
                              journal=tmp_path / "j.json")
        plot_document(document_from_vpype(_document()), options, echo=lambda s: None)
        assert len(emu.pen_down_paths()) == 3
        assert not any(line.replace(" ", "").upper() in ("M0", "M00") for line in emu.log)


def test_bottom_left_profiles_flip_y_over_the_page(tmp_path: Path) -> None:
    top, bottom = tmp_path / "tl.gcode", tmp_path / "bl.gcode"
    doc = _document(layers=1, size_mm=100.0)
    vpype_cli.execute(f"gwrite -p grbl-servo {top} gwrite -p grbl-servo-bl {bottom}", doc)

    def first_move(path: Path) -> tuple[float, float]:
        line = next(line for line in path.read_text().splitlines() if line.startswith("G0 X"))
        words = dict(parse_words(line))
        return words["X"], words["Y"]

    assert first_move(top) == pytest.approx((10.0, 10.0))
    assert first_move(bottom) == pytest.approx((10.0, 90.0))


def test_every_shipped_profile_is_listed_in_the_docs() -> None:
    docs = (ROOT / "docs" / "vpype.md").read_text()
    assert len(SHIPPED) == 8
    for name in SHIPPED:
        assert f"`{name}`" in docs, name
    for name, profile in SHIPPED.items():
        base = SHIPPED[name.replace("-bl", "").replace("-pause", "")]
        for key in ("document_start", "segment_first", "segment", "line_end"):
            assert profile[key] == base[key], (name, key)
        assert ("layer_start" in profile) == name.endswith("-pause")
        assert profile.get("vertical_flip", False) == ("-bl" in name)


def test_grbl_dry_run_checks_the_travel_and_says_what_it_assumed(tmp_path: Path) -> None:
    svg = _svg(tmp_path, _document(layers=2, size_mm=400.0))
    wide = vp.Document(page_size=(400 / MM_PER_PX, 100 / MM_PER_PX))
    wide.add(vp.LineCollection([np.array([10 + 10j, 350 + 20j]) / MM_PER_PX]), 1)
    far = _svg(tmp_path, wide, "wide.svg")
    result = TyperRunner().invoke(app, ["plot", str(far), "--device", "grbl", "--dry-run"])
    assert result.exit_code == 1
    assert "outside the GRBL travel 0..300 x 0..200 mm (assumed travel" in str(
        result.exception
    )
    result = TyperRunner().invoke(
        app, ["plot", str(far), "--device", "grbl", "--dry-run", "--travel", "400x300"]
    )
    assert result.exit_code == 0, result.output
    assert "travel $130/$131 = 400 x 300 mm" in result.output
    result = TyperRunner().invoke(app, ["plot", str(svg), "--device", "grbl", "--dry-run"])
    assert result.exit_code == 0, result.output
    layer_lines = [line for line in result.output.splitlines() if line.startswith("  layer ")]
    assert len(layer_lines) == 2 and all(line.endswith(" s") for line in layer_lines)
    assert "$110/$111 = 6000/6000 mm/min" in result.output


def test_bad_travel_is_one_line_error() -> None:
    from sketchart.plot.gcode import parse_travel

    assert parse_travel("300x200mm") == (300.0, 200.0)
    for bad in ("300", "ax2", "0x10"):
        with pytest.raises(SketchartError, match="--travel"):
            parse_travel(bad)
