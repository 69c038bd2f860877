"""The AxiDraw's manual utilities (``sketchart plotter ... --device axidraw``).

Like axicli's manual mode: raise, lower or toggle the pen (to set pen heights), walk the
carriage by a distance (to align paper), go home, turn the motors off, print the firmware.
Each call is one short session on the board; the pen heights are sent (``SC``) before a pen
move, so ``--pen-up``/``--pen-down`` can be tried out one value at a time.
"""

from __future__ import annotations

import numpy as np

from sketchart.plot.drivers.ebb import EBBDriver
from sketchart.plot.drivers.ebb_planner import AxiDrawSettings, EBBPlanner
from sketchart.plot.options import PlotOptions
from sketchart.plot.paths import PlotDocument
from sketchart.plot.registry import PortLister

__all__ = ["EBBManual", "create_manual"]

#: the firmware that has ``HM`` (older boards walk home by their step counters)
_HM_FIRMWARE = (2, 6, 2)
_HOME_RATE = 3200  # steps/s per motor: a calm, audible homing speed


class EBBManual(EBBDriver):
    """The manual utilities on an AxiDraw (see the module docstring)."""

    def __init__(
        self, settings: AxiDrawSettings, port: str | None, list_ports: PortLister | None
    ) -> None:
        super().__init__(PlotDocument(layers=[]), settings, port, list_ports=list_ports)

    def _servo(self) -> None:
        s = self.settings
        self.command(f"SC,4,{s.servo_value(s.pen_up)}")
        self.command(f"SC,5,{s.servo_value(s.pen_down)}")

    def raise_pen(self) -> None:
        """Lift the pen to ``--pen-up``."""
        self._servo()
        self.pen_up()

    def lower_pen(self) -> None:
        """Lower the pen to ``--pen-down``."""
        self._servo()
        self.pen_down()

    def toggle_pen(self) -> None:
        """Lift a lowered pen, lower a lifted one (``QP`` says which)."""
        if self.command("QP", reply="query").strip() == "1":
            self.lower_pen()
        else:
            self.raise_pen()

    def walk(self, dx_mm: float, dy_mm: float) -> None:
        """Move by ``(dx, dy)`` mm from where the carriage is, at the travel speed."""
        planner = EBBPlanner(self.settings)
        self.command("EM,1,1", motion=True)
        moves = planner.moves(np.array([(0.0, 0.0), (dx_mm, dy_mm)]), False)
        self._send_moves(moves)
        self.wait_idle()

    def home(self) -> None:
        """Lift the pen and return to where the step counters were cleared (power-on)."""
        self.raise_pen()
        if self.firmware >= _HM_FIRMWARE:
            self.command(f"HM,{_HOME_RATE}", motion=True)
        else:
            q1, q2 = self.query_steps()
            planner = EBBPlanner(self.settings)
            planner.m1, planner.m2 = q1, q2
            self._send_moves(planner.moves(np.array([planner.xy, (0.0, 0.0)]), False))
        self.wait_idle()

    def motors_off(self) -> None:
        """Disable the motors so the carriage moves by hand."""
        self.command("EM,0,0", motion=True)
        self.wait_idle()

    def check_button(self) -> None:
        """The pause button means nothing here."""


def create_manual(options: PlotOptions, list_ports: PortLister | None) -> EBBManual:
    """The ``DeviceSpec.manual`` factory of the AxiDraw."""
    options.axidraw.validate()
    return EBBManual(options.axidraw, options.port, list_ports)

