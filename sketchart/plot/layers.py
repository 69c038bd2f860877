"""Per-layer plot settings and layer selection, read the way AxiDraw users write them.

A layer name follows axicli's syntax: a leading number (the layer's number for
``--layer N``), then optional codes ``+H<0-100>`` (pen-down height, percent) and
``+S<1-100>`` (pen-down speed, percent of the fastest); a name starting with ``!`` forces a
pause before the layer, even with ``--no-pause``. The same settings can come from vpype
layer properties, which win over the name: ``sketchart_pen_down`` (percent),
``sketchart_speed`` (percent) and ``sketchart_pause`` (true/false), so ``vpype ... propset
-l 2 --type float sketchart_pen_down 35`` works without renaming a layer.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sketchart.errors import SketchartError
from sketchart.plot.paths import PlotDocument, PlotLayer

__all__ = ["LayerPen", "layer_number", "layer_pen", "select_layers"]

_NUMBER = re.compile(r"\s*!?\s*(\d+)")
_CODE = re.compile(r"\+([HhSs])\s*(-?\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class LayerPen:
    """One layer's own settings; ``None`` keeps the plot's setting.

    Attributes:
        pen_down: pen-down height, percent (0-100).
        speed: pen-down speed, percent of the device's fastest (1-100).
        force_pause: pause before the layer even when layer pauses are off.
    """

    pen_down: float | None = None
    speed: float | None = None
    force_pause: bool = False

    def describe(self) -> str:
        """``"pen down 35 %, speed 50 %, pauses"`` (empty when nothing is set)."""
        parts = []
        if self.pen_down is not None:
            parts.append(f"pen down {self.pen_down:g} %")
        if self.speed is not None:
            parts.append(f"speed {self.speed:g} %")
        if self.force_pause:
            parts.append("pauses before (!)")
        return ", ".join(parts)


def _number(value: Any, name: str, layer: str, low: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SketchartError(f"layer {layer!r}: {name} {value!r} is not a number") from None
    if not low <= number <= 100:
        raise SketchartError(f"layer {layer!r}: {name} {number:g} is not in {low:g}-100")
    return number


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def layer_pen(layer: PlotLayer) -> LayerPen:
    """The settings of ``layer`` from its name and its properties (see the module docstring).

    Raises:
        SketchartError: a height or speed out of range or not a number.
    """
    values: dict[str, Any] = {}
    for code, number in _CODE.findall(layer.name):
        key = "pen_down" if code.upper() == "H" else "speed"
        values[key] = number
    meta = layer.metadata
    if meta.get("sketchart_pen_down") is not None:
        values["pen_down"] = meta["sketchart_pen_down"]
    if meta.get("sketchart_speed") is not None:
        values["speed"] = meta["sketchart_speed"]
    pen = LayerPen(force_pause=layer.name.lstrip().startswith("!"))
    if "sketchart_pause" in meta:
        pen = dataclasses.replace(pen, force_pause=_truthy(meta["sketchart_pause"]))
    if "pen_down" in values:
        pen = dataclasses.replace(
            pen, pen_down=_number(values["pen_down"], "pen-down height", layer.name, 0)
        )
    if "speed" in values:
        pen = dataclasses.replace(
            pen, speed=_number(values["speed"], "pen-down speed", layer.name, 1)
        )
    return pen


def layer_number(layer: PlotLayer) -> int:
    """The number ``--layer`` selects: the name's leading number, else vpype's layer id."""
    match = _NUMBER.match(layer.name)
    return int(match.group(1)) if match else layer.layer_id


def select_layers(document: PlotDocument, numbers: Iterable[int]) -> PlotDocument:
    """``document`` with only the layers whose number is in ``numbers`` keeping paths.

    The other layers stay, empty, so layer indices (and the journal) keep their meaning.

    Raises:
        SketchartError: a number matches no layer.
    """
    wanted = sorted(set(numbers))
    if not wanted:
        return document
    present = {layer_number(layer) for layer in document.layers}
    missing = [n for n in wanted if n not in present]
    if missing:
        raise SketchartError(
            f"{document.source}: no layer {', '.join(map(str, missing))}; layers are "
            f"{', '.join(map(str, sorted(present))) or 'none'}"
        )
    layers = [
        layer if layer_number(layer) in wanted else dataclasses.replace(layer, lines=[])
        for layer in document.layers
    ]
    return dataclasses.replace(document, layers=layers)
