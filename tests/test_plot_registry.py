"""A new plotter is one driver class plus one registry entry: a third device, defined here,
plots, dry-runs, stops safely and resumes through ``plot_document`` like the built-ins."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from plot_testing import synthetic_document

from sketchart.errors import SketchartError
from sketchart.plot import PlotOptions, plot_document
from sketchart.plot.driver import Capabilities, Estimate, LayerEstimate, PlotterDriver
from sketchart.plot.drivers.base import distances
from sketchart.plot.drivers.ebb import EBBDriver
from sketchart.plot.drivers.ebb_planner import AxiDrawSettings
from sketchart.plot.emulators import VirtualClock
from sketchart.plot.options import PlotOption, options_from_values, plot_option_table
from sketchart.plot.registry import (
    DeviceSpec,
    devices,
    get_device,
    register_device,
    unregister_device,
)


class RecorderDriver:
    """A 'plotter' that records what it is told: the smallest complete driver."""

    def __init__(self, document, speed: float, fail_at: tuple[int, int] | None) -> None:
        self.document = document
        self.speed = speed
        self.fail_at = fail_at
        self.label = f"recorder {speed:g}"
        self.on_path_done = lambda li, pi: None
        self._clock = VirtualClock()
        self.events: list[tuple] = []
        self.drawn: list[np.ndarray] = []
        self.connected = False

    @property
    def clock(self) -> VirtualClock:
        return self._clock

    def capabilities(self) -> Capabilities:
        return Capabilities(
            (100.0, 100.0), "none", self.speed, self.speed, "pen up (recorder)"
        )

    def estimate(self, start, start_xy) -> Estimate:
        layers = [LayerEstimate(*row) for row in distances(self.document, start)]
        mm = sum(layer.down_mm + layer.up_mm for layer in layers)
        return Estimate(mm / self.speed, layers, ["  (recorder: straight lines)"])

    def connect(self) -> None:
        self.connected = True

    def begin(self, start_xy) -> None:
        self.events.append(("begin", start_xy))

    def pen_up(self) -> None:
        self.events.append(("up",))

    def pen_down(self) -> None:
        self.events.append(("down",))

    def begin_layer(self, layer_index: int) -> None:
        self.events.append(("layer", layer_index))

    def draw_path(self, layer_index: int, path_index: int) -> None:
        if (layer_index, path_index) == self.fail_at:
            raise SketchartError("the recorder jammed")
        line = self.document.layers[layer_index].lines[path_index]
        self.pen_down()
        self.drawn.append(line)
        self.pen_up()
        self._clock.sleep(1.0)
        self.on_path_done(layer_index, path_index)

    def end_layer(self, layer_index: int) -> None:
        self.events.append(("end", layer_index))

    def finish(self) -> None:
        self.events.append(("finish",))

    def stop_safely(self):
        self.events.append(("stop",))
        return (12.0, 34.0)

    def close(self) -> None:
        self.connected = False


CREATED: list[RecorderDriver] = []


def _create(document, options: PlotOptions, list_ports) -> RecorderDriver:
    settings = options.device_settings.get("recorder", {})
    driver = RecorderDriver(
        document, float(settings.get("recorder_speed", 10.0)), settings.get("fail_at")
    )
    CREATED.append(driver)
    return driver


# the one registry entry
RECORDER = DeviceSpec(
    "recorder",
    _create,
    (PlotOption("recorder_speed", ("--recorder-speed",), float, 10.0, "Recorder speed."),),
)


@pytest.fixture
def recorder():
    register_device(RECORDER)
    CREATED.clear()
    yield
    unregister_device("recorder")


def _options(tmp_path, **settings):
    return PlotOptions(
        device="recorder",
        journal=tmp_path / "j.json",
        device_settings={"recorder": {"recorder_speed": 20.0, **settings}},
    )


def test_the_recorder_plots_every_path_through_run(recorder, tmp_path):
    doc = synthetic_document(seed=3)
    said: list[str] = []
    report = plot_document(doc, _options(tmp_path), echo=said.append)
    driver = CREATED[-1]
    assert isinstance(driver, PlotterDriver)
    expected = [line for layer in doc.layers for line in layer.lines]
    assert len(driver.drawn) == len(expected)
    for got, want in zip(driver.drawn, expected):
        assert np.array_equal(got, want)
    assert report.device == "recorder 20" and report.paths_done == doc.path_count
    assert report.elapsed_s == pytest.approx(doc.path_count)  # its virtual clock
    assert "on recorder 20" in said[0] and said[-1].startswith("done:")
    data = json.loads((tmp_path / "j.json").read_text())
    assert data["complete"] and data["device"] == "recorder 20"
    assert not driver.connected


def test_the_recorder_dry_run_prints_its_notes(recorder, tmp_path):
    said: list[str] = []
    options = dataclasses.replace(_options(tmp_path), dry_run=True)
    report = plot_document(synthetic_document(), options, echo=said.append)
    assert report.dry_run and said[-1] == "  (recorder: straight lines)"
    assert CREATED[-1].connected is False and not (tmp_path / "j.json").exists()


def test_the_recorder_stops_safely_and_resumes(recorder, tmp_path):
    doc = synthetic_document(seed=5)
    options = _options(tmp_path, fail_at=(1, 2))
    with pytest.raises(SketchartError, match="pen up \\(recorder\\); continue with --resume"):
        plot_document(doc, options, echo=lambda s: None)
    first = CREATED[-1]
    assert ("stop",) in first.events
    data = json.loads((tmp_path / "j.json").read_text())
    assert data["next"] == [1, 2] and data["position"] == [12.0, 34.0]
    plot_document(doc, dataclasses.replace(_options(tmp_path), resume=True), echo=print)
    second = CREATED[-1]
    assert second.events[0] == ("begin", (12.0, 34.0))
    assert len(first.drawn) + len(second.drawn) == doc.path_count


def test_its_option_reaches_both_clis_declaration(recorder):
    table = plot_option_table()
    names = [o.name for o in table]
    assert "recorder_speed" in names and names[0] == "device"
    assert "recorder" in table[0].choices
    values = {o.name: o.default for o in table} | {"device": "recorder", "recorder_speed": 5.0}
    options = options_from_values(values, pause=None)
    assert options.device_settings["recorder"] == {"recorder_speed": 5.0}
    assert options.axidraw == AxiDrawSettings()  # the other devices keep their defaults


def test_registry_refuses_clashes_and_names_unknown_devices(recorder):
    with pytest.raises(ValueError, match="already registered"):
        register_device(RECORDER)
    clash = DeviceSpec("other", _create, (PlotOption("x", ("--model",), str, "", "."),))
    with pytest.raises(ValueError, match="--model"):
        register_device(clash)
    with pytest.raises(
        SketchartError, match="unknown device 'nope'; choose axidraw or grbl or recorder"
    ):
        get_device("nope")
    assert [d.name for d in devices()] == ["axidraw", "grbl", "recorder"]


def test_the_builtin_drivers_implement_the_protocol():
    doc = synthetic_document()
    driver = EBBDriver(doc, AxiDrawSettings(), "sketchartemu://none")
    assert isinstance(driver, PlotterDriver)
    grbl = get_device("grbl").create(doc, PlotOptions(device="grbl"), None)
    assert isinstance(grbl, PlotterDriver)
    assert grbl.capabilities().travel_mm is None  # known only from the controller's $$
    assert driver.capabilities().travel_mm == (300.0, 218.0)
