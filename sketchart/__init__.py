"""sketchart: Sketch-RNN for generative art and pen plotters.

Importing ``sketchart`` never imports TensorFlow or Keras: the plotting side (vpype loads
every plugin on every call) must stay fast. Names backed by the model are loaded lazily
on first use (PEP 562). Drawing does not import them either::

    import sketchart
    model = sketchart.load_model("flamingo")       # the NumPy engine (no TensorFlow)
    drawings = sketchart.sample(model, n=16, temperature=0.4, seed=7)

``sketchart.load_model(name, engine="keras")`` gives the Keras ``SketchRNN`` (training,
export, the compiled TensorFlow/JAX samplers); every sampling function takes either, and a
seed draws the same drawing on both.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sketchart.hparams import HParams, HParamsError

try:
    __version__ = version("sketchart")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

# name -> module that defines it; imported on first attribute access
_LAZY = {
    "SketchRNN": "sketchart.nn.model",
    "NumpySketchRNN": "sketchart.generate.numpy_engine",
    "load_model": "sketchart.hub.store",
    "sample": "sketchart.generate.sampling",
    "encode": "sketchart.generate.sampling",
    "decode": "sketchart.generate.sampling",
    "reconstruct": "sketchart.generate.sampling",
    "interpolate": "sketchart.generate.sampling",
    "grid": "sketchart.generate.sampling",
    "complete": "sketchart.generate.sampling",
    "train": "sketchart.training.trainer",
}

__all__ = ["HParams", "HParamsError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sketchart' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
