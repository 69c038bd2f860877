"""What the serial drivers share: the port, its clock and reader, journal hook, close."""

from __future__ import annotations

import numpy as np
from serial import SerialBase, SerialException

from sketchart.plot.driver import PathDone
from sketchart.plot.paths import PlotDocument
from sketchart.plot.registry import PortLister
from sketchart.plot.serialio import Clock, LineReader, RealClock, clock_for, open_port

__all__ = ["SerialDriver", "distances"]


def _nothing(layer_index: int, path_index: int) -> None:
    return None


class SerialDriver:
    """Port handling for a driver that talks to its plotter over pyserial.

    Subclasses implement the rest of :class:`~sketchart.plot.driver.PlotterDriver`.

    Args:
        port: a port path or pyserial URL (``None``: the subclass discovers one).
        timeout: seconds to wait for a reply.
        on_path_done: the journal hook (the run loop replaces it).
        list_ports: the port lister for discovery and error messages.
    """

    #: the plotter's name in messages (``"AxiDraw"``)
    name = "plotter"
    label = "plotter"

    def __init__(
        self,
        port: str | None,
        *,
        timeout: float,
        on_path_done: PathDone | None = None,
        list_ports: PortLister | None = None,
    ) -> None:
        self.port_name = port
        self.timeout = timeout
        self.on_path_done: PathDone = on_path_done or _nothing
        self.list_ports = list_ports
        self.port: SerialBase | None = None
        self.reader: LineReader | None = None
        self._clock: Clock = RealClock()

    @property
    def clock(self) -> Clock:
        """The connection's time source (an emulator's port carries a virtual one)."""
        return self._clock

    def _open_port(self, baudrate: int) -> LineReader:
        """Open :attr:`port_name`; the clock and reader follow the new port."""
        self.port = open_port(
            self.port_name or "", baudrate=baudrate, timeout=0.05, device=self.name
        )
        self._clock = clock_for(self.port)
        self.reader = LineReader(self.port, self._clock, self.name)
        return self.reader

    def close(self) -> None:
        """Release the port; idempotent."""
        if self.port is not None:
            try:
                self.port.close()
            except (OSError, SerialException):
                pass  # a vanished port may fail to close; nothing is left to do
            self.port = None


def distances(
    document: PlotDocument, start: tuple[int, int]
) -> list[tuple[str, int, float, float]]:
    """Per layer ``(name, paths, pen-down mm, pen-up mm)`` of the paths from ``start`` on,
    travelling in straight lines from the origin."""
    out = []
    pos = np.zeros(2)
    for li, layer in enumerate(document.layers):
        down = up = 0.0
        count = 0
        for pi, line in enumerate(layer.lines):
            if (li, pi) < start:
                continue
            up += float(np.linalg.norm(line[0] - pos))
            down += float(np.sum(np.linalg.norm(np.diff(line, axis=0), axis=1)))
            pos = line[-1]
            count += 1
        out.append((layer.name, count, down, up))
    return out
