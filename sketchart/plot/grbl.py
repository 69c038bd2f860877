"""GRBL: G-code words, GRBL's planner model and time estimate, and a streaming driver.

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

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from serial import SerialException

from sketchart.errors import SketchartError
from sketchart.plot import motion
from sketchart.plot.profiles import GcodeProgram
from sketchart.plot.serialio import DeviceError, LineReader, clock_for, open_port

__all__ = [
    "GRBL_ERRORS",
    "GrblDriver",
    "MachineLimits",
    "estimate_program",
    "parse_words",
    "plan_blocks",
]

RX_BUFFER_SIZE = 128

#: the GRBL 1.1 error codes a plot is likely to meet
GRBL_ERRORS = {
    1: "G-code word without a letter",
    2: "bad number format",
    3: "invalid $ statement",
    9: "G-code locked out during alarm or jog",
    15: "jog target exceeds travel",
    20: "unsupported or invalid G-code command",
    22: "feed rate undefined",
    24: "two G-code commands that both need XYZ words",
    28: "G-code command missing a value",
    33: "invalid motion target",
}
_ALARMS = {
    1: "hard limit",
    2: "soft limit (target beyond travel)",
    3: "reset while in motion",
    9: "homing failed",
}

_WORD = re.compile(r"([A-Z])([-+]?(?:\d+\.?\d*|\.\d+))")


def parse_words(line: str) -> list[tuple[str, float]]:
    """``"G1 X10 Y2.5 (c)"`` -> ``[("G", 1.0), ("X", 10.0), ("Y", 2.5)]``.

    Raises:
        ValueError: text that is not a sequence of letter-number words.
    """
    text = re.sub(r"\([^)]*\)", "", line)
    text = text.split(";", 1)[0].upper().replace(" ", "").replace("\t", "")
    words = []
    pos = 0
    for match in _WORD.finditer(text):
        if match.start() != pos:
            raise ValueError(f"bad G-code {line!r}")
        words.append((match.group(1), float(match.group(2))))
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"bad G-code {line!r}")
    return words


@dataclass(frozen=True)
class MachineLimits:
    """GRBL's per-axis limits (from ``$110-112``, ``$120-122``, ``$11``, ``$130-132``)."""

    max_rates: tuple[float, float, float]  # mm/s
    accels: tuple[float, float, float]  # mm/s^2
    junction_deviation: float  # mm
    travel: tuple[float, float, float]  # mm

    @classmethod
    def from_settings(cls, settings: dict[int, float]) -> MachineLimits:
        """Build from ``$N=value`` settings (rates in mm/min as GRBL stores them)."""

        def get(key: int, default: float) -> float:
            return float(settings.get(key, default))

        return cls(
            (get(110, 500) / 60, get(111, 500) / 60, get(112, 500) / 60),
            (get(120, 10), get(121, 10), get(122, 10)),
            get(11, 0.01),
            (get(130, 200), get(131, 200), get(132, 200)),
        )

    def _limit(self, per_axis: tuple[float, float, float], unit: np.ndarray) -> float:
        # the block's limit is the one the most loaded axis reaches first
        comps = np.abs(unit)
        return float(min(v / c for v, c in zip(per_axis, comps) if c > 1e-12))

    def max_rate(self, unit: np.ndarray) -> float:
        """Largest speed (mm/s) along ``unit`` with no axis above its ``$11x``."""
        return self._limit(self.max_rates, unit)

    def accel(self, unit: np.ndarray) -> float:
        """Largest acceleration (mm/s^2) along ``unit`` with no axis above its ``$12x``."""
        return self._limit(self.accels, unit)


def plan_blocks(
    points: np.ndarray, rates: np.ndarray, limits: MachineLimits, v_start: float = 0.0
) -> list[motion.Profile]:
    """Profiles of consecutive XYZ blocks, ending at rest, GRBL's way.

    Args:
        points: ``[n + 1, 3]`` block end points, the first being the start.
        rates: ``[n]`` nominal speeds (mm/s): feed or rapid rate, already axis-limited.
        limits: the machine.
        v_start: speed when entering the first block.
    """
    deltas = np.diff(points, axis=0)
    lengths = np.linalg.norm(deltas, axis=1)
    units = deltas / np.maximum(lengths, 1e-12)[:, None]
    accels = np.array([limits.accel(u) for u in units])
    junctions = np.array(
        [
            motion.junction_speed(
                units[i],
                units[i + 1],
                min(accels[i], accels[i + 1]),
                limits.junction_deviation,
                float("inf"),
            )
            for i in range(len(units) - 1)
        ]
    )
    return motion.plan_segments(
        lengths, np.asarray(rates, dtype=float), accels, junctions, v_start=v_start, v_end=0.0
    )


