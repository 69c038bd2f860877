"""An emulated EiBotBoard (AxiDraw) in legacy reply mode."""

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
