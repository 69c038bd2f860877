"""The emulators' common parts: registry, virtual clock, links, faults, command log, trace."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Self

import numpy as np
from serial import SerialException

__all__ = ["FAULT_KINDS", "Emulator", "VirtualClock", "lookup_emulator"]

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
