"""magenta's LSTM cell (``rnn.LSTMCell``) and layer-norm LSTM cell
(``rnn.LayerNormLSTMCell``) as Keras layers.

* :class:`LSTMCell` -- gates ``i, j, f, o`` (``j`` is the candidate), forget bias added
  inside the sigmoid at run time, state ``[c, h]``;
* :class:`LayerNormLSTMCell` -- no bias, per-gate layer norm of the pre-activations and a
  layer norm of ``c`` before the output ``tanh`` (epsilon 1e-3), state ``[h, c]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from sketchart.nn.cell_base import SketchCell, layer_norm, layer_norm_gates, read
from sketchart.nn.initializers import NumpyRandom, PerGateOrthogonal, seeded

__all__ = ["LSTMCell", "LayerNormLSTMCell"]


def _gate_weights(cell: SketchCell, input_shape: Any, seeds: tuple[int, int]
                  ) -> tuple[Any, Any]:
    """magenta's ``W_xh [input, 4 units]`` (seeded random) and ``W_hh [units, 4 units]``
    (orthogonal per gate), created in that order from the cell's seed streams ``seeds``."""
    dim = cell._check_built_input(input_shape)
    n = 4 * cell.units
    w_xh = cell.add_weight(
        name="W_xh", shape=(dim, n), initializer=NumpyRandom(seed=seeded(cell.seed, seeds[0]))
    )
    w_hh = cell.add_weight(
        name="W_hh", shape=(cell.units, n),
        initializer=PerGateOrthogonal(seeded(cell.seed, seeds[1])),
    )
    return w_xh, w_hh


@keras.saving.register_keras_serializable(package="sketchart")
class LSTMCell(SketchCell):
    """magenta's ``LSTMCell``: ``[i,j,f,o] = [x,h] @ [W_xh; W_hh] + bias``; state
    ``[c, h]``."""

    output_index = 1
    recurrent_products = ((1, "W_hh"),)
    input_products = ((0, 0),)

    def build(self, input_shape: Any) -> None:
        n = 4 * self.units
        self.W_xh, self.W_hh = _gate_weights(self, input_shape, (1, 2))
        self.bias = self.add_weight(name="bias", shape=(n,), initializer="zeros")
        self.built = True

    @property
    def state_size(self) -> tuple[int, ...]:
        return (self.units, self.units)

    def project_inputs(self, x: Any, offset: int = 0, use_bias: bool = True) -> list[Any]:
        w = self.in_compute(self.W_xh[offset : offset + ops.shape(x)[-1]])
        xw = ops.matmul(x, w)
        # the bias rides with the input projection: added once, outside the recurrence
        return [xw + self.in_compute(self.bias) if use_bias else xw]

    def step_weights(self) -> dict[str, Any]:
        return {"W_hh": self.read(self.W_hh)}

    def step(
        self,
        projected: Sequence[Any],
        state: Sequence[Any],
        keep_mask: Any = None,
        weights: dict[str, Any] | None = None,
        products: Sequence[Any] | None = None,
    ) -> tuple[Any, list[Any]]:
        w = self.step_weights() if weights is None else weights
        c, _ = state
        (hh,) = self._products(state, w, products)
        new_c, o = self._cell_update(c, self.gate_sum(projected[0], hh), keep_mask)
        new_h = self.in_compute(ops.tanh(new_c) * ops.sigmoid(o))
        return new_h, [new_c, new_h]


@keras.saving.register_keras_serializable(package="sketchart")
class LayerNormLSTMCell(SketchCell):
    """magenta's ``LayerNormLSTMCell``: no bias, per-gate LN, LN on ``c``; state ``[h, c]``."""

    output_index = 0
    recurrent_products = ((0, "W_hh"),)
    input_products = ((0, 0),)

    def build(self, input_shape: Any) -> None:
        n = 4 * self.units
        self.W_xh, self.W_hh = _gate_weights(self, input_shape, (3, 4))
        self.ln_all_gamma = self.add_weight(
            name="ln_all_gamma", shape=(n,), initializer="ones"
        )
        self.ln_all_beta = self.add_weight(name="ln_all_beta", shape=(n,), initializer="zeros")
        self.ln_c_gamma = self.add_weight(
            name="ln_c_gamma", shape=(self.units,), initializer="ones"
        )
        self.ln_c_beta = self.add_weight(
            name="ln_c_beta", shape=(self.units,), initializer="zeros"
        )
        self.built = True

    @property
    def state_size(self) -> tuple[int, ...]:
        return (self.units, self.units)

    def project_inputs(self, x: Any, offset: int = 0, use_bias: bool = True) -> list[Any]:
        # the reference has no bias here ("live life without garbage"): use_bias is moot
        return [ops.matmul(x, self.in_compute(self.W_xh[offset : offset + ops.shape(x)[-1]]))]

    def step_weights(self) -> dict[str, Any]:
        norms = ("ln_all_gamma", "ln_all_beta", "ln_c_gamma", "ln_c_beta")
        return {"W_hh": self.read(self.W_hh)} | {
            n: read(getattr(self, n), self.gate_dtype) for n in norms
        }

    def step(
        self,
        projected: Sequence[Any],
        state: Sequence[Any],
        keep_mask: Any = None,
        weights: dict[str, Any] | None = None,
        products: Sequence[Any] | None = None,
    ) -> tuple[Any, list[Any]]:
        w = self.step_weights() if weights is None else weights
        _, c = state
        (hh,) = self._products(state, w, products)
        pre = self.gate_sum(projected[0], hh)
        pre = layer_norm_gates(pre, w["ln_all_gamma"], w["ln_all_beta"], 4, self.units)
        new_c, o = self._cell_update(c, pre, keep_mask)
        new_h = ops.tanh(layer_norm(new_c, w["ln_c_gamma"], w["ln_c_beta"])) * ops.sigmoid(o)
        new_h = self.in_compute(new_h)
        return new_h, [new_h, new_c]
