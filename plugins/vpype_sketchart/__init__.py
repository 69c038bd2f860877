"""vpype plugin of sketchart: Sketch-RNN drawings in vpype pipelines.

vpype imports every installed plugin on every call (``vpype --help`` included), so this
package stays cheap: it never imports TensorFlow or Keras (the commands import the model
inside their bodies), and the only work done here is registering the project's pen-plotter
profiles for vpype-gcode's ``gwrite`` (``gwrite -p grbl-servo out.gcode``).
"""

from __future__ import annotations

import logging
import os

__all__: list[str] = []

# TensorFlow's C++ start-up chatter (no CUDA driver, ...) would clutter every pipeline
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_log = logging.getLogger(__name__)


def _load_gwrite_profiles() -> None:
    """Make the project's gwrite profiles known to vpype's config manager."""
    try:
        from sketchart.plot.profiles import load_gwrite_profiles
    except ImportError as exc:  # plotting side not installed or not built yet
        _log.debug("sketchart: gwrite profiles not loaded (%s)", exc)
        return
    try:
        load_gwrite_profiles()
    # a broken profile file must not break every vpype call
    except Exception as exc:  # noqa: BLE001
        _log.warning("sketchart: could not load the gwrite profiles: %s", exc)


_load_gwrite_profiles()
