"""G-code as GRBL reads it: words, GRBL's planner model, and the time estimate of a program.

No serial port here: the GRBL driver (:mod:`sketchart.plot.drivers.grbl`) and the GRBL
emulator both plan with these functions, so the estimate and the emulated run agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sketchart.errors import SketchartError
from sketchart.plot import motion

__all__ = [
    "DRY_RUN_GRBL_SETTINGS",
    "DRY_RUN_TRAVEL",
    "GRBL_ERRORS",
    "RX_BUFFER_SIZE",
    "MachineLimits",
    "assumed_settings_note",
    "estimate_program",
    "explain_reply",
    "is_sync",
    "parse_travel",
    "parse_words",
    "plan_blocks",
]

#: GRBL's serial receive buffer, bytes
RX_BUFFER_SIZE = 128

#: GRBL limits assumed without a controller to ask: a typical small pen plotter
DRY_RUN_GRBL_SETTINGS: dict[int, float] = {
    11: 0.010,
    110: 6000.0,
    111: 6000.0,
    112: 1000.0,
    120: 800.0,
    121: 800.0,
    122: 200.0,
    130: 300.0,
    131: 200.0,
    132: 20.0,
}

#: the travel a dry run checks the drawing against when ``--travel`` is not given (mm)
DRY_RUN_TRAVEL = (DRY_RUN_GRBL_SETTINGS[130], DRY_RUN_GRBL_SETTINGS[131])


def assumed_settings_note(settings: Mapping[int, float]) -> str:
    """A dry run's note: which GRBL settings the estimate and the travel check assumed."""
    return (
        f"  (no controller: assumed $110/$111 = {settings[110]:g}/{settings[111]:g} mm/min, "
        f"$120/$121 = {settings[120]:g}/{settings[121]:g} mm/s^2, $11 = {settings[11]:g} mm, "
        f"travel $130/$131 = {settings[130]:g} x {settings[131]:g} mm (--travel WxH); "
        "the real run reads the controller's $$)"
    )


def parse_travel(text: str | None) -> tuple[float, float] | None:
    """``--travel 300x200`` (mm) as ``(300.0, 200.0)``; None when not given.

    Raises:
        SketchartError: not two positive numbers.
    """
    if text is None:
        return None
    try:
        w, h = (float(part) for part in text.lower().removesuffix("mm").split("x"))
    except ValueError:
        raise SketchartError(
            f"--travel {text}: expected WIDTHxHEIGHT in mm (e.g. 300x200)"
        ) from None
    if not (w > 0 and h > 0):
        raise SketchartError(f"--travel {text}: both sides must be above 0")
    return w, h


#: the GRBL 1.1 error codes a plot is likely to meet
GRBL_ERRORS = {
    1: "G-code word without a letter",
    2: "bad number format",
    3: "invalid $ statement",
    9: "G-code locked out during alarm or jog",
    15: "jog target exceeds travel",
    20: "unsupported or invalid G-code command",
    22: "feed rate undefined",
    24: "two G-code commands that both need XYZ words",
    28: "G-code command missing a value",
    33: "invalid motion target",
}
_ALARMS = {
    1: "hard limit",
    2: "soft limit (target beyond travel)",
    3: "reset while in motion",
    9: "homing failed",
}

_WORD = re.compile(r"([A-Z])([-+]?(?:\d+\.?\d*|\.\d+))")


def parse_words(line: str) -> list[tuple[str, float]]:
    """``"G1 X10 Y2.5 (c)"`` -> ``[("G", 1.0), ("X", 10.0), ("Y", 2.5)]``.

    Raises:
        ValueError: text that is not a sequence of letter-number words.
    """
    text = re.sub(r"\([^)]*\)", "", line)
    text = text.split(";", 1)[0].upper().replace(" ", "").replace("\t", "")
    words = []
    pos = 0
    for match in _WORD.finditer(text):
        if match.start() != pos:
            raise ValueError(f"bad G-code {line!r}")
        words.append((match.group(1), float(match.group(2))))
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"bad G-code {line!r}")
    return words


