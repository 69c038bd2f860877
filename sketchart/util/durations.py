"""Durations as text, for progress lines, summaries and reports. Standard library only."""

from __future__ import annotations

__all__ = ["format_clock", "format_duration", "split_hms"]


def split_hms(seconds: float) -> tuple[int, int, int]:
    """``seconds`` rounded to whole seconds, as ``(hours, minutes, seconds)``."""
    h, rest = divmod(round(seconds), 3600)
    m, s = divmod(rest, 60)
    return h, m, s


def format_clock(seconds: float) -> str:
    """``3725.2`` -> ``"1:02:05"``; under an hour ``"2:05"``."""
    h, m, s = split_hms(seconds)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_duration(seconds: float, *, resolution: str = "s") -> str:
    """A duration in words.

    ``resolution="s"``: ``3725.2`` -> ``"1 h 02 min 05 s"``, ``125`` -> ``"2 min 05 s"``,
    under a minute ``"12.3 s"``. ``resolution="min"`` (a run's wall time): rounded to
    minutes, ``"1 h 02 min"``, ``"2 min"``, under half a minute ``"12 s"``.
    """
    if resolution == "min":
        h, m = divmod(round(seconds / 60), 60)
        return f"{h} h {m:02d} min" if h else f"{m} min" if m else f"{seconds:.0f} s"
    if resolution != "s":
        raise ValueError(f"resolution must be 's' or 'min', not {resolution!r}")
    if seconds < 60:
        return f"{seconds:.1f} s"
    h, m, s = split_hms(seconds)
    return f"{h} h {m:02d} min {s:02d} s" if h else f"{m} min {s:02d} s"
