"""Old import path of the GRBL driver and G-code model; see :mod:`sketchart.plot.gcode` and
:mod:`sketchart.plot.drivers.grbl`."""

from __future__ import annotations

from sketchart.plot.drivers.grbl import GrblDriver
from sketchart.plot.gcode import (
    GRBL_ERRORS,
    MachineLimits,
    estimate_program,
    parse_words,
    plan_blocks,
)

__all__ = [
    "GRBL_ERRORS",
    "GrblDriver",
    "MachineLimits",
    "estimate_program",
    "parse_words",
    "plan_blocks",
]