@dataclass(frozen=True)
class MachineLimits:
    """GRBL's per-axis limits (from ``$110-112``, ``$120-122``, ``$11``, ``$130-132``)."""

    max_rates: tuple[float, float, float]  # mm/s
    accels: tuple[float, float, float]  # mm/s^2
    junction_deviation: float  # mm
    travel: tuple[float, float, float]  # mm

    @classmethod
    def from_settings(cls, settings: dict[int, float]) -> MachineLimits:
        """Build from ``$N=value`` settings (rates in mm/min as GRBL stores them)."""

        def get(key: int, default: float) -> float:
            return float(settings.get(key, default))

        return cls(
            (get(110, 500) / 60, get(111, 500) / 60, get(112, 500) / 60),
            (get(120, 10), get(121, 10), get(122, 10)),
            get(11, 0.01),
            (get(130, 200), get(131, 200), get(132, 200)),
        )

    def _limit(self, per_axis: tuple[float, float, float], unit: np.ndarray) -> float:
        # the block's limit is the one the most loaded axis reaches first
        comps = np.abs(unit)
        return float(min(v / c for v, c in zip(per_axis, comps) if c > 1e-12))

    def max_rate(self, unit: np.ndarray) -> float:
        """Largest speed (mm/s) along ``unit`` with no axis above its ``$11x``."""
        return self._limit(self.max_rates, unit)

    def accel(self, unit: np.ndarray) -> float:
        """Largest acceleration (mm/s^2) along ``unit`` with no axis above its ``$12x``."""
        return self._limit(self.accels, unit)


def plan_blocks(
    points: np.ndarray, rates: np.ndarray, limits: MachineLimits, v_start: float = 0.0
) -> list[motion.Profile]:
    """Profiles of consecutive XYZ blocks, ending at rest, GRBL's way.

    Args:
        points: ``[n + 1, 3]`` block end points, the first being the start.
        rates: ``[n]`` nominal speeds (mm/s): feed or rapid rate, already axis-limited.
        limits: the machine.
        v_start: speed when entering the first block.
    """
    deltas = np.diff(points, axis=0)
    lengths = np.linalg.norm(deltas, axis=1)
    units = deltas / np.maximum(lengths, 1e-12)[:, None]
    accels = np.array([limits.accel(u) for u in units])
    junctions = np.array(
        [
            motion.junction_speed(
                units[i],
                units[i + 1],
                min(accels[i], accels[i + 1]),
                limits.junction_deviation,
                float("inf"),
            )
            for i in range(len(units) - 1)
        ]
    )
    return motion.plan_segments(
        lengths, np.asarray(rates, dtype=float), accels, junctions, v_start=v_start, v_end=0.0
    )


def estimate_program(lines: list[str], limits: MachineLimits) -> float:
    """Seconds GRBL needs for ``lines``, planning each run of moves between sync points.

    ``M3``/``M5``/``G4`` wait for the planner to empty, so moves are planned in groups from
    rest to rest with full look-ahead; dwells add their ``P`` seconds.
    """
    total = 0.0
    pos = np.zeros(3)
    group: list[np.ndarray] = [pos.copy()]
    rates: list[float] = []
    mode, feed, scale, absolute = 0, 0.0, 1.0, True

    def flush() -> float:
        if not rates:
            return 0.0
        t = sum(p.duration for p in plan_blocks(np.array(group), np.array(rates), limits))
        group[:] = [group[-1]]
        rates.clear()
        return t

    for line in lines:
        words = parse_words(line)
        gs = [v for k, v in words if k == "G"]
        ms = [v for k, v in words if k == "M"]
        vals = {k: v for k, v in words if k not in "GM"}
        for g in gs:
            if g in (0, 1):
                mode = int(g)
            elif g == 20:
                scale = 25.4
            elif g == 21:
                scale = 1.0
            elif g == 90:
                absolute = True
            elif g == 91:
                absolute = False
        if "F" in vals:
            feed = vals["F"] * scale
        if 4 in gs:
            total += flush() + vals.get("P", 0.0)
            continue
        if ms:
            total += flush()
        if any(a in vals for a in "XYZ"):
            target = pos.copy()
            for i, axis in enumerate("XYZ"):
                if axis in vals:
                    target[i] = vals[axis] * scale + (0 if absolute else target[i])
            delta = target - pos
            length = float(np.linalg.norm(delta))
            if length > 1e-9:
                rate = limits.max_rate(delta / length)
                if mode == 1 and feed:
                    rate = min(rate, feed / 60)
                group.append(target)
                rates.append(rate)
                pos = target
    return total + flush()


def is_sync(line: str) -> bool:
    """Whether GRBL acknowledges ``line`` only after the planner has emptied."""
    try:
        words = parse_words(line)
    except ValueError:
        return False
    return any((k == "G" and v == 4) or (k == "M" and v in (3, 4, 5)) for k, v in words)


def explain_reply(reply: str) -> str:
    """``"error:22"`` -> ``"error:22 (feed rate undefined)"``; likewise ``ALARM:N``."""
    try:
        code = int(reply.split(":", 1)[1])
    except (ValueError, IndexError):
        return reply
    text = GRBL_ERRORS.get(code) if reply.startswith("error") else _ALARMS.get(code)
    return f"{reply} ({text})" if text else reply
