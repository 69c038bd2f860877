"""Serial plumbing shared by the drivers: opening ports, discovery, clocks, line reading.

A port is a device path (``/dev/ttyACM0``, ``COM3``) or any pyserial URL. The project's
emulators answer the URL ``sketchartemu://NAME`` (see :mod:`sketchart.plot.emulators`); the
handler package is registered with pyserial when this module is imported, so the CLI and the
vpype command can be pointed at an emulator exactly as at a real port.

Time goes through a :class:`Clock`. A real port uses wall time; an emulator's port carries a
``sketchart_clock`` attribute (a virtual clock) so that waits cost no real time in tests.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import serial
import serial.tools.list_ports

from sketchart.errors import SketchartError

__all__ = [
    "PORT_ERRORS",
    "Clock",
    "DeviceError",
    "LineReader",
    "RealClock",
    "clock_for",
    "describe_ports",
    "find_ports",
    "open_port",
]

_HANDLERS = "sketchart.plot.urlhandlers"
if _HANDLERS not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append(_HANDLERS)


def _port_errors() -> tuple[type[BaseException], ...]:
    # a vanished USB port fails termios calls (reset_input_buffer) with termios.error,
    # which is no OSError; Windows has no termios
    try:
        import termios
    except ImportError:
        return (serial.SerialException, OSError)
    return (serial.SerialException, OSError, termios.error)


#: what a failing port raises
PORT_ERRORS = _port_errors()


class DeviceError(SketchartError):
    """The plotter misbehaved or vanished: a bad reply, a timeout, a lost port."""


class Clock(Protocol):
    """What the drivers need of time."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    """Wall-clock time."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def clock_for(port: Any) -> Clock:
    """The port's virtual clock when it has one (an emulator), else wall time."""
    return getattr(port, "sketchart_clock", None) or RealClock()


def open_port(port: str, *, baudrate: int, timeout: float, device: str) -> serial.SerialBase:
    """Open ``port`` (a path or a pyserial URL), mapping failures to one-line errors.

    Raises:
        SketchartError: permission denied (with the usual fix), or the port cannot be opened.
    """
    try:
        return serial.serial_for_url(port, baudrate=baudrate, timeout=timeout, write_timeout=5)
    except serial.SerialException as exc:
        text = str(exc)
        if getattr(exc, "errno", None) == errno.EACCES or "Permission denied" in text:
            raise SketchartError(
                f"permission denied on {port}: add your user to the serial group "
                "('dialout' on Debian/Ubuntu, 'uucp' on Arch) and log in again"
            ) from exc
        raise SketchartError(f"cannot open the {device} port {port}: {text}") from exc
    except ValueError as exc:  # pyserial: unknown URL scheme or bad parameter
        raise SketchartError(f"cannot open the {device} port {port}: {exc}") from exc


def describe_ports(ports: Iterable[Any]) -> str:
    """``"/dev/ttyS0 (n/a), /dev/ttyACM0 (USB VID:PID=2341:0043 ...)"`` or ``"none"``."""
    parts = [f"{p.device} ({p.hwid})" for p in ports]
    return ", ".join(parts) if parts else "none"


def find_ports(
    vid: int, pid: int, list_ports: Callable[[], list[Any]] | None = None
) -> tuple[list[str], list[Any]]:
    """Ports whose USB VID:PID match, and every port seen (for the error message)."""
    lister = list_ports or serial.tools.list_ports.comports
    ports = list(lister())
    found = [p.device for p in ports if p.vid == vid and p.pid == pid]
    return found, ports


class LineReader:
    """Reads reply lines from a port, splitting on ``\\r`` or ``\\n`` and skipping empties.

    The EBB ends some replies with ``\\n\\r`` and others with ``\\r\\n``; splitting on either
    byte and dropping empty lines makes both read as plain lines.
    """

    def __init__(self, port: Any, clock: Clock, device: str) -> None:
        self.port = port
        self.clock = clock
        self.device = device
        self._buffer = bytearray()

    def clear(self) -> None:
        """Forget buffered bytes and anything waiting in the port."""
        self._buffer.clear()
        try:
            self.port.reset_input_buffer()
        except PORT_ERRORS:
            pass

    def _read_some(self) -> bytes:
        try:
            waiting = self.port.in_waiting
            return self.port.read(waiting or 1)
        except PORT_ERRORS as exc:
            raise DeviceError(f"the {self.device} stopped responding: {exc}") from exc

    def _pop_line(self) -> str | None:
        """The first complete non-empty line in the buffer, if any."""
        while True:
            cut = [i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\n")) if i >= 0]
            if not cut:
                return None
            i = min(cut)
            raw = bytes(self._buffer[:i])
            del self._buffer[: i + 1]
            if not raw:
                continue  # the second byte of a CR LF / LF CR pair
            try:
                text = raw.decode("ascii")
            except UnicodeDecodeError:
                text = ""
            if not text or not text.isprintable():
                raise DeviceError(f"garbage from the {self.device}: {raw[:40]!r}")
            return text

    def read_line(self, timeout: float) -> str | None:
        """The next non-empty line, or ``None`` after ``timeout`` seconds without one.

        Bytes that arrive are always read to the end before the deadline is checked: a
        device that blocked the host (an emulator's virtual time jumps inside a read) must
        not have its answer counted as late.

        Raises:
            DeviceError: the port failed, or the bytes are not ASCII (garbage on the line).
        """
        deadline = self.clock.monotonic() + timeout
        got_data = True
        while True:
            line = self._pop_line()
            if line is not None:
                return line
            if not got_data and self.clock.monotonic() >= deadline:
                return None
            chunk = self._read_some()
            got_data = bool(chunk)
            self._buffer.extend(chunk)
