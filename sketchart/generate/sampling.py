"""Sampling and latent-space operations: the public API, implemented in
:mod:`~sketchart.generate.draw`, :mod:`~sketchart.generate.latent`,
:mod:`~sketchart.generate.completion` and :mod:`~sketchart.generate.loops`.

Every function takes either engine's model:

* a :class:`~sketchart.generate.numpy_engine.NumpySketchRNN` (what
  :func:`sketchart.load_model` returns): NumPy only, no TensorFlow, Keras or JAX imported;
  one array program per step for the whole batch;
* a Keras :class:`~sketchart.nn.model.SketchRNN` (``load_model(name, engine="keras")``):
  all ``n`` sketches of a call advance together through one compiled loop (a
  ``tf.function`` around ``tf.while_loop`` on TensorFlow, ``jax.jit`` around
  ``lax.while_loop`` on JAX) that calls the model's own ``decoder_step`` and stops as soon
  as every sketch has drawn its end state: faster for large batches and on a GPU.

Random numbers come from one ``numpy.random.Generator(PCG64(seed))``, drawn up front in the
order :mod:`~sketchart.generate.numpy_sampler` documents, and both engines read the same
arrays: a seed draws the same drawing on NumPy, TensorFlow and JAX, on CPU or GPU, up to
float rounding (which, rarely, flips a discrete choice).

Temperature conventions (``temperature_mode``):

* ``"js"`` (default, magenta-js / sketch-rnn-js / ml5): pen and mixture logits are divided
  by a softmax temperature ``0.5 + 0.5·T`` (``softmax_temperature`` overrides it), sigma
  is multiplied by ``sqrt(T)``;
* ``"paper"``: logits / T, variance × T (sigma × ``sqrt(T)``);
* ``"reference"`` (magenta's Python ``sample()``): logits / T, sigma × T.

Drawings go in and come out as stroke-3 in dataset units (the model's offsets multiplied by
``model.meta.scale_factor``). Importing this module imports no Keras.
"""

from __future__ import annotations

from sketchart.generate.common import (
    REDRAW_ROUNDS,
    TEMPERATURE_MODES,
    AnyModel,
    SampleError,
    draws_a_line,
    lerp,
    slerp,
    temperature_factors,
)
from sketchart.generate.common import _to_numpy as _to_numpy
from sketchart.generate.completion import complete, next_pdf
from sketchart.generate.draw import Seed, decode, encode, reconstruct, sample
from sketchart.generate.latent import grid, interpolate
from sketchart.generate.loops import PLAIN_TF_BATCHES

# the loops' internals, for the tests of the loops and of the NumPy engine
from sketchart.generate.loops import _loop_for as _loop_for
from sketchart.generate.loops import _run_loop as _run_loop
from sketchart.generate.loops import _step_function as _step_function

__all__ = [
    "PLAIN_TF_BATCHES",
    "REDRAW_ROUNDS",
    "TEMPERATURE_MODES",
    "AnyModel",
    "SampleError",
    "Seed",
    "complete",
    "decode",
    "draws_a_line",
    "encode",
    "grid",
    "interpolate",
    "lerp",
    "next_pdf",
    "reconstruct",
    "sample",
    "slerp",
    "temperature_factors",
]
