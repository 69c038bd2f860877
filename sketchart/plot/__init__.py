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

from sketchart.plot.ebb import AXIDRAW_MODELS, AxiDrawSettings
from sketchart.plot.paths import (
    PlotDocument,
    document_from_lines,
    document_from_vpype,
    load_svg,
)
from sketchart.plot.profiles import gwrite_profiles_path, load_gwrite_profiles
from sketchart.plot.run import PlotOptions, PlotReport, plot_document

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
