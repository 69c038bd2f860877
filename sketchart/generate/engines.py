"""Choosing the engine that draws: ``numpy`` (default), ``tensorflow`` or ``jax``.

The NumPy engine imports neither Keras nor a framework. The other two are the Keras
``SketchRNN`` with its compiled sampler on that Keras backend, which must be chosen before
Keras is imported (``KERAS_BACKEND``): :func:`use_engine` sets it, or says in one line why
it cannot. Importing this module imports the standard library only.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from sketchart.generate.common import SampleError

__all__ = ["ENGINES", "use_engine"]

#: The engines of ``--engine`` (and ``load_model(engine=...)``, which also takes ``keras``).
ENGINES = ("numpy", "tensorflow", "jax")


def use_engine(engine: str) -> str:
    """Prepare ``engine``; returns what ``load_model(engine=...)`` should load.

    ``numpy`` needs nothing (returns ``"numpy"``). ``tensorflow`` / ``jax`` set
    ``KERAS_BACKEND`` when Keras is not imported yet (returns ``"keras"``).

    Raises:
        SampleError: an unknown engine; Keras already imported with another backend; JAX
            (or TensorFlow) not installed.
    """
    if engine == "numpy":
        return "numpy"
    if engine not in ENGINES:
        raise SampleError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != engine:
            raise SampleError(
                f"engine {engine}: Keras is already loaded with the {current} backend in "
                f"this process; set KERAS_BACKEND={engine} before it starts")
        return "keras"
    if importlib.util.find_spec(engine) is None:
        raise SampleError(f"engine {engine}: {engine} is not installed "
                          f"(pip install {engine}), or use --engine numpy")
    os.environ["KERAS_BACKEND"] = engine
    return "keras"
