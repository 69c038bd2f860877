"""Drive pen plotters over pyserial: AxiDraw (EiBotBoard firmware) and GRBL.

Layers (no Keras or TensorFlow here, ever):

* :mod:`~sketchart.plot.paths`: vpype document / SVG -> ordered mm polylines per layer;
* :mod:`~sketchart.plot.motion`: constant-acceleration planning with corner limits;
* :mod:`~sketchart.plot.gcode`: G-code words, GRBL's planner model and time estimate;
* :mod:`~sketchart.plot.profiles`: the ``gwrite`` profiles and their renderer;
* :mod:`~sketchart.plot.driver`: the protocol every plotter driver implements;
* :mod:`~sketchart.plot.registry`: device name -> driver factory and its options;
* :mod:`~sketchart.plot.options`: the plot options, declared once for both CLIs;
* :mod:`~sketchart.plot.drivers`: the AxiDraw (EBB) and GRBL drivers;
* :mod:`~sketchart.plot.progress`: the resume journal;
* :mod:`~sketchart.plot.run`: orchestration, dry run, Ctrl-C safety;
* :mod:`~sketchart.plot.emulators`: EBB and GRBL emulators at ``sketchartemu://NAME``.
"""

from __future__ import annotations

import importlib
from typing import Any

# vpype imports the plugin (and so this package) on every call: the drivers load lazily
_LAZY = {
    "AXIDRAW_MODELS": "sketchart.plot.drivers.ebb_planner",
    "AxiDrawSettings": "sketchart.plot.drivers.ebb_planner",
    "Capabilities": "sketchart.plot.driver",
    "DeviceSpec": "sketchart.plot.registry",
    "Estimate": "sketchart.plot.driver",
    "LayerEstimate": "sketchart.plot.driver",
    "PlotOption": "sketchart.plot.options",
    "PlotterDriver": "sketchart.plot.driver",
    "devices": "sketchart.plot.registry",
    "get_device": "sketchart.plot.registry",
    "register_device": "sketchart.plot.registry",
    "PlotDocument": "sketchart.plot.paths",
    "document_from_lines": "sketchart.plot.paths",
    "document_from_vpype": "sketchart.plot.paths",
    "load_svg": "sketchart.plot.paths",
    "gwrite_profiles_path": "sketchart.plot.profiles",
    "load_gwrite_profiles": "sketchart.plot.profiles",
    "PlotOptions": "sketchart.plot.options",
    "PlotReport": "sketchart.plot.run",
    "plot_document": "sketchart.plot.run",
}

__all__ = [
    "AXIDRAW_MODELS",
    "AxiDrawSettings",
    "Capabilities",
    "DeviceSpec",
    "Estimate",
    "LayerEstimate",
    "PlotDocument",
    "PlotOption",
    "PlotOptions",
    "PlotReport",
    "PlotterDriver",
    "devices",
    "document_from_lines",
    "document_from_vpype",
    "get_device",
    "gwrite_profiles_path",
    "load_gwrite_profiles",
    "load_svg",
    "plot_document",
    "register_device",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sketchart.plot' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
