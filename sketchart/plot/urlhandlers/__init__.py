"""pyserial URL handlers (``serial.protocol_handler_packages``) for the project's emulators."""

from __future__ import annotations

__all__: list[str] = []
