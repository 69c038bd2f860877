"""GRBL's plot options (the ``gwrite`` profile, its template values, the dry run's travel)
and how their values go into :class:`~sketchart.plot.options.PlotOptions`."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from sketchart.plot.gcode import DRY_RUN_TRAVEL
from sketchart.plot.options import PlotOption, PlotOptions
from sketchart.plot.profiles import default_profile

__all__ = ["OPTIONS", "apply_options"]

_log = logging.getLogger("sketchart.plot.drivers.grbl")


#: GRBL's plot options (the ``gwrite`` profile and its template values)
OPTIONS: tuple[PlotOption, ...] = (
    PlotOption(
        "profile",
        ("--profile",),
        str,
        None,
        "gwrite profile for GRBL (default: gwrite.default_profile, else grbl-servo).",
    ),
    PlotOption(
        "default",
        ("-d", "--default"),
        str,
        None,
        "Set a GRBL profile value, as gwrite -d does",
        kind="pairs",
    ),
    PlotOption(
        "define", ("--define",), str, None, "Deprecated: -d/--default", kind="pairs",
        hidden=True,
    ),
    PlotOption(
        "travel",
        ("--travel",),
        str,
        None,
        "GRBL travel WxH in mm that --dry-run checks without a controller "
        f"(default: {DRY_RUN_TRAVEL[0]:g}x{DRY_RUN_TRAVEL[1]:g}).",
    ),
)


def apply_options(options: PlotOptions, values: Mapping[str, Any]) -> PlotOptions:
    """Put the parsed GRBL option ``values`` into ``options``."""
    defaults = dict(values.get("define") or {})
    if defaults:
        _log.warning("--define is deprecated and goes in the next release: use -d/--default")
    defaults.update(values.get("default") or {})
    settings = {**options.device_settings, "grbl": {"travel": values.get("travel")}}
    return dataclasses.replace(
        options,
        profile=values["profile"] or default_profile(),
        defaults=defaults,
        device_settings=settings,
    )
