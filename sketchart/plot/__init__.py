"""Drive pen plotters over pyserial: AxiDraw (EiBotBoard firmware) and GRBL.

Layers (no Keras or TensorFlow here, ever):

* :mod:`~sketchart.plot.paths`: vpype document / SVG -> ordered mm polylines per layer;
* :mod:`~sketchart.plot.motion`: constant-acceleration planning with corner limits;
* :mod:`~sketchart.plot.ebb`: the AxiDraw driver (timed ``SM`` moves, ``QM`` polling);
* :mod:`~sketchart.plot.grbl`: the GRBL driver (character-counting streaming);
* :mod:`~sketchart.plot.profiles`: the ``gwrite`` profiles and their renderer;
* :mod:`~sketchart.plot.progress`: the resume journal;
* :mod:`~sketchart.plot.run`: orchestration, dry run, Ctrl-C safety;
* :mod:`~sketchart.plot.emulators`: EBB and GRBL emulators at ``sketchartemu://NAME``.
"""

from __future__ import annotations

import importlib
from typing import Any

# vpype imports the plugin (and so this package) on every call: the drivers load lazily
_LAZY = {
    "AXIDRAW_MODELS": "sketchart.plot.ebb",
    "AxiDrawSettings": "sketchart.plot.ebb",
    "PlotDocument": "sketchart.plot.paths",
    "document_from_lines": "sketchart.plot.paths",
    "document_from_vpype": "sketchart.plot.paths",
    "load_svg": "sketchart.plot.paths",
    "gwrite_profiles_path": "sketchart.plot.profiles",
    "load_gwrite_profiles": "sketchart.plot.profiles",
    "PlotOptions": "sketchart.plot.run",
    "PlotReport": "sketchart.plot.run",
    "plot_document": "sketchart.plot.run",
}

__all__ = [
    "AXIDRAW_MODELS",
    "AxiDrawSettings",
    "PlotDocument",
    "PlotOptions",
    "PlotReport",
    "document_from_lines",
    "document_from_vpype",
    "gwrite_profiles_path",
    "load_gwrite_profiles",
    "load_svg",
    "plot_document",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sketchart.plot' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
