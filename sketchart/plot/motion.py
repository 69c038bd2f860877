"""Constant-acceleration motion planning: corner speed limits and trapezoid/triangle profiles.

A polyline is planned as a chain of straight segments. Each junction between two segments
gets a speed limit from the "junction deviation" model GRBL uses (the speed at which a
circular arc of deviation ``deviation`` through the corner would need the machine's
acceleration as centripetal acceleration); then a backward and a forward pass cap every
junction speed by what the acceleration can reach over the neighbouring segments, and each
segment becomes a trapezoid (accelerate, cruise, decelerate) or, when too short to reach its
cruise speed, a triangle. The AxiDraw driver slices these profiles into timed moves, the
GRBL emulator executes them, and the time estimates add up the same durations.

Points may have any dimension (XY for the AxiDraw, XYZ for a Z-lift GRBL machine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Profile",
    "junction_speed",
    "make_profile",
    "plan_polyline",
    "plan_segments",
    "polyline_time",
]


@dataclass(frozen=True)
class Profile:
    """Speed over one straight segment: accelerate, cruise, decelerate (SI-like: mm, s).

    Attributes:
        length: segment length (mm).
        v_entry: speed at the start (mm/s).
        v_peak: cruise (trapezoid) or top (triangle) speed (mm/s).
        v_exit: speed at the end (mm/s).
        accel: acceleration magnitude (mm/s^2).
        t_acc: time spent accelerating (s).
        t_cruise: time at ``v_peak`` (s).
        t_dec: time spent decelerating (s).
    """

    length: float
    v_entry: float
    v_peak: float
    v_exit: float
    accel: float
    t_acc: float
    t_cruise: float
    t_dec: float

    @property
    def duration(self) -> float:
        """Total time of the segment in seconds."""
        return self.t_acc + self.t_cruise + self.t_dec

    def distance_at(self, t: float) -> float:
        """Distance travelled along the segment after ``t`` seconds (clamped to the length)."""
        if t <= 0.0:
            return 0.0
        if t >= self.duration:
            return self.length
        a = self.accel
        if t < self.t_acc:
            return self.v_entry * t + 0.5 * a * t * t
        d_acc = self.v_entry * self.t_acc + 0.5 * a * self.t_acc**2
        t2 = t - self.t_acc
        if t2 < self.t_cruise:
            return d_acc + self.v_peak * t2
        t3 = t2 - self.t_cruise
        d = d_acc + self.v_peak * self.t_cruise + self.v_peak * t3 - 0.5 * a * t3 * t3
        return min(d, self.length)


def make_profile(
    length: float, v_entry: float, v_exit: float, vmax: float, accel: float
) -> Profile:
    """The fastest constant-acceleration profile over ``length`` between two speeds.

    ``v_entry`` and ``v_exit`` must be reachable from each other over ``length`` (the
    planner's passes guarantee it; small float excesses are absorbed).
    """
    if length <= 0.0:
        return Profile(0.0, v_entry, v_entry, v_exit, accel, 0.0, 0.0, 0.0)
    a = accel
    v_entry = min(v_entry, vmax)
    v_exit = min(v_exit, vmax)
    d_acc = (vmax * vmax - v_entry * v_entry) / (2 * a)
    d_dec = (vmax * vmax - v_exit * v_exit) / (2 * a)
    if d_acc + d_dec <= length:
        v_peak = vmax
        d_cruise = length - d_acc - d_dec
    else:
        # triangle: the peak where the acceleration and deceleration ramps meet
        v_peak = math.sqrt(max(0.0, (2 * a * length + v_entry**2 + v_exit**2) / 2))
        v_peak = max(v_peak, v_entry, v_exit)
        d_cruise = 0.0
    t_acc = (v_peak - v_entry) / a
    t_dec = (v_peak - v_exit) / a
    t_cruise = d_cruise / v_peak if v_peak > 0 else 0.0
    return Profile(length, v_entry, v_peak, v_exit, a, t_acc, t_cruise, t_dec)


def junction_speed(
    u_in: np.ndarray, u_out: np.ndarray, accel: float, deviation: float, vmax: float
) -> float:
    """Largest speed through the corner between unit directions ``u_in`` and ``u_out``.

    GRBL's junction-deviation rule: straight on gives ``vmax``, a full reversal gives 0,
    anything between ``sqrt(a * d * s / (1 - s))`` with ``s = sin(theta / 2)``.
    """
    cos_theta = -float(np.dot(u_in, u_out))
    if cos_theta > 0.999999:  # reversal
        return 0.0
    if cos_theta < -0.999999:  # straight on
        return vmax
    sin_half = math.sqrt(0.5 * (1.0 - cos_theta))
    return min(vmax, math.sqrt(accel * deviation * sin_half / (1.0 - sin_half)))


def plan_segments(
    lengths: np.ndarray,
    vmax: np.ndarray,
    accel: np.ndarray,
    junction_limits: np.ndarray,
    v_start: float = 0.0,
    v_end: float = 0.0,
) -> list[Profile]:
    """Profiles for consecutive segments with per-segment speed/acceleration limits.

    Args:
        lengths: ``[n]`` segment lengths (mm, > 0).
        vmax: ``[n]`` cruise speed limits (mm/s).
        accel: ``[n]`` accelerations (mm/s^2).
        junction_limits: ``[n - 1]`` speed limits at the inner junctions.
        v_start: speed entering the first segment.
        v_end: speed leaving the last one.

    Returns:
        ``n`` profiles whose consecutive exit/entry speeds agree.
    """
    n = len(lengths)
    if n == 0:
        return []
    cap = np.empty(n + 1)
    cap[0] = min(v_start, vmax[0])
    cap[n] = min(v_end, vmax[n - 1])
    if n > 1:
        cap[1:n] = np.minimum(np.minimum(vmax[:-1], vmax[1:]), junction_limits)
    v = cap.copy()
    # backward pass: every junction must be able to brake to the next one
    for i in range(n - 1, -1, -1):
        v[i] = min(v[i], math.sqrt(v[i + 1] ** 2 + 2 * accel[i] * lengths[i]))
    # forward pass: and be reachable by accelerating from the previous one
    for i in range(n):
        v[i + 1] = min(v[i + 1], math.sqrt(v[i] ** 2 + 2 * accel[i] * lengths[i]))
    return [
        make_profile(
            float(lengths[i]), float(v[i]), float(v[i + 1]), float(vmax[i]), float(accel[i])
        )
        for i in range(n)
    ]


def plan_polyline(
    points: np.ndarray,
    vmax: float,
    accel: float,
    deviation: float,
    v_start: float = 0.0,
    v_end: float = 0.0,
) -> list[Profile]:
    """Plan a polyline (``[k, d]`` points, repeated points allowed) from and to rest.

    Returns one profile per segment of non-zero length, in order (zero-length segments take
    no time and are skipped).
    """
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 2:
        return []
    deltas = np.diff(pts, axis=0)
    lengths = np.linalg.norm(deltas, axis=1)
    keep = lengths > 1e-12
    deltas, lengths = deltas[keep], lengths[keep]
    n = len(lengths)
    if n == 0:
        return []
    units = deltas / lengths[:, None]
    limits = np.array(
        [junction_speed(units[i], units[i + 1], accel, deviation, vmax) for i in range(n - 1)]
    )
    return plan_segments(
        lengths, np.full(n, vmax), np.full(n, accel), limits, v_start=v_start, v_end=v_end
    )


def polyline_time(points: np.ndarray, vmax: float, accel: float, deviation: float) -> float:
    """Time in seconds to follow a polyline from rest to rest."""
    return sum(p.duration for p in plan_polyline(points, vmax, accel, deviation))
