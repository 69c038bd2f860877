"""What :func:`~sketchart.plot.run.plot_document` needs of a plotter, whatever its kind.

A driver is made for one drawing (its factory gets the document and the options) and is
used in this order: :meth:`~PlotterDriver.estimate` (also without a device, for a dry
run), :meth:`~PlotterDriver.connect`, :meth:`~PlotterDriver.begin`, then per layer
:meth:`~PlotterDriver.begin_layer`, :meth:`~PlotterDriver.draw_path` for each path,
:meth:`~PlotterDriver.end_layer`, and :meth:`~PlotterDriver.finish`; any failure or Ctrl-C
ends in :meth:`~PlotterDriver.stop_safely`; :meth:`~PlotterDriver.close` always. The run
loop, the journal and the messages are the same for every device; everything that differs
lives behind this protocol, so a new plotter is one module plus one registry entry
(:mod:`sketchart.plot.registry`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sketchart.plot.serialio import Clock

__all__ = [
    "Capabilities",
    "Estimate",
    "LayerEstimate",
    "ManualControl",
    "PathDone",
    "PauseRequested",
    "PlotterDriver",
]

#: called with ``(layer_index, path_index)`` once a path is on paper (journal bookkeeping)
PathDone = Callable[[int, int], None]


class PauseRequested(Exception):
    """Raised by a driver when the plotter's own pause button was pressed.

    The run loop treats it as Ctrl-C: safe stop, journal, exit status 130.
    """


@dataclass(frozen=True)
class Capabilities:
    """What a plotter can do, as far as it is known (before or after :meth:`connect`).

    Attributes:
        travel_mm: reachable ``(width, height)`` in mm; ``None`` when only a connected
            controller can tell.
        pen_control: how the pen moves: ``"servo"``, ``"z-axis"``, ``"g-code template"``...
        draw_speed_mm_s: pen-down speed, when the driver sets it (``None``: the program or
            controller decides).
        travel_speed_mm_s: pen-up speed, likewise.
        safe_stop: what :meth:`PlotterDriver.stop_safely` leaves the machine in, for the
            user (``"pen up, motors off ..."``).
    """

    travel_mm: tuple[float, float] | None
    pen_control: str
    draw_speed_mm_s: float | None = None
    travel_speed_mm_s: float | None = None
    safe_stop: str = "pen up"


@dataclass
class LayerEstimate:
    """One layer's share of a plan (only the paths still to plot)."""

    name: str
    paths: int
    down_mm: float
    up_mm: float
    seconds: float | None = None
    settings: str = ""


@dataclass
class Estimate:
    """A plan's time from the same motion model the driver sends.

    Attributes:
        seconds: the whole (remaining) plot.
        layers: per layer, in plotting order.
        notes: what the estimate assumed, shown under a dry run's plan.
    """

    seconds: float
    layers: list[LayerEstimate]
    notes: list[str] = field(default_factory=list)


@runtime_checkable
class PlotterDriver(Protocol):
    """A plotter driving one drawing; see the module docstring for the call order.

    Attributes:
        label: the device as the journal records it (``"axidraw V3/A4"``); a resume is
            refused when it differs.
        on_path_done: set by the run loop before :meth:`begin`; the driver calls it once a
            path's final pen lift has executed (never earlier: the journal trusts it).
    """

    label: str
    on_path_done: PathDone

    @property
    def clock(self) -> Clock:
        """The time source of the connection (virtual on an emulator)."""
        ...

    def capabilities(self) -> Capabilities:
        """Travel, pen control and speeds as known now (more after :meth:`connect`)."""
        ...

    def estimate(
        self, start: tuple[int, int], start_xy: tuple[float, float] | None
    ) -> Estimate:
        """Plan from path ``start`` (layer, path), the carriage at ``start_xy``."""
        ...

    def connect(self) -> None:
        """Open the port, check it is the right device and that the drawing fits it."""
        ...

    def begin(self, start_xy: tuple[float, float] | None) -> None:
        """Prepare the machine (motors, pen up); the carriage is at ``start_xy`` (mm)."""
        ...

    def pen_up(self) -> None:
        """Lift the pen now (and wait for it)."""
        ...

    def pen_down(self) -> None:
        """Lower the pen now (and wait for it)."""
        ...

    def begin_layer(self, layer_index: int) -> None:
        """Called before the first path of a layer (after the pen-change pause)."""
        ...

    def draw_path(self, layer_index: int, path_index: int) -> None:
        """Send the planned moves of one path: travel, pen down, draw, pen up."""
        ...

    def end_layer(self, layer_index: int) -> None:
        """Called after a layer's last path; returns once the layer is on paper."""
        ...

    def finish(self) -> None:
        """Go home and wait for the end of every move."""
        ...

    def stop_safely(self) -> tuple[float, float] | None:
        """Stop now with the pen up; never raises.

        Returns:
            The carriage's XY in mm (the journal's resume position), or ``None`` when the
            plotter could not be reached.
        """
        ...

    def close(self) -> None:
        """Release the port (idempotent)."""
        ...


@runtime_checkable
class ManualControl(Protocol):
    """The manual utilities (``sketchart plotter ...``), as axicli's manual mode.

    Made by a device's ``DeviceSpec.manual`` factory; :meth:`connect` first, :meth:`close`
    always. A driver that plots may also offer :meth:`park_home`, called by the run loop
    after a stop when the carriage should wait at home (``--park home``).
    """

    #: the board's firmware line, once connected
    version: str

    def connect(self) -> None:
        """Open the port and check the device."""
        ...

    def raise_pen(self) -> None:
        """Lift the pen."""
        ...

    def lower_pen(self) -> None:
        """Lower the pen."""
        ...

    def toggle_pen(self) -> None:
        """Lift a lowered pen, lower a lifted one."""
        ...

    def walk(self, dx_mm: float, dy_mm: float) -> None:
        """Move the carriage by ``(dx, dy)`` mm from where it is, pen as it is."""
        ...

    def home(self) -> None:
        """Lift the pen and move to the origin."""
        ...

    def motors_off(self) -> None:
        """Disable the motors (the carriage can then be moved by hand)."""
        ...

    def close(self) -> None:
        """Release the port."""
        ...
