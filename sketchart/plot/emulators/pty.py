"""An emulator served on a pseudo-terminal, for tests of the real-serial code path."""

from __future__ import annotations

import os
import select
import threading
import time

from sketchart.plot.emulators.base import Emulator

__all__ = ["PtyBridge"]


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
