"""The GRBL driver: streams a ``gwrite`` profile's G-code to a GRBL pen plotter.

The driver streams the G-code of a ``gwrite`` profile (:mod:`sketchart.plot.profiles`) with
GRBL's character-counting protocol: it keeps the bytes of the lines not yet answered, and
sends the next line only if it still fits in the controller's 128-byte receive buffer. Every
line gets exactly one ``ok`` or ``error:N``; ``ALARM:N``, ``[MSG:...]`` and status reports
may arrive in between. While waiting, the driver polls ``?`` so that a busy controller (a
long dwell) is told apart from a dead one. Every path of our profiles ends with a ``G4``
dwell, which GRBL only acknowledges once everything before it has executed, so the ``ok`` of
a path's last line means the path is on paper: that is when the journal records it.

Safety: on an error or Ctrl-C the driver sends feed hold ``!``, waits for the hold, soft-
resets (0x18, which flushes GRBL's buffers), unlocks an alarm if needed, and lifts the pen.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Mapping

import numpy as np

from sketchart.errors import SketchartError
from sketchart.plot.driver import (
    Capabilities,
    Estimate,
    LayerEstimate,
    ManualControl,
    PathDone,
)
from sketchart.plot.drivers.base import SerialDriver, distances
from sketchart.plot.drivers.grbl_options import OPTIONS, apply_options
from sketchart.plot.gcode import (
    DRY_RUN_GRBL_SETTINGS,
    RX_BUFFER_SIZE,
    MachineLimits,
    assumed_settings_note,
    estimate_program,
    explain_reply,
    is_sync,
    parse_travel,
)
from sketchart.plot.options import PlotOptions
from sketchart.plot.paths import PlotDocument
from sketchart.plot.profiles import (
    GcodeProgram,
    check_defaults,
    get_profile,
    render_program,
)
from sketchart.plot.registry import DeviceSpec, PortLister
from sketchart.plot.serialio import DeviceError, describe_ports, find_ports

__all__ = ["DEVICE", "OPTIONS", "GrblDriver"]

_log = logging.getLogger(__name__)

def _synced(path: list[str]) -> list[str]:
    """A path's lines, ending on a line GRBL acknowledges only once it has executed.

    The journal records a path on that ``ok``, so it must mean "on paper".
    """
    lines = list(path)
    if not lines or not is_sync(lines[-1]):
        lines.append("G4 P0")
    return lines


class GrblDriver(SerialDriver):
    """Streams a :class:`GcodeProgram` to GRBL path by path (see the module docstring).

    Args:
        program: the rendered G-code.
        port: a serial port path or pyserial URL (GRBL boards have no fixed USB id).
        baudrate: GRBL's serial speed (115200 for 1.1).
        timeout: seconds of silence (status polls unanswered too) before giving up.
        on_path_done: called with ``(layer_index, path_index)`` once a path is on paper.
    """

    name = "GRBL"

    def __init__(
        self,
        program: GcodeProgram,
        port: str | None,
        *,
        document: PlotDocument | None = None,
        label: str = "grbl",
        baudrate: int = 115200,
        timeout: float = 5.0,
        on_path_done: PathDone | None = None,
        list_ports: PortLister | None = None,
        dry_run_settings: Mapping[int, float] | None = None,
    ) -> None:
        super().__init__(
            port, timeout=timeout, on_path_done=on_path_done, list_ports=list_ports
        )
        # what a dry run assumes without a controller (``--travel`` changes $130/$131)
        self.dry_run_settings = dict(dry_run_settings or DRY_RUN_GRBL_SETTINGS)
        self.program = program
        self.document = document
        self.label = label
        self.baudrate = baudrate
        self.settings: dict[int, float] = {}
        self.state = "Unknown"
        self.mpos: tuple[float, ...] | None = None
        self._inflight: deque[tuple[int, str, tuple[int, int] | None]] = deque()
        self.max_buffered = 0
        self.version = ""  # the greeting, then $I's [VER:...] for the utilities

    def capabilities(self) -> Capabilities:
        """Travel from ``$130/$131`` once connected; the program sets the speeds."""
        travel = self.limits.travel if self.settings else None
        return Capabilities(
            travel_mm=(travel[0], travel[1]) if travel else None,
            pen_control="g-code template",
            safe_stop="feed hold, reset, pen up",
        )

    def program_lines(self, start: tuple[int, int], upto: int | None = None) -> list[str]:
        """The lines a run from path ``start`` sends (a dwell closes every path); with
        ``upto``, only those up to the end of that layer."""
        program = self.program
        out = list(program.document_start)
        last = len(program.paths) if upto is None else upto + 1
        for li in range(start[0], last):
            out += program.layer_start[li]
            first = start[1] if li == start[0] else 0
            for pi in range(first, len(program.paths[li])):
                out += _synced(program.paths[li][pi])
            out += program.layer_end[li]
        return out + (program.document_end if upto is None else [])

    def _layer_seconds(self, start: tuple[int, int], limits: MachineLimits) -> list[float]:
        """Per layer, the time its part of the program adds (travel to it included)."""
        out, before = [], 0.0
        for li in range(len(self.program.paths)):
            if li < start[0]:
                out.append(0.0)
                continue
            upto = estimate_program(self.program_lines(start, li), limits)
            out.append(upto - before)
            before = upto
        return out

    def estimate(
        self, start: tuple[int, int], start_xy: tuple[float, float] | None
    ) -> Estimate:
        """GRBL's planner over the remaining program, with the controller's limits once
        connected and the assumed ones (:attr:`dry_run_settings`) before, which the
        drawing is then checked against as :meth:`connect` checks it against ``$$``."""
        settings = self.settings or self.dry_run_settings
        limits = MachineLimits.from_settings(settings)
        if not self.settings:
            self._check_bounds(limits, "assumed travel; set it with --travel WxH")
        seconds = estimate_program(self.program_lines(start), limits)
        layers = []
        if self.document is not None:
            times = self._layer_seconds(start, limits)
            layers = [
                LayerEstimate(*row, seconds=times[li] if li < len(times) else None)
                for li, row in enumerate(distances(self.document, start))
            ]
        notes = [] if self.settings else [assumed_settings_note(settings)]
        return Estimate(seconds, layers, notes)

    # -- connection --------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the port, wait for the greeting, read ``$$``, unlock an alarm."""
        if not self.port_name:
            _, ports = find_ports(-1, -1, self.list_ports)
            raise SketchartError(
                f"GRBL needs --port (GRBL boards have no fixed USB id); ports found: "
                f"{describe_ports(ports)}"
            )
        self._open_port(self.baudrate)
        # an Arduino resets when the port opens and greets within about a second; a board
        # without auto-reset (or a greeting flushed by the open) is asked by a soft reset,
        # which a still-booting Arduino ignores before greeting anyway
        seen = self._wait_greeting(1.0)
        if seen is not True:
            self._write(b"\x18")  # soft reset: GRBL greets again
            seen2 = self._wait_greeting(2.5)
            if seen2 is not True:
                got = seen2 or seen or "nothing"
                self.close()
                raise SketchartError(
                    f"wrong device on {self.port_name}: no GRBL greeting (got {got!r})"
                )
        self.settings = self._read_settings()
        self.state = self.poll_status()
        if self.state.startswith("Alarm"):
            self._simple("$X")
        limits = self.limits
        self._check_bounds(limits)

    @property
    def limits(self) -> MachineLimits:
        """The machine's limits from ``$$``."""
        return MachineLimits.from_settings(self.settings)

    def _check_bounds(self, limits: MachineLimits, where: str = "$130/$131") -> None:
        pts = [p for layer in self.program.xy for path in layer for p in path]
        if not pts:
            raise SketchartError("the document is empty (no paths to plot)")
        arr = np.array(pts)
        w, h = limits.travel[0], limits.travel[1]
        if (
            arr[:, 0].min() < -1e-6
            or arr[:, 1].min() < -1e-6
            or arr[:, 0].max() > w + 1e-6
            or arr[:, 1].max() > h + 1e-6
        ):
            raise SketchartError(
                f"drawing spans x {arr[:, 0].min():.2f}..{arr[:, 0].max():.2f}, "
                f"y {arr[:, 1].min():.2f}..{arr[:, 1].max():.2f} mm, outside the GRBL travel "
                f"0..{w:g} x 0..{h:g} mm ({where})"
            )

    def _wait_greeting(self, seconds: float) -> bool | str | None:
        assert self.reader is not None
        deadline = self.clock.monotonic() + seconds
        last: str | None = None
        while self.clock.monotonic() < deadline:
            try:
                line = self.reader.read_line(max(0.0, deadline - self.clock.monotonic()))
            except DeviceError as exc:
                last = str(exc)
                continue
            if line is None:
                break
            if line.startswith("Grbl "):
                self.version = line
                return True
            last = line
        return last

    def _write(self, data: bytes) -> None:
        if self.port is None:
            raise DeviceError("the GRBL port is closed")
        try:
            self.port.write(data)
        except Exception as exc:  # KeyboardInterrupt is no Exception: it passes
            raise DeviceError(f"the GRBL port failed: {exc}") from exc

    def _simple(self, line: str) -> list[str]:
        """Send one line and wait for its ``ok`` (for ``$`` commands); returns other lines."""
        assert self.reader is not None
        self._write((line + "\n").encode("ascii"))
        extra: list[str] = []
        while True:
            reply = self.reader.read_line(self.timeout)
            if reply is None:
                raise DeviceError(f"no reply from GRBL to {line!r} within {self.timeout:g} s")
            if reply == "ok":
                return extra
            if reply.startswith("error:"):
                raise DeviceError(f"GRBL rejected {line!r}: {explain_reply(reply)}")
            extra.append(reply)

    def _read_settings(self) -> dict[int, float]:
        out = {}
        for line in self._simple("$$"):
            m = re.fullmatch(r"\$(\d+)=([-+0-9.]+).*", line)
            if m:
                out[int(m.group(1))] = float(m.group(2))
        return out

    def poll_status(self) -> str:
        """Send ``?`` and return the state (``Idle``, ``Run``, ``Hold:0``, ``Alarm``...)."""
        assert self.reader is not None
        self._write(b"?")
        deadline = self.clock.monotonic() + self.timeout
        while self.clock.monotonic() < deadline:
            line = self.reader.read_line(max(0.0, deadline - self.clock.monotonic()))
            if line is None:
                break
            if line.startswith("<"):
                self._parse_status(line)
                return self.state
            self._handle(line)
        raise DeviceError(f"GRBL did not answer a status request within {self.timeout:g} s")

    def _parse_status(self, line: str) -> None:
        fields = line.strip("<>").split("|")
        self.state = fields[0]
        for f in fields[1:]:
            if f.startswith("MPos:"):
                self.mpos = tuple(float(v) for v in f[5:].split(","))

    # -- streaming ---------------------------------------------------------------------------
    def _handle(self, line: str) -> None:
        """One reply line while streaming."""
        if line == "ok" or line.startswith("error:"):
            if not self._inflight:
                if line == "ok":
                    return  # a stray ok (e.g. after a reset): nothing waits for it
                raise DeviceError(f"GRBL sent {line!r} for no line")
            _, sent, tag = self._inflight.popleft()
            if line != "ok":
                raise DeviceError(f"GRBL rejected {sent!r}: {explain_reply(line)}")
            if tag is not None:
                self.on_path_done(*tag)
        elif line.startswith("ALARM:"):
            raise DeviceError(f"GRBL alarm: {explain_reply(line)}")
        elif line.startswith("<"):
            self._parse_status(line)
        elif line.startswith("Grbl "):
            raise DeviceError("GRBL reset itself during the plot (power or USB glitch?)")
        elif line.startswith(("[", "$", ">")):
            pass  # messages, settings echoes, startup lines
        else:
            raise DeviceError(f"unexpected reply from GRBL: {line[:40]!r}")

    def _await_reply(self) -> None:
        """Read until one line has been answered; poll ``?`` to tell busy from dead.

        Status reports from a machine that is running prove it alive; a machine that stays
        ``Idle`` while lines wait for their ``ok`` has lost replies (GRBL empties its receive
        buffer as soon as it is idle), and silence means it is gone: both raise after
        ``timeout`` seconds.
        """
        assert self.reader is not None
        waiting = len(self._inflight)
        quiet_since = self.clock.monotonic()
        last_poll = quiet_since
        while len(self._inflight) == waiting:
            line = self.reader.read_line(0.1)
            now = self.clock.monotonic()
            if line is not None:
                self._handle(line)
                if not (line.startswith("<") and self.state == "Idle"):
                    quiet_since = now
                continue
            if now - quiet_since > self.timeout:
                _, sent, _ = self._inflight[0]
                raise DeviceError(f"no reply from GRBL to {sent!r} within {self.timeout:g} s")
            if now - last_poll >= 0.25:
                self._write(b"?")
                last_poll = now

    def send(self, line: str, tag: tuple[int, int] | None = None) -> None:
        """Queue one line under the character-counting rule."""
        data = (line + "\n").encode("ascii")
        if len(data) >= RX_BUFFER_SIZE:
            raise SketchartError(f"G-code line longer than GRBL's buffer: {line[:40]!r}")
        while (
            self._inflight
            and sum(n for n, _, _ in self._inflight) + len(data) >= RX_BUFFER_SIZE
        ):
            self._await_reply()
        self._write(data)
        self._inflight.append((len(data), line, tag))
        self.max_buffered = max(self.max_buffered, sum(n for n, _, _ in self._inflight))

    def drain(self) -> None:
        """Wait until every line is answered and the machine is idle."""
        while self._inflight:
            self._await_reply()
        while True:
            state = self.poll_status()
            if state == "Idle":
                return
            if state.startswith("Alarm"):
                raise DeviceError("GRBL is in alarm state")
            self.clock.sleep(0.05)

    # -- the plot interface ------------------------------------------------------------------
    def begin(self, start_xy: tuple[float, float] | None = None) -> None:
        """Send the profile's ``document_start`` (units, absolute mode, pen up)."""
        for line in self.program.document_start:
            self.send(line)

    def begin_layer(self, layer_index: int) -> None:
        for line in self.program.layer_start[layer_index]:
            self.send(line)

    def pen_up(self) -> None:
        """Send the profile's pen lift (``sketchart_pen_up``) and wait for it."""
        for line in self.program.pen_up:
            self.send(line)
        self.drain()

    def pen_down(self) -> None:
        """Send the profile's ``sketchart_pen_down`` and wait for it.

        Raises:
            SketchartError: the profile has no ``sketchart_pen_down``.
        """
        if not self.program.pen_down:
            raise SketchartError("the gwrite profile has no sketchart_pen_down lines")
        for line in self.program.pen_down:
            self.send(line)
        self.drain()

    def draw_path(self, layer_index: int, path_index: int) -> None:
        lines = _synced(self.program.paths[layer_index][path_index])
        for i, line in enumerate(lines):
            self.send(line, (layer_index, path_index) if i == len(lines) - 1 else None)

    def end_layer(self, layer_index: int) -> None:
        for line in self.program.layer_end[layer_index]:
            self.send(line)
        self.drain()

    def finish(self) -> None:
        for line in self.program.document_end:
            self.send(line)
        self.drain()

    def stop_safely(self) -> tuple[float, float] | None:
        """Feed hold, soft reset, unlock, pen up. Returns the XY position if known.

        If the port itself failed, it is opened once more (a USB glitch re-enumerates) and
        the same sequence runs there. Never raises: a second Ctrl-C while stopping starts
        the sequence again rather than leave the pen down.
        """
        for attempt in range(3):
            try:
                if attempt > 0:
                    self.close()
                    self._open_port(self.baudrate)
                    self._wait_greeting(2.0)
                self._hold_reset_lift()
                return (self.mpos[0], self.mpos[1]) if self.mpos is not None else None
            except KeyboardInterrupt:
                continue
            except Exception:  # noqa: BLE001 - a lost port raises anything (termios.error)
                continue
        return None

    def park_home(self) -> None:
        """After :meth:`stop_safely`: travel to the origin with the pen up."""
        for line in ("G90", "G0 X0 Y0"):
            self._simple(line)
        self.drain()

    def _hold_reset_lift(self) -> None:
        assert self.reader is not None
        self._write(b"!")
        for _ in range(100):
            state = self.poll_status()
            if state in ("Hold:0", "Idle") or state.startswith("Alarm"):
                break
            self.clock.sleep(0.05)
        self.reader.clear()
        self._write(b"\x18")  # flushes GRBL's buffers; position is kept after a hold
        self._inflight.clear()
        self._wait_greeting(2.0)
        if self.poll_status().startswith("Alarm"):
            self._simple("$X")
        for line in self.program.pen_up:
            self._simple(line)
        self.drain()


def _create(
    document: PlotDocument, options: PlotOptions, list_ports: PortLister | None
) -> GrblDriver:
    if document.bounds() is None:
        raise SketchartError(f"{document.source}: the document is empty (no paths to plot)")
    profile = get_profile(options.profile)
    defaults = check_defaults(options.profile, profile, options.defaults)
    travel = parse_travel(options.device_settings.get("grbl", {}).get("travel"))
    assumed = dict(DRY_RUN_GRBL_SETTINGS)
    if travel is not None:
        assumed[130], assumed[131] = travel
    return GrblDriver(
        render_program(document, profile, defaults, filename=document.source),
        options.port,
        document=document,
        label=f"grbl {options.profile}",
        list_ports=list_ports,
        dry_run_settings=assumed,
    )


def _manual(options: PlotOptions, list_ports: PortLister | None) -> ManualControl:
    from sketchart.plot.drivers.grbl_manual import create_manual

    return create_manual(options, list_ports)


DEVICE = DeviceSpec("grbl", _create, OPTIONS, apply_options, manual=_manual)