def estimate_program(lines: list[str], limits: MachineLimits) -> float:
    """Seconds GRBL needs for ``lines``, planning each run of moves between sync points.

    ``M3``/``M5``/``G4`` wait for the planner to empty, so moves are planned in groups from
    rest to rest with full look-ahead; dwells add their ``P`` seconds.
    """
    total = 0.0
    pos = np.zeros(3)
    group: list[np.ndarray] = [pos.copy()]
    rates: list[float] = []
    mode, feed, scale, absolute = 0, 0.0, 1.0, True

    def flush() -> float:
        if not rates:
            return 0.0
        t = sum(p.duration for p in plan_blocks(np.array(group), np.array(rates), limits))
        group[:] = [group[-1]]
        rates.clear()
        return t

    for line in lines:
        words = parse_words(line)
        gs = [v for k, v in words if k == "G"]
        ms = [v for k, v in words if k == "M"]
        vals = {k: v for k, v in words if k not in "GM"}
        for g in gs:
            if g in (0, 1):
                mode = int(g)
            elif g == 20:
                scale = 25.4
            elif g == 21:
                scale = 1.0
            elif g == 90:
                absolute = True
            elif g == 91:
                absolute = False
        if "F" in vals:
            feed = vals["F"] * scale
        if 4 in gs:
            total += flush() + vals.get("P", 0.0)
            continue
        if ms:
            total += flush()
        if any(a in vals for a in "XYZ"):
            target = pos.copy()
            for i, axis in enumerate("XYZ"):
                if axis in vals:
                    target[i] = vals[axis] * scale + (0 if absolute else target[i])
            delta = target - pos
            length = float(np.linalg.norm(delta))
            if length > 1e-9:
                rate = limits.max_rate(delta / length)
                if mode == 1 and feed:
                    rate = min(rate, feed / 60)
                group.append(target)
                rates.append(rate)
                pos = target
    return total + flush()


def _is_sync(line: str) -> bool:
    """Whether GRBL acknowledges ``line`` only after the planner has emptied."""
    try:
        words = parse_words(line)
    except ValueError:
        return False
    return any((k == "G" and v == 4) or (k == "M" and v in (3, 4, 5)) for k, v in words)


class GrblDriver:
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
        baudrate: int = 115200,
        timeout: float = 5.0,
        on_path_done: Callable[[int, int], None] | None = None,
        list_ports: Callable[[], list[Any]] | None = None,
    ) -> None:
        self.program = program
        self.port_name = port
        self.baudrate = baudrate
        self.timeout = timeout
        self.on_path_done = on_path_done or (lambda li, pi: None)
        self.list_ports = list_ports
        self.port: Any = None
        self.reader: LineReader | None = None
        self.settings: dict[int, float] = {}
        self.state = "Unknown"
        self.mpos: tuple[float, ...] | None = None
        self._inflight: deque[tuple[int, str, tuple[int, int] | None]] = deque()
        self.max_buffered = 0

    # -- connection --------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the port, wait for the greeting, read ``$$``, unlock an alarm."""
        if not self.port_name:
            from sketchart.plot.serialio import describe_ports, find_ports

            _, ports = find_ports(-1, -1, self.list_ports)
            raise SketchartError(
                f"GRBL needs --port (GRBL boards have no fixed USB id); ports found: "
                f"{describe_ports(ports)}"
            )
        self.port = open_port(
            self.port_name, baudrate=self.baudrate, timeout=0.05, device="GRBL"
        )
        self.clock = clock_for(self.port)
        self.reader = LineReader(self.port, self.clock, "GRBL")
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

    def _check_bounds(self, limits: MachineLimits) -> None:
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
                f"0..{w:g} x 0..{h:g} mm ($130/$131)"
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
                return True
            last = line
        return last

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (OSError, Exception) as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
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
                raise DeviceError(f"GRBL rejected {line!r}: {self._explain(reply)}")
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

    @staticmethod
    def _explain(reply: str) -> str:
        try:
            code = int(reply.split(":", 1)[1])
        except ValueError:
            return reply
        text = GRBL_ERRORS.get(code) if reply.startswith("error") else _ALARMS.get(code)
        return f"{reply} ({text})" if text else reply

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
                raise DeviceError(f"GRBL rejected {sent!r}: {self._explain(line)}")
            if tag is not None:
                self.on_path_done(*tag)
        elif line.startswith("ALARM:"):
            raise DeviceError(f"GRBL alarm: {self._explain(line)}")
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

    def draw_path(self, layer_index: int, path_index: int) -> None:
        lines = list(self.program.paths[layer_index][path_index])
        # the journal needs an ok that means "executed": end on a command that syncs
        if not lines or not _is_sync(lines[-1]):
            lines.append("G4 P0")
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
        the same sequence runs there. Never raises.
        """
        for attempt in range(2):
            try:
                if attempt == 1:
                    self.close()
                    self.port = open_port(
                        self.port_name or "",
                        baudrate=self.baudrate,
                        timeout=0.05,
                        device="GRBL",
                    )
                    self.reader = LineReader(self.port, self.clock, "GRBL")
                    self._wait_greeting(2.0)
                self._hold_reset_lift()
                return (self.mpos[0], self.mpos[1]) if self.mpos is not None else None
            except (DeviceError, SketchartError):
                continue
        return None

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

    def close(self) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except (OSError, SerialException):
                pass  # a vanished port may fail to close; nothing is left to do
            self.port = None
