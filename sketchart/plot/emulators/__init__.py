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

from sketchart.plot.emulators.base import FAULT_KINDS, Emulator, VirtualClock, lookup_emulator
from sketchart.plot.emulators.ebb import EBBEmulator
from sketchart.plot.emulators.grbl import GrblEmulator
from sketchart.plot.emulators.pty import PtyBridge

__all__ = [
    "FAULT_KINDS",
    "EBBEmulator",
    "Emulator",
    "GrblEmulator",
    "PtyBridge",
    "VirtualClock",
    "lookup_emulator",
]
