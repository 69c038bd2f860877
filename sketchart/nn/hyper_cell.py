"""magenta's HyperLSTM cell (``rnn.HyperLSTMCell``) as a Keras layer: a small layer-norm
LSTM (256 units, embedding 32) whose output scales (and for the recurrent part also
shifts) each gate's contributions; state ``[h, hyper_h, c, hyper_c]``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from sketchart.nn.cell_base import SketchCell, layer_norm, layer_norm_gates, per_gate, read
from sketchart.nn.initializers import NumpyRandom, PerGateOrthogonal, seeded

__all__ = ["HyperLSTMCell"]


@keras.saving.register_keras_serializable(package="sketchart")
class HyperLSTMCell(SketchCell):
    """magenta's ``HyperLSTMCell`` with its fixed defaults (layer norm on, 256 hyper units,
    embedding 32, no recurrent dropout in the hyper cell); state ``[h, hyper_h, c, hyper_c]``.

    The eight ``hyper_norm`` blocks are stored stacked by gate (index 0..3 = i, j, f, o):
    ``hyper_x_zw_w [hyper_units, 4, emb]``, ``hyper_x_zw_b [4, emb]``,
    ``hyper_x_alpha [4, emb, H]`` for the input contributions and the same three plus
    ``hyper_h_zb [hyper_units, 4, emb]`` and ``hyper_h_beta [4, emb, H]`` for the recurrent
    ones. The hyper cell's weights are the ``hyper_*`` weights of a layer-norm LSTM whose
    input is ``[x, h]``.
    """

    output_index = 0
    # h's share of the hyper cell's input weights, the hyper cell's recurrence, the main one
    recurrent_products = ((0, "hyper_W_xh_h"), (1, "hyper_W_hh"), (0, "W_hh"))
    input_kernel_names = ("W_xh", "hyper_W_xh")

    def __init__(
        self,
        units: int,
        input_dim: int | None = None,
        hyper_num_units: int = 256,
        hyper_embedding_size: int = 32,
        **kwargs: Any,
    ) -> None:
        self.hyper_num_units = int(hyper_num_units)
        self.hyper_embedding_size = int(hyper_embedding_size)
        super().__init__(units, input_dim=input_dim, **kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            hyper_num_units=self.hyper_num_units,
            hyper_embedding_size=self.hyper_embedding_size,
        )
        return config

    def build(self, input_shape: Any) -> None:
        dim = self._check_built_input(input_shape)
        units, hu, emb = self.units, self.hyper_num_units, self.hyper_embedding_size
        add = self.add_weight
        self.W_xh = add(
            name="W_xh",
            shape=(dim, 4 * units),
            initializer=NumpyRandom(seed=seeded(self.seed, 5)),
        )
        self.W_hh = add(
            name="W_hh",
            shape=(units, 4 * units),
            initializer=PerGateOrthogonal(seeded(self.seed, 6)),
        )
        self.bias = add(name="bias", shape=(4 * units,), initializer="zeros")
        # the hyper cell: a layer-norm LSTM over [x, h]
        self.hyper_W_xh = add(
            name="hyper_W_xh",
            shape=(dim + units, 4 * hu),
            initializer=NumpyRandom(seed=seeded(self.seed, 7)),
        )
        self.hyper_W_hh = add(
            name="hyper_W_hh",
            shape=(hu, 4 * hu),
            initializer=PerGateOrthogonal(seeded(self.seed, 8)),
        )
        self.hyper_ln_all_gamma = add(
            name="hyper_ln_all_gamma", shape=(4 * hu,), initializer="ones"
        )
        self.hyper_ln_all_beta = add(
            name="hyper_ln_all_beta", shape=(4 * hu,), initializer="zeros"
        )
        self.hyper_ln_c_gamma = add(name="hyper_ln_c_gamma", shape=(hu,), initializer="ones")
        self.hyper_ln_c_beta = add(name="hyper_ln_c_beta", shape=(hu,), initializer="zeros")
        # hyper_norm blocks; init as the reference: zw 0 / bias 1, alpha 0.1/emb, zb N(0,.01)
        alpha_init = keras.initializers.Constant(0.1 / emb)
        self.hyper_x_zw_w = add(name="hyper_x_zw_w", shape=(hu, 4, emb), initializer="zeros")
        self.hyper_x_zw_b = add(name="hyper_x_zw_b", shape=(4, emb), initializer="ones")
        self.hyper_x_alpha = add(
            name="hyper_x_alpha", shape=(4, emb, units), initializer=alpha_init
        )
        self.hyper_h_zw_w = add(name="hyper_h_zw_w", shape=(hu, 4, emb), initializer="zeros")
        self.hyper_h_zw_b = add(name="hyper_h_zw_b", shape=(4, emb), initializer="ones")
        self.hyper_h_alpha = add(
            name="hyper_h_alpha", shape=(4, emb, units), initializer=alpha_init
        )
        self.hyper_h_zb = add(
            name="hyper_h_zb",
            shape=(hu, 4, emb),
            initializer=NumpyRandom("normal", 0.01, seeded(self.seed, 9)),
        )
        self.hyper_h_beta = add(
            name="hyper_h_beta", shape=(4, emb, units), initializer="zeros"
        )
        # main-cell layer norms (use_layer_norm=True in the reference)
        self.ln_all_gamma = add(name="ln_all_gamma", shape=(4 * units,), initializer="ones")
        self.ln_all_beta = add(name="ln_all_beta", shape=(4 * units,), initializer="zeros")
        self.ln_c_gamma = add(name="ln_c_gamma", shape=(units,), initializer="ones")
        self.ln_c_beta = add(name="ln_c_beta", shape=(units,), initializer="zeros")
        self.built = True

    @property
    def state_size(self) -> tuple[int, ...]:
        return (self.units, self.hyper_num_units, self.units, self.hyper_num_units)

    def output_of(self, state: Sequence[Any]) -> Any:
        return state[0]

    def project_inputs(self, x: Any, offset: int = 0, use_bias: bool = True) -> list[Any]:
        k = ops.shape(x)[-1]
        # x's share of the main W_xh (modulated per step, so no bias here) and of the
        # hyper cell's input weights (whose input is [x, h]: x takes the first rows)
        return [
            ops.matmul(x, self.in_compute(self.W_xh[offset : offset + k])),
            ops.matmul(x, self.in_compute(self.hyper_W_xh[offset : offset + k])),
        ]

    def step_weights(self) -> dict[str, Any]:
        units, hu, emb = self.units, self.hyper_num_units, self.hyper_embedding_size

        def t(variable: Any) -> Any:
            # everything but the recurrent products' weights takes part in the gate maths
            return read(variable, self.gate_dtype)

        return {
            "W_hh": self.read(self.W_hh),
            "bias": ops.reshape(t(self.bias), (4, units)),
            "hyper_W_xh_h": self.read(self.hyper_W_xh)[-units:],  # the rows that meet h
            "hyper_W_hh": self.read(self.hyper_W_hh),
            "hyper_ln_all_gamma": t(self.hyper_ln_all_gamma),
            "hyper_ln_all_beta": t(self.hyper_ln_all_beta),
            "hyper_ln_c_gamma": t(self.hyper_ln_c_gamma),
            "hyper_ln_c_beta": t(self.hyper_ln_c_beta),
            # the four gates' zw (and zb) projections as one matmul each
            "hyper_x_zw_w": ops.reshape(t(self.hyper_x_zw_w), (hu, 4 * emb)),
            "hyper_x_zw_b": t(self.hyper_x_zw_b),
            "hyper_x_alpha": t(self.hyper_x_alpha),
            "hyper_h_zw_w": ops.reshape(t(self.hyper_h_zw_w), (hu, 4 * emb)),
            "hyper_h_zw_b": t(self.hyper_h_zw_b),
            "hyper_h_alpha": t(self.hyper_h_alpha),
            "hyper_h_zb": ops.reshape(t(self.hyper_h_zb), (hu, 4 * emb)),
            "hyper_h_beta": t(self.hyper_h_beta),
            "ln_all_gamma": t(self.ln_all_gamma),
            "ln_all_beta": t(self.ln_all_beta),
            "ln_c_gamma": t(self.ln_c_gamma),
            "ln_c_beta": t(self.ln_c_beta),
        }

    def _hyper_scale(self, hyper_out: Any, zw_w: Any, zw_b: Any, alpha: Any) -> Any:
        """``alpha [B, 4, H]`` of four ``hyper_norm`` blocks at once."""
        zw = ops.reshape(ops.matmul(hyper_out, zw_w), (-1, 4, self.hyper_embedding_size))
        return per_gate(zw + zw_b, alpha)

    def step(
        self,
        projected: Sequence[Any],
        state: Sequence[Any],
        keep_mask: Any = None,
        weights: dict[str, Any] | None = None,
        products: Sequence[Any] | None = None,
    ) -> tuple[Any, list[Any]]:
        w = self.step_weights() if weights is None else weights
        units, hu, emb = self.units, self.hyper_num_units, self.hyper_embedding_size
        _, _, c, hyper_c = state
        xw, x_hyper = projected
        h_hyper, hyper_hh, hh = self._products(state, w, products)
        # hyper cell (layer-norm LSTM, never recurrent dropout) on [x, h]
        pre = self.gate_sum(x_hyper, h_hyper, hyper_hh)
        pre = layer_norm_gates(pre, w["hyper_ln_all_gamma"], w["hyper_ln_all_beta"], 4, hu)
        new_hyper_c, ho = self._cell_update(hyper_c, pre)
        new_hyper_h = ops.tanh(
            layer_norm(new_hyper_c, w["hyper_ln_c_gamma"], w["hyper_ln_c_beta"])
        ) * ops.sigmoid(ho)
        # main cell: hyper-modulated input and recurrent contributions, per gate
        alpha_x = self._hyper_scale(
            new_hyper_h, w["hyper_x_zw_w"], w["hyper_x_zw_b"], w["hyper_x_alpha"]
        )
        alpha_h = self._hyper_scale(
            new_hyper_h, w["hyper_h_zw_w"], w["hyper_h_zw_b"], w["hyper_h_alpha"]
        )
        zb = ops.reshape(ops.matmul(new_hyper_h, w["hyper_h_zb"]), (-1, 4, emb))
        beta_h = per_gate(zb, w["hyper_h_beta"])
        xg = ops.reshape(self.gate_sum(xw), (-1, 4, units))
        hg = ops.reshape(self.gate_sum(hh), (-1, 4, units))
        gates = alpha_x * xg + (alpha_h * hg + beta_h) + w["bias"]
        pre = ops.reshape(gates, (-1, 4 * units))
        pre = layer_norm_gates(pre, w["ln_all_gamma"], w["ln_all_beta"], 4, units)
        new_c, o = self._cell_update(c, pre, keep_mask)
        new_h = ops.tanh(layer_norm(new_c, w["ln_c_gamma"], w["ln_c_beta"])) * ops.sigmoid(o)
        new_h, new_hyper_h = self.in_compute(new_h), self.in_compute(new_hyper_h)
        return new_h, [new_h, new_hyper_h, new_c, new_hyper_c]


#: cell name (hparams ``enc_model`` / ``dec_model``) -> class
