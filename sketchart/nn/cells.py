"""Recurrent cells of magenta's sketch_rnn (``rnn.py``) as Keras 3 layers.

Three cells, each reproducing the reference's arithmetic exactly:

* :class:`LSTMCell` -- gates ``i, j, f, o`` (``j`` is the candidate), forget bias added
  inside the sigmoid at run time, state ``[c, h]``;
* :class:`LayerNormLSTMCell` -- no bias, per-gate layer norm of the pre-activations and a
  layer norm of ``c`` before the output ``tanh`` (epsilon 1e-3), state ``[h, c]``;
* :class:`HyperLSTMCell` -- a small layer-norm LSTM (256 units, embedding 32) whose output
  scales (and for the recurrent part also shifts) each gate's contributions; state
  ``[h, hyper_h, c, hyper_c]``.

Weights keep the reference's layout (separate ``W_xh``, ``W_hh``, ``bias``; gates in the
order i, j, f, o; forget bias *not* folded into the bias) so that converters from TF1
checkpoints and sketch-rnn-js files stay one-to-one.

Recurrent dropout is "without memory loss" (Semeniuta et al. 2016): a fresh mask per step
and per example on the candidate ``tanh(j)`` only, as the reference's ``tf.nn.dropout``
inside the cell.

The cells are split in two phases so that the model can run them fast: ``project_inputs``
computes every input-dependent matrix product for all time steps at once (one matmul
before the recurrence, teacher forcing), and ``step`` does the per-step recurrent work.
``call`` chains both for a single step (sampling, tests).

All maths is ``keras.ops``: the same code runs on the TensorFlow and JAX backends.
"""

from __future__ import annotations

from typing import Any

from sketchart.nn.cell_base import LN_EPSILON, SketchCell
from sketchart.nn.hyper_cell import HyperLSTMCell
from sketchart.nn.initializers import NumpyRandom, PerGateOrthogonal, weights_will_be_loaded
from sketchart.nn.lstm_cells import LayerNormLSTMCell, LSTMCell

__all__ = [
    "CELL_CLASSES",
    "LN_EPSILON",
    "HyperLSTMCell",
    "LSTMCell",
    "LayerNormLSTMCell",
    "NumpyRandom",
    "PerGateOrthogonal",
    "SketchCell",
    "make_cell",
    "weights_will_be_loaded",
]

CELL_CLASSES: dict[str, type[SketchCell]] = {
    "lstm": LSTMCell,
    "layer_norm": LayerNormLSTMCell,
    "hyper": HyperLSTMCell,
}


def make_cell(kind: str, units: int, input_dim: int, **kwargs: Any) -> SketchCell:
    """Build the cell named ``kind`` (``lstm``, ``layer_norm``, ``hyper``)."""
    from sketchart.errors import SketchartError

    try:
        cls = CELL_CLASSES[kind]
    except KeyError:
        raise SketchartError(
            f"unknown cell {kind!r}: expected one of {', '.join(CELL_CLASSES)}"
        ) from None
    return cls(units, input_dim=input_dim, **kwargs)
