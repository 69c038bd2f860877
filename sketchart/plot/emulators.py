"""EiBotBoard (AxiDraw) and GRBL emulators, reachable by pyserial as ``sketchartemu://NAME``.

No hardware is needed to test the drivers. An emulator registers itself under a name; the
URL handler (:mod:`sketchart.plot.urlhandlers.protocol_sketchartemu`) connects a pyserial
port to it, in the caller's thread. Each emulator:

* answers in the device's own reply formats (the EBB's ``1\\n\\rOK\\r\\n`` line endings,
  ``!N Err:`` errors, ``V`` without ``OK``; GRBL's greeting, ``ok``/``error:N``,
  ``ALARM:N``, ``<Idle|MPos:...>`` status reports),
* keeps the device's queue limits (EBB: one move executing and one in the FIFO, the parser
  blocking on the third; GRBL: a 128-byte receive buffer and 15 planner blocks),
* checks the limits a driver must respect (EBB: 25,000 steps/s per motor; GRBL: receive
  buffer overflow) and lists every breach in :attr:`Emulator.violations`,
* runs on a :class:`VirtualClock`: moves take virtual time, a host that waits advances it,
* integrates the motion into an XY trace with the pen state (:meth:`Emulator.pen_down_paths`).

Faults can be injected at the N-th command received (:meth:`Emulator.inject`): the device
vanishes (the port raises; a new connection reaches the same device, like a USB glitch),
replies with an error, swallows its reply (the host times out), sends garbage, or the user
presses Ctrl-C (``KeyboardInterrupt`` raised from the write).
"""

from __future__ import annotations

import itertools
import os
import re
import select
import threading
import time
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
from serial import SerialException

from sketchart.plot import grbl as grbl_mod

__all__ = [
    "FAULT_KINDS",
    "EBBEmulator",
    "Emulator",
    "GrblEmulator",
    "PtyBridge",
    "VirtualClock",
    "lookup_emulator",
]

FAULT_KINDS = ("vanish", "error", "timeout", "garbage", "interrupt")

_REGISTRY: dict[str, Emulator] = {}
_COUNTER = itertools.count(1)


def lookup_emulator(name: str) -> Emulator | None:
    """The live emulator registered as ``name`` (``sketchartemu://name``), if any."""
    return _REGISTRY.get(name)


class VirtualClock:
    """Time that passes only when someone waits: moves, host sleeps, read timeouts."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.now += seconds

    def advance_to(self, t: float) -> None:
        """Move time forward to ``t`` (never backwards)."""
        self.now = max(self.now, t)


@dataclass
class _Fault:
    kind: str
    at: int


class _Link:
    """One open connection to an emulator; dead once the device 'vanished' under it."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.dead = False
        self.closed = False

    def _check(self) -> None:
        if self.dead:
            raise SerialException("device disconnected (the emulated USB link dropped)")

    def write(self, data: bytes) -> None:
        self._check()
        self.emulator._receive(data)

    def read(self, size: int) -> bytes:
        self._check()
        out = self.emulator.output
        data = bytes(out[:size])
        del out[:size]
        return data

    def pump(self) -> None:
        self._check()
        self.emulator._pump()

    def in_waiting(self) -> int:
        self._check()
        return len(self.emulator.output)

    def clear_output(self) -> None:
        self._check()
        self.emulator.output.clear()

    def close(self) -> None:
        self.closed = True
        if self.emulator.link is self:
            self.emulator.link = None


