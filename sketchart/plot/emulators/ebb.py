"""An emulated EiBotBoard (AxiDraw): firmware 2.x (legacy replies) or 3.x, with the pause
button, servo settings it reports, and ``HM``."""

from __future__ import annotations

from typing import ClassVar

from sketchart.plot.emulators.base import Emulator, VirtualClock

__all__ = ["EBBEmulator"]


class EBBEmulator(Emulator):
    """An EiBotBoard in legacy reply mode, as on an AxiDraw (CoreXY-like: m1 = x+y, m2 = x-y).

    Args:
        name: registry name (``sketchartemu://name``); generated when omitted.
        clock: a shared virtual clock.
        full_steps_per_mm: motor full steps per mm of the native axes (5 on an AxiDraw, so
            80 steps/mm at 1/16 microstepping: 2032 steps/in).
        version: the firmware version string ``V`` answers; a 3.x version also switches
            the error lines to 3.x's (no ``OK`` after them).

    Attributes:
        servo: the ``SC`` settings received, by parameter (4: pen-up, 5: pen-down).
        pen_down_positions: the servo pulse (83.3 ns units) of every pen lowering, with
            the pin: ``(pin, position)`` (pin 1 for ``SP``, the ``S2`` pin otherwise).
        button_presses: how many presses of the pause button ``QB`` reported.
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
        self.pen_down_positions: list[tuple[int, int]] = []
        self.button_presses = 0
        self._button = False
        self._press_at: int | None = None

    @property
    def major(self) -> int:
        """The emulated firmware's major version."""
        text = self.version.split("Version")[-1].strip()
        return int(text.split(".")[0]) if text[:1].isdigit() else 0

    def _error(self, text: str) -> str:
        # 2.x follows an error line with OK; 3.x sends the error line alone
        return f"{text}\r\n" if self.major >= 3 else f"{text}\r\nOK\r\n"

    # -- the pause button --------------------------------------------------------------------
    def press_button(self, at: int | None = None) -> None:
        """Press the PRG/pause button now, or when the ``at``-th command from now arrives."""
        if at is None:
            self._button = True
        else:
            self._press_at = self.commands_seen + at

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
        if self._press_at is not None and self.commands_seen >= self._press_at:
            self._press_at, self._button = None, True
        parts = line.strip().split(",")
        name = parts[0].upper()
        if action == "error":
            self._reply(self._error(f"!6 Err: {name} rejected (injected fault)"), None)
            return
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            self._reply(self._error(f"!8 Err: Unknown command '{name}:'"), action)
            return
        try:
            args = [int(p) for p in parts[1:]]
        except ValueError:
            self._reply(self._error(f"!6 Err: Invalid parameter value in '{line}'"), action)
            return
        self._reply(handler(args), action)

    def _cmd_V(self, args: list[int]) -> str:
        return self.version + "\r\n"  # no OK after V

    def _cmd_R(self, args: list[int]) -> str:
        return "OK\r\n"

    def _cmd_EM(self, args: list[int]) -> str:
        if not args:
            return self._error("!4 Err: Missing parameter(s)")
        mode = args[0]
        if mode == 0:
            self.motors_on = False
        elif mode in self._MICROSTEPS:
            self.microsteps = self._MICROSTEPS[mode]
            self.motors_on = True
        else:
            return self._error(f"!6 Err: Invalid EM mode {mode}")
        self._enqueue(0.0)
        return "OK\r\n"

    def _cmd_SC(self, args: list[int]) -> str:
        if len(args) < 2:
            return self._error("!4 Err: Missing parameter(s)")
        self.servo[args[0]] = args[1]
        return "OK\r\n"

    def _cmd_SP(self, args: list[int]) -> str:
        if not args:
            return self._error("!4 Err: Missing parameter(s)")
        delay_ms = args[1] if len(args) > 1 else 0
        self._enqueue(delay_ms / 1000.0)
        self.pen_up = args[0] == 1
        if not self.pen_up:
            self.pen_down_positions.append((1, self.servo.get(5, 16000)))
        x, y = self._xy()
        self._trace(x, y, not self.pen_up)
        return "OK\r\n"

    def _move(self, duration_ms: int, s1: int, s2: int) -> str:
        if duration_ms < 1 and (s1 or s2):
            return self._error("!6 Err: move duration must be at least 1 ms")
        for axis, steps in ((1, s1), (2, s2)):
            rate = abs(steps) * 1000.0 / max(duration_ms, 1)
            self.max_rate = max(self.max_rate, rate)
            if rate > self.MAX_RATE:
                self.violations.append(
                    f"step rate {rate:.0f} steps/s > 25K on motor {axis}: {self.log[-1]}"
                )
                return self._error(f"!0 Err: <axis{axis}> step rate > 25K steps/second.")
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
            return self._error("!4 Err: Missing parameter(s)")
        return self._move(args[0], args[1], args[2] if len(args) > 2 else 0)

    def _cmd_XM(self, args: list[int]) -> str:
        if len(args) < 3:
            return self._error("!4 Err: Missing parameter(s)")
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

    def _cmd_S2(self, args: list[int]) -> str:
        # S2,position,pin[,rate[,delay]]: a servo pulse on any pin; the brushless pen-lift
        # is on pin B2, where a position below the middle of its range means pen down
        if len(args) < 2:
            return self._error("!4 Err: Missing parameter(s)")
        delay_ms = args[3] if len(args) > 3 else 0
        self._enqueue(delay_ms / 1000.0)
        if args[1] == 2 and args[0] > 0:
            self.pen_up = args[0] >= (5400 + 12600) / 2
            if not self.pen_up:
                self.pen_down_positions.append((2, args[0]))
            x, y = self._xy()
            self._trace(x, y, not self.pen_up)
        return "OK\r\n"

    def _cmd_QB(self, args: list[int]) -> str:
        pressed, self._button = self._button, False
        self.button_presses += int(pressed)
        return f"{int(pressed)}\r\nOK\r\n"

    def _cmd_HM(self, args: list[int]) -> str:
        # HM,rate[,pos1,pos2]: home (or go to an absolute step position) at ``rate`` steps/s
        if not args or args[0] < 2 or args[0] > self.MAX_RATE:
            return self._error("!6 Err: HM step rate out of range")
        z1, z2 = self._counter_zero  # home is where the step counters were cleared
        target = (z1 + args[1], z2 + args[2]) if len(args) >= 3 else (z1, z2)
        d1, d2 = target[0] - self.m1, target[1] - self.m2
        duration_ms = max(1, round(max(abs(d1), abs(d2)) * 1000.0 / args[0]))
        self._retire()
        if self._ends:  # HM waits for the queue to empty before it starts
            self.clock.advance_to(self._ends[-1])
        return self._move(duration_ms, d1, d2)
