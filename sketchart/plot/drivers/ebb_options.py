"""The AxiDraw's plot options (model, pen-lift, pen heights, speeds) and how their values go
into :class:`~sketchart.plot.options.PlotOptions`."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from sketchart.plot.drivers.ebb_planner import AXIDRAW_MODELS, AxiDrawSettings, resolve_model
from sketchart.plot.options import PlotOption, PlotOptions

__all__ = ["OPTIONS", "apply_options"]

_log = logging.getLogger("sketchart.plot.drivers.ebb")

_DEFAULTS = AxiDrawSettings()

_MODEL_HELP = ", ".join(f"{i + 1}={m}" for i, m in enumerate(AXIDRAW_MODELS))

#: the AxiDraw's plot options (model, pen-lift, the pen and speed settings)
OPTIONS: tuple[PlotOption, ...] = (
    PlotOption(
        "axidraw_model",
        ("--axidraw-model",),
        str,
        _DEFAULTS.model,
        f"AxiDraw model, axicli's number or name: {_MODEL_HELP}.",
    ),
    PlotOption(
        "model",
        ("--model",),
        str,
        None,
        "Deprecated spelling of --axidraw-model.",
        hidden=True,
    ),
    PlotOption(
        "penlift",
        ("--penlift",),
        int,
        1,
        "Pen-lift: 1 the model's default, 2 standard servo, 3 brushless servo "
        "(high-voltage pin).",
    ),
    PlotOption("pen_up", ("--pen-up",), float, _DEFAULTS.pen_up, "AxiDraw pen-up height, %."),
    PlotOption(
        "pen_down", ("--pen-down",), float, _DEFAULTS.pen_down, "AxiDraw pen-down height, %."
    ),
    PlotOption(
        "speed_down",
        ("--speed-down",),
        float,
        _DEFAULTS.speed_down,
        "AxiDraw drawing speed, mm/s.",
    ),
    PlotOption(
        "speed_up", ("--speed-up",), float, _DEFAULTS.speed_up, "AxiDraw travel speed, mm/s."
    ),
    PlotOption(
        "accel_down",
        ("--accel-down",),
        float,
        _DEFAULTS.accel_down,
        "AxiDraw drawing acceleration, mm/s^2.",
    ),
    PlotOption(
        "accel_up",
        ("--accel-up",),
        float,
        _DEFAULTS.accel_up,
        "AxiDraw travel acceleration, mm/s^2.",
    ),
)


def apply_options(options: PlotOptions, values: Mapping[str, Any]) -> PlotOptions:
    """Put the parsed AxiDraw option ``values`` into ``options`` (the model resolved)."""
    settings = dict(values)
    model = settings.pop("axidraw_model")
    old = settings.pop("model", None)
    if old is not None:  # the old spelling still works for one release
        _log.warning("--model is deprecated for the plotter; use --axidraw-model")
        model = old
    settings["model"] = resolve_model(str(model))
    return dataclasses.replace(options, axidraw=AxiDrawSettings(**settings))
