"""GRBL's manual utilities (``sketchart plotter ... --device grbl``).

The pen moves are the ``gwrite`` profile's own pen lines (so they match the plot), a walk is
a relative rapid move (``G91 G0``), home is a rapid move to the origin (``$H`` needs homing
switches, which few pen plotters have), motors off is GRBL's sleep (``$SLP``), and the
version is ``$I``'s ``[VER:...]`` line.
"""

from __future__ import annotations

from typing import Any

from sketchart.plot.drivers.grbl import GrblDriver
from sketchart.plot.options import PlotOptions
from sketchart.plot.paths import PlotDocument
from sketchart.plot.profiles import get_profile, render_program
from sketchart.plot.registry import PortLister

__all__ = ["GrblManual", "create_manual"]


class GrblManual(GrblDriver):
    """The manual utilities on a GRBL plotter (see the module docstring)."""

    pen_is_down = False

    def connect(self) -> None:
        """Connect as for a plot, then read the version line (``$I``)."""
        super().connect()
        lines = self._simple("$I")
        found = [line for line in lines if line.startswith("[VER:")]
        self.version = found[0] if found else self.version

    def _check_bounds(self, *args: Any, **kwargs: Any) -> None:
        """No drawing to check: a walk is the user's own move."""

    def _run(self, lines: list[str]) -> None:
        for line in lines:
            self.send(line)
        self.drain()

    def raise_pen(self) -> None:
        """The profile's pen lift."""
        self.pen_up()
        self.pen_is_down = False

    def lower_pen(self) -> None:
        """The profile's ``sketchart_pen_down``."""
        self.pen_down()
        self.pen_is_down = True

    def toggle_pen(self) -> None:
        """Lower the pen if it is up, else raise it. A servo pen's state is GRBL's spindle
        state (``$G``: ``M3``/``M4`` down, ``M5`` up); GRBL cannot tell where a Z pen is
        against the paper, so a fresh session takes it as up."""
        down = self._servo_is_down()
        if down if down is not None else self.pen_is_down:
            self.raise_pen()
        else:
            self.lower_pen()

    def _servo_is_down(self) -> bool | None:
        """Whether a servo profile's pen is down, from ``$G``'s spindle word; ``None`` for
        a profile whose pen-down lines do not start the spindle."""
        if not any(line.split()[:1] in (["M3"], ["M4"]) for line in self.program.pen_down):
            return None
        for line in self._simple("$G"):
            if line.startswith("[GC:"):
                words = line.strip("[]")[3:].split()
                return "M3" in words or "M4" in words
        return None

    def walk(self, dx_mm: float, dy_mm: float) -> None:
        """A relative rapid move by ``(dx, dy)`` mm."""
        self._run(["G21", "G91", f"G0 X{dx_mm:.3f} Y{dy_mm:.3f}", "G90"])

    def home(self) -> None:
        """Pen up, then a rapid move to the origin."""
        self.raise_pen()
        self._run(["G21", "G90", "G0 X0 Y0"])

    def motors_off(self) -> None:
        """GRBL's sleep mode: steppers off (a reset wakes it)."""
        self._simple("$SLP")


def create_manual(options: PlotOptions, list_ports: PortLister | None) -> GrblManual:
    """The ``DeviceSpec.manual`` factory of GRBL."""
    # no paths: the page size only satisfies a profile that flips the page
    document = PlotDocument(layers=[], page_size_mm=(0.0, 0.0), source="<manual>")
    program = render_program(document, get_profile(options.profile), options.defaults)
    return GrblManual(program, options.port, label=f"grbl {options.profile}")
