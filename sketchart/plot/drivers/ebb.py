"""The AxiDraw (EiBotBoard firmware) driver: discovery, handshake, servo set-up, timed moves.

The moves come from :class:`~sketchart.plot.drivers.ebb_planner.EBBPlanner` (``SM``
commands in time slices; see that module for the geometry).

Flow control: the EBB accepts a motion command into its one-deep FIFO only when the FIFO is
free, and answers ``OK`` then; so with one command executing, one in the FIFO and one
waiting for its ``OK``, at most three are in flight. The driver sends one command and waits
for its reply before the next. An ``OK`` for motion command *k* also proves that command
*k - 2* has finished: that is how the journal learns that a path's final pen lift executed.
Waiting for the end uses ``QM``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import deque

import numpy as np

from sketchart.errors import SketchartError
from sketchart.plot.driver import (
    Capabilities,
    Estimate,
    LayerEstimate,
    ManualControl,
    PathDone,
    PauseRequested,
)
from sketchart.plot.drivers.base import SerialDriver
from sketchart.plot.drivers.ebb_options import OPTIONS, apply_options
from sketchart.plot.drivers.ebb_planner import (
    STEPS_PER_MM,
    XY_SPEED_LIMIT,
    AxiDrawSettings,
    EBBPlanner,
    estimate_ebb,
    find_axidraw,
)
from sketchart.plot.layers import layer_pen
from sketchart.plot.options import PlotOptions
from sketchart.plot.paths import PlotDocument, check_travel
from sketchart.plot.registry import DeviceSpec, PortLister
from sketchart.plot.serialio import DeviceError

__all__ = ["DEVICE", "MIN_FIRMWARE", "OPTIONS", "EBBDriver", "parse_firmware"]

_log = logging.getLogger(__name__)

#: the oldest firmware with every command the driver sends (QM, signed SM steps, S2)
MIN_FIRMWARE = (2, 5, 0)
#: seconds between two polls of the pause button (axicli polls every 50 ms too)
BUTTON_INTERVAL = 0.05


def parse_firmware(reply: str) -> tuple[int, int, int]:
    """``"EBBv13_and_above EB Firmware Version 2.8.1"`` -> ``(2, 8, 1)``.

    Raises:
        SketchartError: no version number in the reply.
    """
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", reply.split("Version")[-1])
    if match is None:
        raise SketchartError(f"the AxiDraw's version line has no version: {reply[:60]!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


class EBBDriver(SerialDriver):
    """Plots a :class:`PlotDocument` on an AxiDraw, path by path.

    Args:
        document: the drawing in mm.
        settings: pen/speed settings.
        port: a port path or pyserial URL; ``None`` discovers the AxiDraw by USB id.
        timeout: seconds to wait for a reply beyond the move being executed.
        on_path_done: called with ``(layer_index, path_index)`` once a path's final pen
            lift has executed.
        list_ports: the port lister for discovery (``serial.tools.list_ports.comports``).
    """

    name = "AxiDraw"

    def __init__(
        self,
        document: PlotDocument,
        settings: AxiDrawSettings,
        port: str | None = None,
        *,
        timeout: float = 3.0,
        on_path_done: PathDone | None = None,
        list_ports: PortLister | None = None,
    ) -> None:
        settings.validate()
        super().__init__(
            port, timeout=timeout, on_path_done=on_path_done, list_ports=list_ports
        )
        self.document = document
        self.settings = settings
        self.label = f"axidraw {settings.model}"
        self.planner = EBBPlanner(settings)
        self.version = ""
        self.firmware: tuple[int, int, int] = (0, 0, 0)
        self._last_poll = 0.0
        self._motion_acked = 0  # motion commands answered OK so far
        self._pending: deque[tuple[int, tuple[int, int]]] = deque()
        self._qs0: tuple[int, int] = (0, 0)
        self._m0: tuple[int, int] = (0, 0)
        self.commands_sent = 0

    def capabilities(self) -> Capabilities:
        """The model's travel and the configured speeds (nothing to ask the board)."""
        s = self.settings
        return Capabilities(
            travel_mm=s.travel,
            pen_control="servo",
            draw_speed_mm_s=s.speed_down,
            travel_speed_mm_s=s.speed_up,
            safe_stop="pen up, motors off",
        )

    def estimate(
        self, start: tuple[int, int], start_xy: tuple[float, float] | None
    ) -> Estimate:
        """The time of the ``SM`` moves the driver would send (see :func:`estimate_ebb`)."""
        est = estimate_ebb(
            self.document, self.settings, start, start_xy, self.layer_settings
        )
        layers = [
            LayerEstimate(
                i["name"],
                i["paths"],
                i["down_mm"],
                i["up_mm"],
                i["seconds"],
                self._describe(li),
            )
            for li, i in enumerate(est["layers"])
        ]
        return Estimate(est["seconds"], layers)

    def layer_settings(self, layer_index: int) -> AxiDrawSettings:
        """The plot's settings with a layer's own pen height and speed applied."""
        pen = layer_pen(self.document.layers[layer_index])
        s = self.settings
        if pen.pen_down is not None:
            s = dataclasses.replace(s, pen_down=pen.pen_down)
        if pen.speed is not None:
            s = dataclasses.replace(s, speed_down=XY_SPEED_LIMIT * pen.speed / 100.0)
        return s

    def _describe(self, layer_index: int) -> str:
        s = self.layer_settings(layer_index)
        text = f"pen down {s.pen_down:g} %, {s.speed_down:.0f} mm/s"
        if layer_pen(self.document.layers[layer_index]).force_pause:
            text += ", pauses before (!)"
        return text

    # -- connection --------------------------------------------------------------------------
    def connect(self) -> None:
        """Find/open the port and check it is an EBB (``V`` must answer ``EBB...``)."""
        if self.port_name is None:
            self.port_name = find_axidraw(self.list_ports)
        self._open()

    def _open(self) -> None:
        reader = self._open_port(9600)
        reader.clear()
        reply: str | None = None
        for _ in range(2):  # a first reply can be swallowed by a half-sent old command
            reader.clear()
            try:
                self._write("V")
            except DeviceError as exc:
                name = self.port_name
                self.close()
                raise SketchartError(
                    f"the AxiDraw on {name} failed during the handshake: {exc}"
                ) from exc
            try:
                reply = reader.read_line(1.0)
            except DeviceError as exc:
                reply = str(exc)
            if reply and reply.startswith("EBB"):
                self.version = reply
                self.clock.sleep(0.05)  # let a repeated answer arrive, then drop it
                reader.clear()
                self._check_firmware()
                return
        name = self.port_name
        self.close()
        raise SketchartError(
            f"wrong device on {name}: 'V' answered {reply!r}, not an EiBotBoard "
            "(is this an AxiDraw?)"
        )

    def _check_firmware(self) -> None:
        self.firmware = parse_firmware(self.version)
        if self.firmware < MIN_FIRMWARE:
            name, found = self.port_name, ".".join(map(str, self.firmware))
            self.close()
            raise SketchartError(
                f"the AxiDraw on {name} has EBB firmware {found}, too old for the commands "
                f"used (needs {'.'.join(map(str, MIN_FIRMWARE))} or newer); update it with "
                "Evil Mad Scientist's firmware updater"
            )

    def _write(self, command: str) -> None:
        if self.port is None:
            raise DeviceError("the AxiDraw port is closed")
        try:
            self.port.write((command + "\r").encode("ascii"))
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            raise DeviceError(f"the AxiDraw port failed: {exc}") from exc
        self.commands_sent += 1

    def command(
        self, command: str, *, motion: bool = False, reply: str = "ok", wait_s: float = 0.0
    ) -> str:
        """Send one command and read its reply.

        Args:
            command: without the ``\\r``.
            motion: a motion-FIFO command (counts for the journal's completion rule).
            reply: ``"ok"`` (just ``OK``), ``"query"`` (a data line, then ``OK``) or
                ``"line"`` (one line, no ``OK``: ``V``, ``QM``).
            wait_s: how long the command may legitimately block (the move ahead of it).

        Returns:
            The data line for ``"query"``/``"line"``, else ``""``.

        Raises:
            DeviceError: an ``!N Err`` reply, no reply in time, garbage, a lost port.
        """
        assert self.reader is not None
        self._write(command)
        timeout = self.timeout + wait_s
        data = ""
        want_ok = reply in ("ok", "query")
        need_data = reply in ("query", "line")
        while need_data or want_ok:
            line = self.reader.read_line(timeout)
            if line is None:
                raise DeviceError(
                    f"no reply from the AxiDraw to {command!r} within {timeout:.1f} s"
                )
            if line.startswith("!"):
                if self.firmware < (3, 0, 0):
                    self.reader.read_line(0.2)  # 2.x follows an error with OK; 3.x does not
                raise DeviceError(f"the AxiDraw rejected {command!r}: {line}")
            if need_data:
                data, need_data = line, False
                continue
            if line != "OK":
                raise DeviceError(
                    f"unexpected reply from the AxiDraw to {command!r}: {line[:40]!r}"
                )
            want_ok = False
        if motion:
            self._motion_acked += 1
            # OK for command k: k - 1 is executing, so k - 2 has finished
            while self._pending and self._pending[0][0] <= self._motion_acked - 2:
                self.on_path_done(*self._pending.popleft()[1])
        return data

    def _send_moves(
        self, moves: list[tuple[str, int]], previous_ms: int = 0, *, poll: bool = True
    ) -> int:
        """Send moves in order; each may block for the one before it. Returns the last ms.

        With ``poll``, the pause button is read between moves (see :meth:`check_button`).
        """
        for cmd, ms in moves:
            self.command(cmd, motion=True, wait_s=previous_ms / 1000.0)
            previous_ms = ms
            if poll and self.clock.monotonic() - self._last_poll >= BUTTON_INTERVAL:
                self.check_button()
        return previous_ms

    def check_button(self) -> None:
        """Ask the board whether its pause button was pressed since the last ask (``QB``).

        Raises:
            PauseRequested: it was; the moves already sent still run.
        """
        self._last_poll = self.clock.monotonic()
        if self.command("QB", reply="query").strip() == "1":
            raise PauseRequested("paused (the AxiDraw's button)")

    def wait_idle(self) -> None:
        """Poll ``QM`` until the motion queue is empty; then every acked path is done."""
        deadline = self.clock.monotonic() + 3600.0
        while True:
            status = self.command("QM", reply="line")
            fields = status.split(",")
            if len(fields) < 2 or fields[0] != "QM":
                raise DeviceError(f"unexpected QM reply from the AxiDraw: {status[:40]!r}")
            if fields[1] == "0" and (len(fields) < 5 or fields[4] == "0"):
                break
            if self.clock.monotonic() > deadline:
                raise DeviceError("the AxiDraw never finished its moves")
            self.clock.sleep(0.005)
        while self._pending:
            self.on_path_done(*self._pending.popleft()[1])

    def query_steps(self) -> tuple[int, int]:
        """Global step counters (``QS``)."""
        text = self.command("QS", reply="query")
        try:
            a, b = text.split(",")[:2]
            return int(a), int(b)
        except ValueError:
            raise DeviceError(f"unexpected QS reply from the AxiDraw: {text[:40]!r}") from None

    # -- the plot interface ------------------------------------------------------------------
    def begin(self, start_xy: tuple[float, float] | None = None) -> None:
        """Motors on at 1/16 steps, servo heights, pen up; the carriage is at ``start_xy``."""
        s = self.settings
        self.planner = EBBPlanner(s, start_xy or (0.0, 0.0))
        self.command("EM,1,1", motion=True)
        self.command(f"SC,4,{s.servo_value(s.pen_up)}")
        self.command(f"SC,5,{s.servo_value(s.pen_down)}")
        cmd, _ = self.planner.pen_up_cmd()
        self.command(cmd, motion=True)
        self.wait_idle()
        self._qs0 = self.query_steps()
        self._m0 = (self.planner.m1, self.planner.m2)
        self.command("QB", reply="query")  # forget a press from before the plot
        self._last_poll = self.clock.monotonic()

    def pen_up(self) -> None:
        """Lift the pen and wait until it is up."""
        self.command(self.planner.pen_up_cmd()[0], motion=True)
        self.wait_idle()

    def pen_down(self) -> None:
        """Lower the pen and wait until it is down."""
        self.command(self.planner.pen_down_cmd()[0], motion=True)
        self.wait_idle()

    def begin_layer(self, layer_index: int) -> None:
        """A layer's own pen-down height (``SC,5``) and speed."""
        s = self.layer_settings(layer_index)
        self.planner.settings = s
        if not s.brushless:
            self.command(f"SC,5,{s.servo_value(s.pen_down)}")

    def draw_path(self, layer_index: int, path_index: int) -> None:
        self.check_button()
        line = self.document.layers[layer_index].lines[path_index]
        travel, draw = self.planner.path_commands(line)
        previous = self._send_moves(travel)
        previous = self._send_moves([self.planner.pen_down_cmd()], previous)
        previous = self._send_moves(draw, previous)
        self._send_moves([self.planner.pen_up_cmd()], previous)
        self._pending.append((self._motion_acked, (layer_index, path_index)))

    def end_layer(self, layer_index: int) -> None:
        self.wait_idle()

    def finish(self) -> None:
        """Travel home, wait for the end, motors off (every path is done: no pausing)."""
        home = self.planner.moves(np.array([self.planner.xy, (0.0, 0.0)]), False)
        self._send_moves(home, poll=False)
        self.wait_idle()
        self.command("EM,0,0", motion=True)

    def stop_safely(self) -> tuple[float, float] | None:
        """Pen up, wait, read the position, motors off. Never raises.

        A failed port is opened once more (a USB glitch re-enumerates the board) to lift the
        pen there. Returns the carriage's XY in mm when the board could be asked.
        """
        for attempt in range(2):
            try:
                if attempt == 1:
                    self.close()
                    self._open()
                assert self.reader is not None
                self.reader.clear()
                self.command(self.planner.pen_up_cmd()[0], motion=True, wait_s=1.0)
                self.wait_idle()
                q1, q2 = self.query_steps()
                m1 = self._m0[0] + q1 - self._qs0[0]
                m2 = self._m0[1] + q2 - self._qs0[1]
                self.planner.m1, self.planner.m2 = m1, m2
                self.command("EM,0,0", motion=True)
                return ((m1 + m2) / (2 * STEPS_PER_MM), (m1 - m2) / (2 * STEPS_PER_MM))
            except KeyboardInterrupt:
                continue  # a second Ctrl-C must not leave the pen down
            except Exception:  # noqa: BLE001 - a lost port raises anything (termios.error)
                continue
        return None

    def park_home(self) -> None:
        """After :meth:`stop_safely`: motors on, travel home with the pen up, motors off."""
        try:
            self.command("EM,1,1", motion=True)
            home = self.planner.moves(np.array([self.planner.xy, (0.0, 0.0)]), False)
            self._send_moves(home, poll=False)
            self.wait_idle()
            self.command("EM,0,0", motion=True)
        except Exception as exc:  # noqa: BLE001 - parking is a courtesy; the stop is done
            _log.warning("could not park the AxiDraw at home: %s", exc)


def _create(
    document: PlotDocument, options: PlotOptions, list_ports: PortLister | None
) -> EBBDriver:
    settings = options.axidraw
    settings.validate()
    check_travel(document, settings.travel, f"AxiDraw {settings.model}")
    return EBBDriver(document, settings, options.port, list_ports=list_ports)


def _manual(options: PlotOptions, list_ports: PortLister | None) -> ManualControl:
    from sketchart.plot.drivers.ebb_manual import create_manual

    return create_manual(options, list_ports)


DEVICE = DeviceSpec("axidraw", _create, OPTIONS, apply_options, manual=_manual)
