"""Plot settings from vpype's configuration: a ``[sketchart.plot]`` table.

vpype reads ``~/.vpype.toml`` when it is imported and any ``vpype -c FILE``; a plotter
user keeps the device, model, port, speeds, pen heights and pen-lift there once::

    [sketchart.plot]
    device = "axidraw"
    axidraw_model = "V3/A3"     # or axicli's number: 2
    pen_down = 35
    penlift = 3

The keys are the plot options' names (``--speed-down`` is ``speed_down``). A flag given on
the command line wins over the file; an unknown key or a value of the wrong type is a
one-line error naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from sketchart.errors import SketchartError
from sketchart.plot.options import PlotOption

__all__ = ["TABLE", "config_table", "merge_config"]

#: where the settings live in vpype's configuration
TABLE = "sketchart.plot"


def config_table() -> dict[str, Any]:
    """The ``[sketchart.plot]`` table of vpype's configuration (``{}`` when absent)."""
    import vpype as vp

    root = vp.config_manager.config.get("sketchart", {})
    table = root.get("plot", {}) if isinstance(root, Mapping) else {}
    if not isinstance(table, Mapping):
        raise SketchartError(f"[{TABLE}] in vpype's configuration is not a table")
    return dict(table)


def _convert(option: PlotOption, value: Any) -> Any:
    key = f"[{TABLE}] {option.name}"
    if option.kind == "multiple":
        items = value if isinstance(value, list) else [value]
        return [_convert_one(option, key, item) for item in items]
    if option.kind == "pairs":
        if not isinstance(value, Mapping):
            raise SketchartError(f"{key} must be a table of KEY = VALUE")
        return {str(k): str(v) for k, v in value.items()}
    return _convert_one(option, key, value)


def _convert_one(option: PlotOption, key: str, value: Any) -> Any:
    kind: type = option.type
    if kind is bool:
        if not isinstance(value, bool):
            raise SketchartError(f"{key} = {value!r}: expected true or false")
        return value
    converters: dict[type, Callable[[Any], Any]] = {int: int, float: float, Path: str}
    try:
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        converted = converters.get(kind, str)(value)
    except (TypeError, ValueError):
        raise SketchartError(f"{key} = {value!r}: expected {kind.__name__}") from None
    if option.choices is not None and str(converted) not in option.choices:
        raise SketchartError(f"{key} = {value!r}: choose {' or '.join(option.choices)}")
    return converted


def merge_config(
    values: dict[str, Any],
    table: Iterable[PlotOption],
    given: Callable[[str], bool],
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``values`` with the configuration's settings for every option not ``given``.

    Args:
        values: the parsed command-line values, by option name.
        table: the plot options (:func:`~sketchart.plot.options.plot_option_table`).
        given: whether an option (by name) was given on the command line.
        settings: the settings (default: :func:`config_table`).

    Raises:
        SketchartError: an unknown key (the message lists the valid ones) or a bad value.
    """
    options = {option.name: option for option in table if not option.hidden}
    settings = config_table() if settings is None else settings
    unknown = sorted(set(settings) - set(options))
    if unknown:
        raise SketchartError(
            f"[{TABLE}]: unknown key {', '.join(unknown)}; valid keys: "
            f"{', '.join(sorted(options))}"
        )
    out = dict(values)
    for name, value in settings.items():
        if not given(name):
            out[name] = _convert(options[name], value)
    return out
