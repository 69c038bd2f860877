"""Live progress while plotting: a bar on a terminal, a plain line now and then elsewhere.

The run loop calls :meth:`LiveProgress.path_done` after every finished path. On a terminal
a ``rich`` bar shows paths, pen-down distance, elapsed time, the time left (from the
planner's estimate, scaled by how far the plot is) and the current layer; when output is
not a terminal (a log file, CI) one plain line is printed every few seconds of plot time;
``--quiet`` prints nothing. Time comes from the driver's clock, so an emulator's virtual
time gives the same lines on every run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from sketchart.plot.serialio import Clock

__all__ = ["LINE_INTERVAL_S", "LiveProgress", "progress_mode"]

#: seconds of plot time between two plain progress lines
LINE_INTERVAL_S = 5.0


def progress_mode(quiet: bool, stream: Any = None) -> str:
    """``"off"`` (quiet), ``"bar"`` (a terminal) or ``"lines"``."""
    if quiet:
        return "off"
    stream = stream if stream is not None else sys.stdout
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


def _clock_text(seconds: float) -> str:
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class LiveProgress:
    """Progress of one plot; see the module docstring.

    Args:
        mode: see :func:`progress_mode`.
        total_paths: paths this run plots.
        total_down_mm: their pen-down length.
        estimate_s: the planner's time for them.
        clock: the driver's clock.
        echo: where plain lines go.
    """

    def __init__(
        self,
        mode: str,
        total_paths: int,
        total_down_mm: float,
        estimate_s: float,
        clock: Clock,
        echo: Callable[[str], None],
    ) -> None:
        self.mode = mode
        self.total_paths = max(total_paths, 1)
        self.total_down_mm = total_down_mm
        self.estimate_s = estimate_s
        self.clock = clock
        self.echo = echo
        self.t0 = clock.monotonic()
        self.paths = 0
        self.down_mm = 0.0
        self.layer = ""
        self._last_line = self.t0
        self._bar: Any = None
        self._task: Any = None
        if mode == "bar":
            self._start_bar()

    def _start_bar(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task("plotting", total=self.total_paths, status="")

    def status(self) -> str:
        """``"12/40 paths, 1.35/4.20 m pen down, 2:10 elapsed, ~6:40 left, layer 2"``."""
        elapsed = self.clock.monotonic() - self.t0
        left = max(0.0, self.estimate_s * (1 - self.paths / self.total_paths))
        return (
            f"{self.paths}/{self.total_paths} paths, {self.down_mm / 1000:.2f}/"
            f"{self.total_down_mm / 1000:.2f} m pen down, {_clock_text(elapsed)} elapsed, "
            f"~{_clock_text(left)} left, {self.layer}"
        )

    def set_layer(self, text: str) -> None:
        """The layer being plotted (``"layer 2 (blue)"``)."""
        self.layer = text

    def path_done(self, down_mm: float) -> None:
        """One more path is on paper."""
        self.paths += 1
        self.down_mm += down_mm
        if self.mode == "bar":
            if self._bar is None:  # stopped for a prompt (a pen change): a new bar
                self._start_bar()
            self._bar.update(self._task, completed=self.paths, status=self.status())
        elif self.mode == "lines":
            now = self.clock.monotonic()
            if now - self._last_line >= LINE_INTERVAL_S or self.paths == self.total_paths:
                self._last_line = now
                self.echo(f"progress: {self.status()}")

    def close(self) -> None:
        """Stop the bar (idempotent; the next finished path starts a new one)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
