"""pyserial handler for ``sketchartemu://NAME``: a port wired to an in-process emulator.

The emulator named ``NAME`` must exist (see :mod:`sketchart.plot.emulators`). Everything runs
in the caller's thread: a write hands bytes to the emulator, a read takes its replies. When a
read finds nothing, the emulator gets a chance to make progress, and if there is still
nothing the port's timeout passes on the emulator's virtual clock instead of the wall clock.
"""

from __future__ import annotations

from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException, to_bytes

__all__ = ["Serial"]


class Serial(SerialBase):
    """A pyserial port whose other end is a :class:`~sketchart.plot.emulators.Emulator`."""

    is_open: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._link: Any = None
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        from sketchart.plot.emulators import lookup_emulator

        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        url = str(self._port)
        name = url.split("://", 1)[1].strip("/")
        emulator = lookup_emulator(name)
        if emulator is None:
            raise SerialException(f"could not open port {url}: no emulator named {name!r}")
        self._link = emulator.connect()
        self.is_open = True

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None
        self.is_open = False

    def _reconfigure_port(self) -> None:  # nothing to configure on an emulator
        pass

    @property
    def sketchart_clock(self) -> Any:
        """The emulator's virtual clock (the drivers wait on it instead of sleeping)."""
        if self._link is None:
            return None
        return self._link.emulator.clock

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        return self._link.in_waiting()

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        data = self._link.read(size)
        if not data:
            self._link.pump()
            data = self._link.read(size)
        if not data and self._timeout:
            self._link.emulator.clock.sleep(self._timeout)
            data = self._link.read(size)
        return data

    def write(self, data: Any) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        payload = to_bytes(data)
        self._link.write(payload)
        return len(payload)

    def reset_input_buffer(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()
        self._link.clear_output()

    def reset_output_buffer(self) -> None:
        pass

    def flush(self) -> None:
        pass
