"""An emulated GRBL 1.1 controller driving a pen plotter (servo or Z pen)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sketchart.plot import gcode
from sketchart.plot.emulators.base import Emulator, VirtualClock

__all__ = ["GrblEmulator"]

_GREETING = "\r\nGrbl 1.1h ['$' for help]\r\n"


@dataclass
class _Block:
    start: np.ndarray
    end: np.ndarray
    rate: float  # nominal speed, mm/s
    accel: float
    arrival: float


def _supported(gcodes: list[float], mcodes: list[float], values: dict[str, float]) -> bool:
    """Whether a line uses only the words this emulator knows (GRBL says error:20)."""
    return (
        all(letter in "XYZFSPN" for letter in values)
        and all(g in (0, 1, 4, 17, 20, 21, 90, 91, 94) for g in gcodes)
        and all(m in (2, 3, 4, 5, 30) for m in mcodes)
    )


class GrblEmulator(Emulator):
    """A GRBL 1.1 controller driving a pen plotter (servo on M3 S / M5, or pen on Z).

    Args:
        name: registry name (``sketchartemu://name``).
        clock: a shared virtual clock.
        pen: ``"servo"`` (pen down while the spindle is on with S > 0) or ``"z"`` (pen down
            while Z < ``z_down_below``).
        settings: ``$N`` overrides (e.g. ``{110: 6000.0}``).
        z_down_below: the Z height below which the pen touches the paper (``pen="z"``).
    """

    kind = "grbl"
    RX_BUFFER_SIZE = 128
    PLANNER_BLOCKS = 15

    DEFAULT_SETTINGS: ClassVar[dict[int, float]] = {
        0: 10,
        1: 25,
        2: 0,
        3: 0,
        4: 0,
        5: 0,
        6: 0,
        10: 1,
        11: 0.010,
        12: 0.002,
        13: 0,
        20: 0,
        21: 0,
        22: 0,
        23: 0,
        24: 25.0,
        25: 500.0,
        26: 250,
        27: 1.0,
        30: 1000,
        31: 0,
        32: 0,
        100: 80.0,
        101: 80.0,
        102: 250.0,
        110: 6000.0,
        111: 6000.0,
        112: 1000.0,
        120: 800.0,
        121: 800.0,
        122: 200.0,
        130: 300.0,
        131: 200.0,
        132: 20.0,
    }

    def __init__(
        self,
        name: str | None = None,
        clock: VirtualClock | None = None,
        pen: str = "servo",
        settings: dict[int, float] | None = None,
        z_down_below: float = 1.0,
    ) -> None:
        super().__init__(name, clock)
        if pen not in ("servo", "z"):
            raise ValueError("pen must be 'servo' or 'z'")
        self.pen_mode = pen
        self.z_down_below = z_down_below
        self.settings = dict(self.DEFAULT_SETTINGS)
        self.settings.update(settings or {})
        self.rx = bytearray()
        self.rx_max = 0
        self.state = "Idle"
        self.hold = False
        self.machine = np.zeros(3)  # executed position
        self.parser = np.zeros(3)  # where the parsed program says the tool will be
        self.units_mm = True
        self.absolute = True
        self.motion = 0
        self.feed: float | None = None  # mm/min
        self.spindle_on = False
        self.spindle_s = 0.0
        self.queue: list[_Block] = []
        self.exec_end = 0.0
        self.v_current = 0.0
        self.lines_processed = 0

    # -- pen and trace -----------------------------------------------------------------------
    def _pen_down_now(self) -> bool:
        if self.pen_mode == "servo":
            return self.spindle_on and self.spindle_s > 0
        return bool(self.machine[2] < self.z_down_below)

    def _trace_now(self) -> None:
        x, y = float(self.machine[0]), float(self.machine[1])
        down = self._pen_down_now()
        if self.trace[-1] != (x, y, down):
            self._trace(x, y, down)

    # -- planner -----------------------------------------------------------------------------
    def _machine_limits(self) -> gcode.MachineLimits:
        return gcode.MachineLimits.from_settings(self.settings)

    def _pop_block(self) -> None:
        """Execute the oldest block, planned with look-ahead over the current queue only."""
        limits = self._machine_limits()
        pts = [self.queue[0].start] + [b.end for b in self.queue]
        rates = [b.rate for b in self.queue]
        profiles = gcode.plan_blocks(np.array(pts), np.array(rates), limits, self.v_current)
        block = self.queue.pop(0)
        start = max(self.exec_end, block.arrival)
        self.exec_end = start + profiles[0].duration
        self.v_current = profiles[0].v_exit
        self.machine = block.end.copy()
        self._trace_now()

    def _advance(self) -> None:
        """Execute the blocks the device would have run by now (none while holding)."""
        while self.queue and not self.hold and self.exec_end <= self.clock.now:
            self._pop_block()
        if not self.queue and self.exec_end <= self.clock.now:
            self.v_current = 0.0

    def _sync(self) -> None:
        """Wait (virtual time) until every queued block has executed, as M3/M5/G4 do."""
        while self.queue:
            self._pop_block()
        self.v_current = 0.0
        self.clock.advance_to(self.exec_end)

    # -- bytes in and out --------------------------------------------------------------------
    def _on_connect(self) -> None:
        self.rx.clear()
        self.output += _GREETING.encode()

    def _receive(self, data: bytes) -> None:
        for byte in data:
            if byte == ord("?"):
                self._advance()
                self.output += self._status().encode()
            elif byte == ord("!"):
                self._advance()
                self.hold = True
                self.state = "Hold"
            elif byte == ord("~"):
                self.hold = False
                if self.state == "Hold":
                    self.state = "Idle"
                self._advance()
            elif byte == 0x18:
                self._soft_reset()
            elif byte >= 0x80:
                pass  # override commands: accepted, ignored
            else:
                self.rx.append(byte)
                if len(self.rx) > self.RX_BUFFER_SIZE:
                    self.violations.append(
                        f"receive buffer overflow: {len(self.rx)} > "
                        f"{self.RX_BUFFER_SIZE} bytes"
                    )
                self.rx_max = max(self.rx_max, len(self.rx))

    def _soft_reset(self) -> None:
        self._advance()
        moving = bool(self.queue) or self.exec_end > self.clock.now
        if moving and not self.hold:
            # a reset in motion loses position: GRBL raises ALARM:3; this emulator keeps
            # the block being executed as finished and drops the rest
            self.state = "Alarm"
            self.output += b"ALARM:3\r\n"
        elif self.state != "Alarm":
            self.state = "Idle"
        self.clock.advance_to(self.exec_end)
        self.queue.clear()
        self.v_current = 0.0
        self.hold = False
        self.rx.clear()
        self.spindle_on = False  # reset stops the spindle (a servo returns to its up angle)
        self.parser = self.machine.copy()
        self.motion = 0
        self.absolute = True
        self.units_mm = True
        self._trace_now()
        self.output += _GREETING.encode()
        if self.state == "Alarm":
            self.output += b"[MSG:'$H'|'$X' to unlock]\r\n"

    def _status(self) -> str:
        if self.state in ("Alarm", "Hold"):
            state = self.state
            if state == "Hold":
                state = "Hold:0" if self.exec_end <= self.clock.now else "Hold:1"
        else:
            busy = bool(self.queue) or self.exec_end > self.clock.now
            state = "Run" if busy else "Idle"
        x, y, z = (float(v) for v in self.machine)
        free = self.PLANNER_BLOCKS - len(self.queue)
        return (
            f"<{state}|MPos:{x:.3f},{y:.3f},{z:.3f}|Bf:{free},"
            f"{self.RX_BUFFER_SIZE - len(self.rx)}|FS:0,0>\r\n"
        )

    def _pump(self) -> None:
        """Process received lines until there is something to say (a host is reading)."""
        while not self.output:
            idx = self.rx.find(b"\n")
            if idx < 0:
                return
            raw = bytes(self.rx[:idx]).replace(b"\r", b"")
            del self.rx[: idx + 1]
            self._line(raw.decode("ascii", errors="replace"))

    def _line(self, line: str) -> None:
        self.lines_processed += 1
        action = self._arrived(line)
        if action == "error":
            self._reply("error:9\r\n", None)
            return
        self._reply(self._execute(line), action)

    # -- G-code ------------------------------------------------------------------------------
    def _execute(self, line: str) -> str:
        text = line.strip()
        if text.startswith("$"):
            return self._dollar(text.upper())
        try:
            words = gcode.parse_words(text)
        except ValueError:
            return "error:2\r\n"
        if not words:
            return "ok\r\n"
        if self.state == "Alarm":
            return "error:9\r\n"
        gcodes = [v for k, v in words if k == "G"]
        mcodes = [v for k, v in words if k == "M"]
        values = {k: v for k, v in words if k not in "GM"}
        if not _supported(gcodes, mcodes, values):
            return "error:20\r\n"
        for g in gcodes:
            if g == 20:
                self.units_mm = False
            elif g == 21:
                self.units_mm = True
            elif g == 90:
                self.absolute = True
            elif g == 91:
                self.absolute = False
            elif g in (0, 1):
                self.motion = int(g)
        scale = 1.0 if self.units_mm else 25.4
        if "F" in values:
            self.feed = values["F"] * scale
        if "S" in values:
            self.spindle_s = values["S"]
        if 4 in gcodes:
            if "P" not in values:
                return "error:28\r\n"
            self._sync()
            self.exec_end = self.clock.now + values["P"]
            self.clock.advance_to(self.exec_end)
            return "ok\r\n"
        for m in mcodes:
            self._sync()
            if m in (3, 4):
                self.spindle_on = True
            elif m in (5, 2, 30):
                self.spindle_on = False
            self._trace_now()
        if any(a in values for a in "XYZ"):
            target = self.parser.copy()
            for i, axis in enumerate("XYZ"):
                if axis in values:
                    v = values[axis] * scale
                    target[i] = v if self.absolute else target[i] + v
            if self.motion == 1 and not self.feed:
                return "error:22\r\n"
            self._add_block(target)
        return "ok\r\n"

    def _add_block(self, target: np.ndarray) -> None:
        delta = target - self.parser
        length = float(np.linalg.norm(delta))
        if length < 1e-9:
            return
        limits = self._machine_limits()
        rate = limits.max_rate(delta / length)
        if self.motion == 1 and self.feed:
            rate = min(rate, self.feed / 60.0)
        self._advance()
        if len(self.queue) >= self.PLANNER_BLOCKS:
            # the planner is full: the host's ok waits until the oldest block is done
            self._pop_block()
            self.clock.advance_to(self.exec_end)
            self._advance()
        self.queue.append(
            _Block(
                self.parser.copy(),
                target.copy(),
                rate,
                limits.accel(delta / length),
                self.clock.now,
            )
        )
        self.parser = target

    def _dollar(self, text: str) -> str:
        if text == "$$":
            lines = "".join(
                f"${k}={v:.3f}\r\n"
                if isinstance(v, float) and not float(v).is_integer()
                else f"${k}={int(v) if float(v).is_integer() else v}\r\n"
                for k, v in sorted(self.settings.items())
            )
            return lines + "ok\r\n"
        if text == "$I":
            return "[VER:1.1h.20190825:]\r\n[OPT:V,15,128]\r\nok\r\n"
        if text == "$G":  # the parser's modal state; only units and spindle are modelled
            units = "G21" if self.units_mm else "G20"
            spindle = "M3" if self.spindle_on else "M5"
            return (f"[GC:G0 G54 G17 {units} G90 G94 {spindle} M9 T0 F0 "
                    f"S{self.spindle_s:g}]\r\nok\r\n")
        if text == "$SLP":
            self._sync()
            self.state = "Sleep"
            return "ok\r\n"
        if text == "$X":
            if self.state == "Alarm":
                self.state = "Idle"
            return "[MSG:Caution: Unlocked]\r\nok\r\n"
        if text == "$H":
            self._sync()
            self.machine = np.zeros(3)
            self.parser = np.zeros(3)
            self.state = "Idle"
            self._trace_now()
            return "ok\r\n"
        match = re.fullmatch(r"\$(\d+)=([-+0-9.]+)", text)
        if match:
            self.settings[int(match.group(1))] = float(match.group(2))
            return "ok\r\n"
        return "error:3\r\n"

    @property
    def idle_at(self) -> float:
        """Virtual time at which the last executed block or dwell ended."""
        return self.exec_end
