"""Old import path of the AxiDraw driver; it lives in :mod:`sketchart.plot.drivers`."""

from __future__ import annotations

from sketchart.plot.drivers.ebb import EBBDriver
from sketchart.plot.drivers.ebb_planner import (
    AXIDRAW_MODELS,
    EBB_PID,
    EBB_VID,
    MAX_STEP_RATE,
    STEPS_PER_MM,
    AxiDrawSettings,
    EBBPlanner,
    estimate_ebb,
    find_axidraw,
)

__all__ = [
    "AXIDRAW_MODELS",
    "EBB_PID",
    "EBB_VID",
    "MAX_STEP_RATE",
    "STEPS_PER_MM",
    "AxiDrawSettings",
    "EBBDriver",
    "EBBPlanner",
    "estimate_ebb",
    "find_axidraw",
]
