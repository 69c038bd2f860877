"""AxiDraw motion for the EiBotBoard: models, pen/speed settings, ``SM`` planning, estimate.

Geometry: the AxiDraw's two motors drive the diagonals (``motor1 = x + y``,
``motor2 = x - y``), at 2032 steps per inch (80 steps/mm) per motor at 1/16 microstepping
(``EM,1,1``). Every path is planned with :mod:`sketchart.plot.motion` (pen-down speed and
acceleration for drawing, pen-up ones for travel), each segment's profile is cut into time
slices of about 25 ms, and each slice becomes one ``SM,ms,steps1,steps2``. Slice targets are
absolute positions rounded to whole steps, so rounding never accumulates (the fractional
part is carried to the next slice); a slice is lengthened if needed so that no motor ever
exceeds 25,000 steps/s. The driver (:mod:`sketchart.plot.drivers.ebb`) and the estimate use
the same :class:`EBBPlanner`, so both see the same moves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sketchart.errors import SketchartError
from sketchart.plot import motion
from sketchart.plot.paths import PlotDocument
from sketchart.plot.serialio import describe_ports, find_ports

__all__ = [
    "AXIDRAW_MODELS",
    "EBB_PID",
    "EBB_VID",
    "MAX_STEP_RATE",
    "MODEL_ALIASES",
    "PENLIFT_CHOICES",
    "SERVO_RANGE",
    "XY_SPEED_LIMIT",
    "STEPS_PER_MM",
    "AxiDrawSettings",
    "EBBPlanner",
    "estimate_ebb",
    "find_axidraw",
    "resolve_model",
]

EBB_VID = 0x04D8
EBB_PID = 0xFD92
MAX_STEP_RATE = 25_000  # steps/s per motor
STEPS_PER_MM = 2032 / 25.4  # per motor at 1/16 microstepping (80.0)

#: travel (width, height) in mm per AxiDraw model, in axicli's model order (1-7); the
#: travel is axicli's, converted from inches
AXIDRAW_MODELS: dict[str, tuple[float, float]] = {
    "V3/A4": (300.0, 218.0),
    "V3/A3": (430.0, 297.0),
    "V3/XLX": (595.0, 218.0),
    "MiniKit": (160.0, 101.6),
    "SE/A1": (864.0, 594.0),
    "SE/A2": (594.0, 432.0),
    "V3/B6": (190.0, 140.0),
}

#: other names people know the models by (axicli's numbers and labels), lower case
MODEL_ALIASES: dict[str, str] = {
    **{str(i + 1): name for i, name in enumerate(AXIDRAW_MODELS)},
    "v2": "V3/A4",
    "v3": "V3/A4",
    "se/a4": "V3/A4",
    "a4": "V3/A4",
    "se/a3": "V3/A3",
    "a3": "V3/A3",
    "xlx": "V3/XLX",
    "v3 xlx": "V3/XLX",
    "b6": "V3/B6",
}

#: servo pulse range (0 %, 100 %) in 83.3 ns units: the standard servo on pin B1, and the
#: narrow-band brushless servo on pin B2 (the high-voltage output)
SERVO_RANGE = {"standard": (9855, 27831), "brushless": (5400, 12600)}
PENLIFT_CHOICES = ("1", "2", "3")


def resolve_model(name: str) -> str:
    """A model's canonical name from any accepted spelling (``3``, ``xlx``, ``V3/XLX``).

    Raises:
        SketchartError: not a known model.
    """
    if name in AXIDRAW_MODELS:
        return name
    lowered = {k.lower(): k for k in AXIDRAW_MODELS}
    key = name.strip().lower()
    found = lowered.get(key) or MODEL_ALIASES.get(key)
    if found is None:
        choices = ", ".join(f"{i + 1}={m}" for i, m in enumerate(AXIDRAW_MODELS))
        raise SketchartError(f"unknown AxiDraw model {name!r}; choose from {choices}")
    return found

# fastest XY speed whose diagonal motor stays under the step-rate limit (with 1 % margin)
_XY_SPEED_LIMIT = 0.99 * MAX_STEP_RATE / (STEPS_PER_MM * math.sqrt(2))
XY_SPEED_LIMIT = _XY_SPEED_LIMIT  # mm/s; a layer's ``+S100``


@dataclass(frozen=True)
class AxiDrawSettings:
    """Pen, speed and acceleration settings (defaults near the official software's).

    Attributes:
        model: a key of :data:`AXIDRAW_MODELS`.
        pen_up: servo position for pen up, percent (0 = lowest, 100 = highest).
        pen_down: servo position for pen down, percent.
        pen_rate: servo sweep rate, percent of full speed (slower sweeps take longer).
        pen_delay_up: extra wait after lifting, ms.
        pen_delay_down: extra wait after lowering, ms.
        speed_down: drawing speed, mm/s (axicli: 25 % of 221 mm/s).
        speed_up: travel speed, mm/s (axicli: 75 %).
        accel_down: drawing acceleration, mm/s^2.
        accel_up: travel acceleration, mm/s^2.
        cornering: junction deviation for drawing, mm (bigger rounds corners faster).
        time_slice: target duration of one ``SM`` move, s.
        penlift: axicli's pen-lift choice: ``1`` the model's default, ``2`` the standard
            servo, ``3`` a brushless servo on the high-voltage pin (narrow pulse range).
    """

    model: str = "V3/A4"
    pen_up: float = 60.0
    pen_down: float = 30.0
    pen_rate: float = 75.0
    pen_delay_up: int = 0
    pen_delay_down: int = 0
    speed_down: float = 55.0
    speed_up: float = 165.0
    accel_down: float = 750.0
    accel_up: float = 1100.0
    cornering: float = 0.1
    time_slice: float = 0.025
    penlift: int = 1

    @property
    def brushless(self) -> bool:
        """Whether the pen-lift is the brushless servo on pin B2."""
        return self.penlift == 3

    def validate(self) -> None:
        """Raise :class:`SketchartError` for a value out of range."""
        if self.model not in AXIDRAW_MODELS:
            resolve_model(self.model)  # raises with the choices
        if self.penlift not in (1, 2, 3):
            raise SketchartError(f"penlift {self.penlift} is not 1, 2 or 3")
        for name in ("pen_up", "pen_down"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise SketchartError(
                    f"{name.replace('_', '-')} {value} is not a 0-100 percent"
                )
        if not 0 < self.pen_rate <= 100:
            raise SketchartError(f"pen-rate {self.pen_rate} is not in (0, 100]")
        for name in (
            "speed_down",
            "speed_up",
            "accel_down",
            "accel_up",
            "cornering",
            "time_slice",
        ):
            if not getattr(self, name) > 0:
                raise SketchartError(f"{name.replace('_', '-')} must be positive")

    @property
    def travel(self) -> tuple[float, float]:
        """The model's travel in mm."""
        return AXIDRAW_MODELS[self.model]

    def servo_value(self, percent: float) -> int:
        """EBB servo position (83.3 ns units) for a pen height in percent."""
        servo_min, servo_max = SERVO_RANGE["brushless" if self.brushless else "standard"]
        return round(servo_min + (servo_max - servo_min) * percent / 100.0)

    def pen_move_ms(self) -> int:
        """Servo travel time between the two heights (axicli's sweep model), ms."""
        dist = abs(self.pen_up - self.pen_down)
        if dist < 0.9:
            return 0
        fast = 45.0 + 2.69 * dist  # minimum move time plus a per-percent slope
        slow = 200.0 * dist / self.pen_rate  # full-range sweep time scaled by the rate
        return int((fast**4 + slow**4) ** 0.25)


def find_axidraw(list_ports: Callable[[], list[Any]] | None = None) -> str:
    """The first serial port with USB id 04D8:FD92.

    Raises:
        SketchartError: none found; the message lists every port seen.
    """
    found, ports = find_ports(EBB_VID, EBB_PID, list_ports)
    if not found:
        raise SketchartError(
            f"no AxiDraw found (USB 04D8:FD92); ports found: {describe_ports(ports)}; "
            "plug it in or pass --port"
        )
    return found[0]


class EBBPlanner:
    """Turns polylines into ``SM`` commands, tracking the integer motor position.

    The same object plans for the driver and for the estimate, so both see the same moves.
    """

    def __init__(self, settings: AxiDrawSettings, start_xy: tuple[float, float] = (0.0, 0.0)):
        self.settings = settings
        self.m1, self.m2 = self.steps_for(start_xy)

    @staticmethod
    def steps_for(xy: tuple[float, float] | np.ndarray) -> tuple[int, int]:
        """Motor positions (rounded) of an XY point in mm."""
        x, y = float(xy[0]), float(xy[1])
        return round(STEPS_PER_MM * (x + y)), round(STEPS_PER_MM * (x - y))

    @property
    def xy(self) -> tuple[float, float]:
        """Current XY position in mm (exactly the motors' position)."""
        return (
            (self.m1 + self.m2) / (2 * STEPS_PER_MM),
            (self.m1 - self.m2) / (2 * STEPS_PER_MM),
        )

    def moves(self, points: np.ndarray, pen_down: bool) -> list[tuple[str, int]]:
        """``(command, duration_ms)`` for following ``points`` from rest to rest.

        The first point is where the motion starts (the current position, for travel).
        """
        s = self.settings
        vmax = min(s.speed_down if pen_down else s.speed_up, _XY_SPEED_LIMIT)
        accel = s.accel_down if pen_down else s.accel_up
        pts = np.asarray(points, dtype=np.float64)
        profiles = motion.plan_polyline(pts, vmax, accel, s.cornering)
        if not profiles:
            return []
        deltas = np.diff(pts, axis=0)
        lengths = np.linalg.norm(deltas, axis=1)
        starts = pts[:-1][lengths > 1e-12]
        units = deltas[lengths > 1e-12] / lengths[lengths > 1e-12][:, None]
        out: list[tuple[str, int]] = []
        ideal_ms = 0.0  # planned time since the start of this polyline
        sent_ms = 0  # time of the moves emitted so far (whole ms)
        for start, unit, prof in zip(starts, units, profiles):
            n = max(1, math.ceil(prof.duration / s.time_slice - 1e-9))
            for k in range(1, n + 1):
                t = prof.duration * k / n
                target = start + unit * prof.distance_at(t)
                if k == n:
                    target = start + unit * prof.length  # land exactly on the vertex
                t1, t2 = self.steps_for(target)
                d1, d2 = t1 - self.m1, t2 - self.m2
                ideal_ms += 1000.0 * prof.duration / n
                duration = max(1, round(ideal_ms) - sent_ms)
                # never above 25 kHz on either motor, whatever the rounding did
                duration = max(duration, math.ceil(max(abs(d1), abs(d2)) / 25.0))
                if d1 == 0 and d2 == 0:
                    # nothing to step: a pure delay would only add time; keep the clock
                    continue
                out.append((f"SM,{duration},{d1},{d2}", duration))
                sent_ms += duration
                self.m1, self.m2 = t1, t2
        return out

    def path_commands(self, line: np.ndarray) -> tuple[list[tuple[str, int]], ...]:
        """(travel moves, pen-down moves) to plot one path from the current position."""
        travel = self.moves(np.vstack([self.xy, line[0]]), pen_down=False)
        draw = self.moves(line, pen_down=True) if len(line) > 1 else []
        return travel, draw

    def pen_up_cmd(self) -> tuple[str, int]:
        s = self.settings
        ms = s.pen_move_ms() + s.pen_delay_up
        if s.brushless:  # S2 drives pin B2 directly; SP only knows the standard servo
            return f"S2,{s.servo_value(s.pen_up)},2,0,{ms}", ms
        return f"SP,1,{ms}", ms

    def pen_down_cmd(self) -> tuple[str, int]:
        s = self.settings
        ms = s.pen_move_ms() + s.pen_delay_down
        if s.brushless:
            return f"S2,{s.servo_value(s.pen_down)},2,0,{ms}", ms
        return f"SP,0,{ms}", ms


def estimate_ebb(
    document: PlotDocument,
    settings: AxiDrawSettings,
    start: tuple[int, int] = (0, 0),
    start_xy: tuple[float, float] | None = None,
    layer_settings: Callable[[int], AxiDrawSettings] | None = None,
) -> dict[str, Any]:
    """Plan every remaining path without a device; the time is the sum of the moves sent.

    ``layer_settings(layer_index)`` gives a layer's own settings (its pen height and speed).

    Returns:
        ``{"seconds", "layers": [{"seconds", "paths", "down_mm", "up_mm"}], "commands"}``.
    """
    planner = EBBPlanner(settings, start_xy or (0.0, 0.0))
    _, up_ms = planner.pen_up_cmd()
    _, down_ms = planner.pen_down_cmd()
    total_ms = up_ms  # the initial pen lift
    commands = 4
    layers = []
    for li, layer in enumerate(document.layers):
        if layer_settings is not None:
            planner.settings = layer_settings(li)
            _, up_ms = planner.pen_up_cmd()
            _, down_ms = planner.pen_down_cmd()
        layer_ms = 0
        down_mm = up_mm = 0.0
        count = 0
        for pi, line in enumerate(layer.lines):
            if (li, pi) < start:
                continue
            before = np.array(planner.xy)
            travel, draw = planner.path_commands(line)
            up_mm += float(np.linalg.norm(line[0] - before))
            down_mm += float(np.sum(np.linalg.norm(np.diff(line, axis=0), axis=1)))
            layer_ms += sum(ms for _, ms in travel) + sum(ms for _, ms in draw)
            layer_ms += down_ms + up_ms
            commands += len(travel) + len(draw) + 2
            count += 1
        layers.append(
            {
                "name": layer.name,
                "paths": count,
                "down_mm": down_mm,
                "up_mm": up_mm,
                "seconds": layer_ms / 1000.0,
            }
        )
        total_ms += layer_ms
    home = planner.moves(np.array([planner.xy, (0.0, 0.0)]), False)
    total_ms += sum(ms for _, ms in home)
    commands += len(home) + 1
    return {"seconds": total_ms / 1000.0, "layers": layers, "commands": commands}