class Emulator:
    """Common parts: registry, connection, fault injection, command log and XY trace."""

    kind = "device"

    def __init__(self, name: str | None = None, clock: VirtualClock | None = None) -> None:
        self.name = name or f"{self.kind}{next(_COUNTER)}"
        if self.name in _REGISTRY:
            raise ValueError(f"an emulator named {self.name!r} already exists")
        _REGISTRY[self.name] = self
        self.url = f"sketchartemu://{self.name}"
        self.clock = clock or VirtualClock()
        self.output = bytearray()
        self.link: _Link | None = None
        self.log: list[str] = []
        self.violations: list[str] = []
        self.connections = 0
        self.commands_seen = 0
        self._fault: _Fault | None = None
        self._action: str | None = None
        # trace: (x, y, pen_down) after every executed position or pen change, in order
        self.trace: list[tuple[float, float, bool]] = [(0.0, 0.0, False)]

    # -- lifecycle ---------------------------------------------------------------------------
    def connect(self) -> _Link:
        """A new connection; the previous one (if any) is cut, as a re-plug would."""
        if self.link is not None:
            self.link.dead = True
        self.link = _Link(self)
        self.connections += 1
        self.output.clear()
        self._on_connect()
        return self.link

    def close(self) -> None:
        """Unregister (the URL stops working)."""
        _REGISTRY.pop(self.name, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_connect(self) -> None:
        pass

    def _pump(self) -> None:
        pass

    def _receive(self, data: bytes) -> None:
        raise NotImplementedError

    # -- faults ------------------------------------------------------------------------------
    def inject(self, kind: str, at: int) -> None:
        """Make the ``at``-th command received from now on (1-based) fail as ``kind``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose from {', '.join(FAULT_KINDS)}")
        self._fault = _Fault(kind, self.commands_seen + at)

    def _arrived(self, line: str) -> str | None:
        """Count a command, fire a due fault; returns the reply action for this command."""
        self.commands_seen += 1
        self.log.append(line)
        fault = self._fault
        if fault is None or self.commands_seen != fault.at:
            return None
        self._fault = None
        if fault.kind == "vanish":
            if self.link is not None:
                self.link.dead = True
            raise SerialException("device disconnected (the emulated USB link dropped)")
        if fault.kind == "interrupt":
            raise KeyboardInterrupt
        return fault.kind

    def _reply(self, text: str, action: str | None) -> None:
        if action == "timeout":
            return  # the reply is lost: the host waits in vain
        if action == "garbage":
            self.output += b"\xfe\x00\x13\x88garbage\r\n"
        self.output += text.encode("ascii")

    # -- trace -------------------------------------------------------------------------------
    @property
    def position(self) -> tuple[float, float]:
        """Last traced XY position in mm."""
        x, y, _ = self.trace[-1]
        return x, y

    @property
    def pen_is_down(self) -> bool:
        """Pen state after everything accepted so far has executed."""
        return self.trace[-1][2]

    def _trace(self, x: float, y: float, down: bool) -> None:
        self.trace.append((x, y, down))

    def pen_down_paths(self, since: int = 0) -> list[np.ndarray]:
        """The polylines drawn with the pen down, in order, each ``[k, 2]`` in mm.

        Args:
            since: start at this index of :attr:`trace` (e.g. its length before a resume).
        """
        paths: list[np.ndarray] = []
        current: list[tuple[float, float]] | None = None
        for x, y, down in self.trace[since:]:
            if down:
                if current is None:
                    current = [(x, y)]
                elif (x, y) != current[-1]:
                    current.append((x, y))
            elif current is not None:
                paths.append(np.array(current))
                current = None
        if current is not None:
            paths.append(np.array(current))
        return paths

    def pen_transitions(self) -> list[str]:
        """``"down"``/``"up"`` for every change of pen state, in order."""
        out = []
        previous = self.trace[0][2]
        for _, _, down in self.trace[1:]:
            if down != previous:
                out.append("down" if down else "up")
                previous = down
        return out


# ---------------------------------------------------------------------------------------------
# EiBotBoard
# ---------------------------------------------------------------------------------------------


class EBBEmulator(Emulator):
    """An EiBotBoard in legacy reply mode, as on an AxiDraw (CoreXY-like: m1 = x+y, m2 = x-y).

    Args:
        name: registry name (``sketchartemu://name``); generated when omitted.
        clock: a shared virtual clock.
        full_steps_per_mm: motor full steps per mm of the native axes (5 on an AxiDraw, so
            80 steps/mm at 1/16 microstepping: 2032 steps/in).
        version: the firmware version string ``V`` answers.
    """

    kind = "ebb"
    MAX_RATE = 25_000  # steps/s per motor (the 25 kHz stepper ISR)
    _MICROSTEPS: ClassVar[dict[int, int]] = {1: 16, 2: 8, 3: 4, 4: 2, 5: 1}

    def __init__(
        self,
        name: str | None = None,
        clock: VirtualClock | None = None,
        full_steps_per_mm: float = 5.0,
        version: str = "EBBv13_and_above EB Firmware Version 2.8.1",
    ) -> None:
        super().__init__(name, clock)
        self.version = version
        self.full_steps_per_mm = full_steps_per_mm
        self.microsteps = 16
        self.motors_on = False
        self.pen_up = True
        self.servo = {4: 12000, 5: 16000}
        self.m1 = 0  # physical step positions (CS moves the counters' zero, not the pen)
        self.m2 = 0
        self._counter_zero = (0, 0)
        self._ends: list[float] = []  # end times of the executing move and the FIFO's
        self.busy_until = 0.0
        self.max_rate = 0.0
        self._inbuf = bytearray()

    # -- helpers -----------------------------------------------------------------------------
    @property
    def steps_per_mm(self) -> float:
        return self.full_steps_per_mm * self.microsteps

    def _xy(self) -> tuple[float, float]:
        spm = self.steps_per_mm
        return (self.m1 + self.m2) / (2 * spm), (self.m1 - self.m2) / (2 * spm)

    def _retire(self) -> None:
        now = self.clock.now
        self._ends = [t for t in self._ends if t > now]

    def _enqueue(self, duration_s: float) -> None:
        """Accept a motion-FIFO command; blocks (virtual time) while the FIFO is full."""
        self._retire()
        if len(self._ends) >= 2:  # one executing, one waiting: the parser stalls
            self.clock.advance_to(self._ends[0])
            self._retire()
        start = max(self.clock.now, self._ends[-1] if self._ends else self.clock.now)
        end = start + duration_s
        self._ends.append(end)
        self.busy_until = max(self.busy_until, end)

    @property
    def idle_at(self) -> float:
        """Virtual time at which everything accepted so far has executed."""
        return self.busy_until

    # -- protocol ----------------------------------------------------------------------------
    def _receive(self, data: bytes) -> None:
        self._inbuf += data
        while True:
            idx = self._inbuf.find(b"\r")
            if idx < 0:
                return
            raw = bytes(self._inbuf[:idx]).replace(b"\n", b"")
            del self._inbuf[: idx + 1]
            if raw:
                self._handle(raw.decode("ascii", errors="replace"))

    def _handle(self, line: str) -> None:
        action = self._arrived(line)
        parts = line.strip().split(",")
        name = parts[0].upper()
        if action == "error":
            self._reply(f"!6 Err: {name} rejected (injected fault)\r\nOK\r\n", None)
            return
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            self._reply(f"!8 Err: Unknown command '{name}:'\r\nOK\r\n", action)
            return
        try:
            args = [int(p) for p in parts[1:]]
        except ValueError:
            self._reply(f"!6 Err: Invalid parameter value in '{line}'\r\nOK\r\n", action)
            return
        self._reply(handler(args), action)

    def _cmd_V(self, args: list[int]) -> str:
        return self.version + "\r\n"  # no OK after V

    def _cmd_R(self, args: list[int]) -> str:
        return "OK\r\n"

    def _cmd_EM(self, args: list[int]) -> str:
        if not args:
            return "!4 Err: Missing parameter(s)\r\nOK\r\n"
        mode = args[0]
        if mode == 0:
            self.motors_on = False
        elif mode in self._MICROSTEPS:
            self.microsteps = self._MICROSTEPS[mode]
            self.motors_on = True
        else:
            return f"!6 Err: Invalid EM mode {mode}\r\nOK\r\n"
        self._enqueue(0.0)
        return "OK\r\n"

    def _cmd_SC(self, args: list[int]) -> str:
        if len(args) < 2:
            return "!4 Err: Missing parameter(s)\r\nOK\r\n"
        self.servo[args[0]] = args[1]
        return "OK\r\n"

    def _cmd_SP(self, args: list[int]) -> str:
        if not args:
            return "!4 Err: Missing parameter(s)\r\nOK\r\n"
        delay_ms = args[1] if len(args) > 1 else 0
        self._enqueue(delay_ms / 1000.0)
        self.pen_up = args[0] == 1
        x, y = self._xy()
        self._trace(x, y, not self.pen_up)
        return "OK\r\n"

    def _move(self, duration_ms: int, s1: int, s2: int) -> str:
        if duration_ms < 1 and (s1 or s2):
            return "!6 Err: move duration must be at least 1 ms\r\nOK\r\n"
        for axis, steps in ((1, s1), (2, s2)):
            rate = abs(steps) * 1000.0 / max(duration_ms, 1)
            self.max_rate = max(self.max_rate, rate)
            if rate > self.MAX_RATE:
                self.violations.append(
                    f"step rate {rate:.0f} steps/s > 25K on motor {axis}: {self.log[-1]}"
                )
                return f"!0 Err: <axis{axis}> step rate > 25K steps/second.\r\nOK\r\n"
        self._enqueue(duration_ms / 1000.0)
        self.m1 += s1
        self.m2 += s2
        if s1 or s2:
            if not self.motors_on:
                self.motors_on = True  # the EBB enables the drivers for a move
            x, y = self._xy()
            self._trace(x, y, not self.pen_up)
        return "OK\r\n"

    def _cmd_SM(self, args: list[int]) -> str:
        if len(args) < 2:
            return "!4 Err: Missing parameter(s)\r\nOK\r\n"
        return self._move(args[0], args[1], args[2] if len(args) > 2 else 0)

    def _cmd_XM(self, args: list[int]) -> str:
        if len(args) < 3:
            return "!4 Err: Missing parameter(s)\r\nOK\r\n"
        a, b = args[1], args[2]
        return self._move(args[0], a + b, a - b)

    def _cmd_QM(self, args: list[int]) -> str:
        self._retire()
        busy = 1 if self._ends else 0
        fifo = 1 if len(self._ends) > 1 else 0
        return f"QM,{busy},{busy},{busy},{fifo}\n\r"  # no OK after QM

    def _cmd_QS(self, args: list[int]) -> str:
        z1, z2 = self._counter_zero
        return f"{self.m1 - z1},{self.m2 - z2}\n\rOK\r\n"

    def _cmd_CS(self, args: list[int]) -> str:
        self._counter_zero = (self.m1, self.m2)
        return "OK\r\n"

    def _cmd_QP(self, args: list[int]) -> str:
        return f"{1 if self.pen_up else 0}\n\rOK\r\n"


# ---------------------------------------------------------------------------------------------
# GRBL
# ---------------------------------------------------------------------------------------------

_GREETING = "\r\nGrbl 1.1h ['$' for help]\r\n"


@dataclass
class _Block:
    start: np.ndarray
    end: np.ndarray
    rate: float  # nominal speed, mm/s
    accel: float
    arrival: float


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
    def _machine_limits(self) -> grbl_mod.MachineLimits:
        return grbl_mod.MachineLimits.from_settings(self.settings)

    def _pop_block(self) -> None:
        """Execute the oldest block, planned with look-ahead over the current queue only."""
        limits = self._machine_limits()
        pts = [self.queue[0].start] + [b.end for b in self.queue]
        rates = [b.rate for b in self.queue]
        profiles = grbl_mod.plan_blocks(np.array(pts), np.array(rates), limits, self.v_current)
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
            words = grbl_mod.parse_words(text)
        except ValueError:
            return "error:2\r\n"
        if not words:
            return "ok\r\n"
        if self.state == "Alarm":
            return "error:9\r\n"
        gcodes = [v for k, v in words if k == "G"]
        mcodes = [v for k, v in words if k == "M"]
        values = {k: v for k, v in words if k not in "GM"}
        for letter in values:
            if letter not in "XYZFSPN":
                return "error:20\r\n"
        for g in gcodes:
            if g not in (0, 1, 4, 17, 20, 21, 90, 91, 94):
                return "error:20\r\n"
        for m in mcodes:
            if m not in (2, 3, 4, 5, 30):
                return "error:20\r\n"
        scale = 1.0
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


class PtyBridge:
    """Serve an emulator on a pseudo-terminal, so pyserial opens it as a real serial device.

    A thread copies bytes between the pty's master side and the emulator. The emulator's
    clock then follows the wall clock (plus the jumps it makes when a host is blocked), so
    drivers use real time and real port timeouts, as with hardware. Use as a context
    manager; it yields the device path (``/dev/pts/N``). Faults are not meant for this mode.
    """

    def __init__(self, emulator: Emulator, greeting_delay: float = 0.3) -> None:
        import tty

        self.emulator = emulator
        # pyserial flushes the input when it opens a port; a board that greets on open
        # (GRBL on an Arduino resets on DTR) answers a little later, so hold it back
        self.greeting_delay = greeting_delay
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> str:
        self.emulator.connect()
        self._thread.start()
        return self.path

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self._master)
        os.close(self._slave)

    def _serve(self) -> None:
        emu = self.emulator
        greeting = bytes(emu.output)
        emu.output.clear()
        last = time.monotonic()
        greet_at = last + self.greeting_delay
        while not self._stop.is_set():
            if greeting and time.monotonic() >= greet_at:
                emu.output[:0] = greeting
                greeting = b""
            ready, _, _ = select.select([self._master], [], [], 0.01)
            now = time.monotonic()
            emu.clock.sleep(now - last)  # virtual time moves on with the wall clock
            last = now
            if ready:
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    data = b""
                if data:
                    emu._receive(data)
            if not emu.output:
                emu._pump()
            if emu.output:
                out = bytes(emu.output)
                emu.output.clear()
                os.write(self._master, out)
