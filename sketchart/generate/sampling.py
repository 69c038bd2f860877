"""Sampling and latent-space operations on a :class:`~sketchart.nn.model.SketchRNN`: the
public API, implemented in :mod:`~sketchart.generate.draw`, :mod:`~sketchart.generate.latent`,
:mod:`~sketchart.generate.completion` and :mod:`~sketchart.generate.loops`.

All ``n`` sketches of a call advance together through one compiled loop (a ``tf.function``
around ``tf.while_loop`` on TensorFlow, ``jax.jit`` around ``lax.while_loop`` on JAX) that
calls the model's own ``decoder_step`` and stops as soon as every sketch has drawn its end
state. Random numbers are drawn up front from NumPy (``np.random.default_rng(seed)``) and
fed to the loop, so a seed gives the same draws on every backend; the sampled points agree
across backends until float rounding changes a discrete choice.

Temperature conventions (``temperature_mode``):

* ``"js"`` (default, magenta-js / sketch-rnn-js / ml5): pen and mixture logits are divided
  by a softmax temperature ``0.5 + 0.5·T`` (``softmax_temperature`` overrides it), sigma
  is multiplied by ``sqrt(T)``;
* ``"paper"``: logits / T, variance × T (sigma × ``sqrt(T)``);
* ``"reference"`` (magenta's Python ``sample()``): logits / T, sigma × T.

Drawings go in and come out as stroke-3 in dataset units (the model's offsets multiplied by
``model.meta.scale_factor``).
"""

from __future__ import annotations

from sketchart.generate.common import (
    REDRAW_ROUNDS,
    TEMPERATURE_MODES,
    SampleError,
    temperature_factors,
)
from sketchart.generate.common import _to_numpy as _to_numpy
from sketchart.generate.completion import complete, next_pdf
from sketchart.generate.draw import decode, draws_a_line, encode, reconstruct, sample
from sketchart.generate.latent import grid, interpolate, lerp, slerp
from sketchart.generate.loops import PLAIN_TF_BATCHES

# the loops' internals, for the tests of the loops and of the NumPy engine
from sketchart.generate.loops import _Draws as _Draws
from sketchart.generate.loops import _loop_for as _loop_for
from sketchart.generate.loops import _run_loop as _run_loop
from sketchart.generate.loops import _step_function as _step_function

__all__ = [
    "PLAIN_TF_BATCHES",
    "REDRAW_ROUNDS",
    "TEMPERATURE_MODES",
    "SampleError",
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

