"""A training run's progress on stderr, and Ctrl-C turned into a clean stop."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from typing import Any

from sketchart.util.durations import format_clock

__all__ = ["GracefulInterrupt", "Progress"]


class Progress:
    """Progress on stderr: redrawn in place on a terminal, a line every 20 steps otherwise.

    Shows the step, a bar, steps/s (smoothed), ETA and the current losses.
    """

    def __init__(self, total: int, start: int, enabled: bool, width: int = 24) -> None:
        self.total, self.start, self.enabled, self.width = total, start, enabled, width
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.last_draw = 0.0
        self.rate: float | None = None
        self.prev_t, self.prev_step = self.t0, start
        self.drawn = False

    def update(self, step: int, losses: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        dt = now - self.prev_t
        if dt > 0.5 or step == self.total:
            inst = (step - self.prev_step) / max(dt, 1e-9)
            self.rate = inst if self.rate is None else 0.7 * self.rate + 0.3 * inst
            self.prev_t, self.prev_step = now, step
        if self.tty:
            if now - self.last_draw < 0.2 and step != self.total:
                return
        elif step % 20 and step != self.total:
            return
        self.last_draw = now
        frac = step / max(self.total, 1)
        filled = int(frac * self.width)
        rate = self.rate or (step - self.start) / max(now - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        eta_text = format_clock(eta) if math.isfinite(eta) else "?"
        text = (f"step {step}/{self.total} [{'#' * filled}{'-' * (self.width - filled)}] "
                f"{rate:.2f} step/s ETA {eta_text} cost {losses['cost']:.4f} "
                f"r {losses['r_cost']:.4f} kl {losses['kl_cost']:.4f}")
        if self.tty:
            print("\r" + text + "\033[K", end="", file=sys.stderr, flush=True)
            self.drawn = True
        else:
            print(text, file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        """A line of its own (an evaluation result) above the bar."""
        if not self.enabled:
            return
        prefix = "\r\033[K" if self.tty and self.drawn else ""
        print(prefix + text, file=sys.stderr, flush=True)
        self.drawn = False

    def close(self) -> None:
        if self.enabled and self.tty and self.drawn:
            print(file=sys.stderr, flush=True)
        self.drawn = False


class GracefulInterrupt:
    """The first Ctrl-C asks the loop to stop after the update in progress (so the state
    saved is consistent); a second one interrupts at once."""

    def __init__(self) -> None:
        import signal
        import threading

        self.requested = False
        self._previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step (Ctrl-C again to stop now)", file=sys.stderr,
              flush=True)

    def restore(self) -> None:
        if self._previous is not None:
            import signal

            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
