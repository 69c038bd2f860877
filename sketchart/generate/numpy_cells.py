"""The three recurrent cells of magenta's sketch_rnn in plain NumPy (float32), for inference.

The same maths, in the same order of operations where it matters, as the Keras cells in
``sketchart.nn.cells`` (read them for the reference's layout): gates ``i, j, f, o``, forget
bias ``+1`` inside the sigmoid at run time, layer-norm epsilon ``1e-3``. States keep the
Keras cells' layouts:

* ``lstm`` -- ``[c, h]``;
* ``layer_norm`` -- ``[h, c]``;
* ``hyper`` -- ``[h, hyper_h, c, hyper_c]`` (256 hyper units, embedding 32).

Each cell splits its work like the Keras one: :meth:`NumpyCell.project` computes every
product with the input weights (for any number of steps at once), :meth:`NumpyCell.step`
does one step of recurrent work from those projections. No dropout: inference only.

Weights are held by their Keras names (``W_xh``, ``W_hh``, ``bias``, ``ln_all_gamma``, ...,
the ``hyper_*`` blocks stacked by gate); :func:`cell_shapes` gives each one's shape, in the
order the Keras layer creates them (which is the ``<layer>/vars/<i>`` order of a
``model.weights.h5`` file).

Importing this module imports NumPy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "CELL_KINDS",
    "FORGET_BIAS",
    "HYPER_EMBEDDING",
    "HYPER_UNITS",
    "LN_EPSILON",
    "NumpyCell",
    "cell_shapes",
    "make_numpy_cell",
]

#: the reference's layer-norm epsilon (inside the square root); Python floats, which NumPy 2
#: casts to the arrays' dtype (float32 stays float32)
LN_EPSILON = 1e-3
#: added inside the forget gate's sigmoid at run time (magenta's default)
FORGET_BIAS = 1.0
#: HyperLSTM's fixed sizes in magenta's sketch_rnn
HYPER_UNITS = 256
HYPER_EMBEDDING = 32
#: cell names as in ``HParams.enc_model`` / ``dec_model``
CELL_KINDS = ("lstm", "layer_norm", "hyper")

Array = np.ndarray


def cell_shapes(kind: str, units: int, input_dim: int) -> dict[str, tuple[int, ...]]:
    """``{weight name: shape}`` of a cell, in the Keras layer's creation order."""
    n = 4 * units
    if kind == "lstm":
        return {"W_xh": (input_dim, n), "W_hh": (units, n), "bias": (n,)}
    ln = {"ln_all_gamma": (n,), "ln_all_beta": (n,), "ln_c_gamma": (units,),
          "ln_c_beta": (units,)}
    if kind == "layer_norm":
        return {"W_xh": (input_dim, n), "W_hh": (units, n), **ln}
    if kind == "hyper":
        hu, emb = HYPER_UNITS, HYPER_EMBEDDING
        return {
            "W_xh": (input_dim, n), "W_hh": (units, n), "bias": (n,),
            "hyper_W_xh": (input_dim + units, 4 * hu), "hyper_W_hh": (hu, 4 * hu),
            "hyper_ln_all_gamma": (4 * hu,), "hyper_ln_all_beta": (4 * hu,),
            "hyper_ln_c_gamma": (hu,), "hyper_ln_c_beta": (hu,),
            "hyper_x_zw_w": (hu, 4, emb), "hyper_x_zw_b": (4, emb),
            "hyper_x_alpha": (4, emb, units),
            "hyper_h_zw_w": (hu, 4, emb), "hyper_h_zw_b": (4, emb),
            "hyper_h_alpha": (4, emb, units),
            "hyper_h_zb": (hu, 4, emb), "hyper_h_beta": (4, emb, units),
            **ln,
        }
    raise ValueError(f"unknown cell {kind!r}: expected one of {', '.join(CELL_KINDS)}")


def _sigmoid(x: Array) -> Array:
    # 1 / (1 + exp(-x)) as Keras' ops.sigmoid; exp overflowing to inf for very negative x
    # gives the right limit, 0
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _layer_norm_gates(x: Array, gamma: Array, beta: Array, gates: int) -> Array:
    """``rnn.layer_norm_all``: each gate block of ``x [B, gates*H]`` normalised on its own."""
    shape = x.shape
    xr = x.reshape(shape[0], gates, -1)
    shifted = xr - xr.mean(axis=2, keepdims=True)
    var = np.square(shifted).mean(axis=2, keepdims=True)
    xr = shifted * (1.0 / np.sqrt(var + LN_EPSILON))
    return xr.reshape(shape) * gamma + beta


def _layer_norm(x: Array, gamma: Array, beta: Array) -> Array:
    """``rnn.layer_norm`` over the last axis (biased variance, epsilon 1e-3)."""
    shifted = x - x.mean(axis=-1, keepdims=True)
    var = np.square(shifted).mean(axis=-1, keepdims=True)
    return gamma * shifted * (1.0 / np.sqrt(var + LN_EPSILON)) + beta


def _per_gate(z: Array, weight: Array) -> Array:
    """``einsum("bgk,gkh->bgh")``: each gate's ``z [B, k] @ weight[g] [k, H]``."""
    return np.matmul(z.transpose(1, 0, 2), weight).transpose(1, 0, 2)


class NumpyCell:
    """One recurrent cell's weights and maths (see the module docstring).

    Args:
        kind: ``lstm``, ``layer_norm`` or ``hyper``.
        weights: name -> array (Keras names); converted to contiguous ``dtype``.
        dtype: float32 (inference); float64 serves tests of the maths.
    """

    def __init__(self, kind: str, weights: Mapping[str, Array],
                 dtype: type = np.float32) -> None:
        self.kind = kind
        self.dtype = dtype
        self.w: dict[str, np.ndarray] = {
            k: np.ascontiguousarray(v, dtype=dtype) for k, v in weights.items()}
        self.units = int(self.w["W_hh"].shape[0])
        self.input_dim = int(self.w["W_xh"].shape[0])
        expected = cell_shapes(kind, self.units, self.input_dim)
        for name, shape in expected.items():
            got = self.w.get(name)
            if got is None or got.shape != shape:
                what = "missing" if got is None else f"shape {list(got.shape)}"
                raise ValueError(
                    f"{kind} cell: weight {name} is {what}, expected {list(shape)}")
        units = self.units
        if kind == "hyper":
            hu, emb = HYPER_UNITS, HYPER_EMBEDDING
            w = self.w
            # the layouts the step multiplies with (as the Keras cell's step_weights)
            w["bias4"] = w["bias"].reshape(4, units)
            w["hyper_W_xh_h"] = np.ascontiguousarray(w["hyper_W_xh"][-units:])
            for name in ("hyper_x_zw_w", "hyper_h_zw_w", "hyper_h_zb"):
                w[name + "_2d"] = w[name].reshape(hu, 4 * emb)

    # ----------------------------------------------------------------- layout
    @property
    def state_size(self) -> tuple[int, ...]:
        """Sizes of the state parts, in the reference's concatenation order."""
        if self.kind == "hyper":
            return (self.units, HYPER_UNITS, self.units, HYPER_UNITS)
        return (self.units, self.units)

    @property
    def output_index(self) -> int:
        """Index of ``h`` in the state."""
        return 1 if self.kind == "lstm" else 0

    def zero_state(self, batch: int) -> list[Array]:
        return [np.zeros((batch, n), self.dtype) for n in self.state_size]

    def split_state(self, flat: Array) -> list[Array]:
        """Split ``[B, sum(state_size)]`` (the reference's layout) into the state parts."""
        out, start = [], 0
        for n in self.state_size:
            out.append(np.ascontiguousarray(flat[:, start:start + n]))
            start += n
        return out

    # ------------------------------------------------------------------ maths
    def project(self, x: Array, offset: int = 0, use_bias: bool = True) -> list[Array]:
        """Every product of ``x [..., k]`` with rows ``offset:offset+k`` of the input weights.

        The LSTM's bias rides with its projection (as in Keras' ``project_inputs``); the
        other cells have none there.
        """
        k = x.shape[-1]
        out = [x @ self.w["W_xh"][offset:offset + k]]
        if self.kind == "lstm" and use_bias:
            out[0] = out[0] + self.w["bias"]
        if self.kind == "hyper":
            out.append(x @ self.w["hyper_W_xh"][offset:offset + k])
        return out

    def step(self, projected: Sequence[Array], state: Sequence[Array],
             ) -> tuple[Array, list[Array]]:
        """One step from the projected inputs; returns ``(h, new_state)``."""
        if self.kind == "lstm":
            return self._lstm(projected, state)
        if self.kind == "layer_norm":
            return self._layer_norm(projected, state)
        return self._hyper(projected, state)

    def _lstm(self, projected: Sequence[Array], state: Sequence[Array],
              ) -> tuple[Array, list]:
        c, h = state
        hidden = projected[0] + h @ self.w["W_hh"]
        i, j, f, o = np.split(hidden, 4, axis=-1)
        new_c = c * _sigmoid(f + FORGET_BIAS) + _sigmoid(i) * np.tanh(j)
        new_h = np.tanh(new_c) * _sigmoid(o)
        return new_h, [new_c, new_h]

    def _layer_norm(self, projected: Sequence[Array], state: Sequence[Array],
                    ) -> tuple[Array, list]:
        w = self.w
        h, c = state
        pre = projected[0] + h @ w["W_hh"]
        pre = _layer_norm_gates(pre, w["ln_all_gamma"], w["ln_all_beta"], 4)
        i, j, f, o = np.split(pre, 4, axis=-1)
        new_c = c * _sigmoid(f + FORGET_BIAS) + _sigmoid(i) * np.tanh(j)
        new_h = np.tanh(_layer_norm(new_c, w["ln_c_gamma"], w["ln_c_beta"])) * _sigmoid(o)
        return new_h, [new_h, new_c]

    def _hyper_scale(self, hyper_out: Array, prefix: str) -> Array:
        """``alpha [B, 4, H]`` of four ``hyper_norm`` blocks at once."""
        w = self.w
        zw = (hyper_out @ w[prefix + "_zw_w_2d"]).reshape(-1, 4, HYPER_EMBEDDING)
        return _per_gate(zw + w[prefix + "_zw_b"], w[prefix + "_alpha"])

    def _hyper(self, projected: Sequence[Array], state: Sequence[Array],
               ) -> tuple[Array, list]:
        w, units = self.w, self.units
        h, hyper_h, c, hyper_c = state
        xw, x_hyper = projected
        # the hyper cell: a layer-norm LSTM over [x, h], never dropout
        pre = x_hyper + h @ w["hyper_W_xh_h"] + hyper_h @ w["hyper_W_hh"]
        pre = _layer_norm_gates(pre, w["hyper_ln_all_gamma"], w["hyper_ln_all_beta"], 4)
        hi, hj, hf, ho = np.split(pre, 4, axis=-1)
        new_hyper_c = hyper_c * _sigmoid(hf + FORGET_BIAS) + _sigmoid(hi) * np.tanh(hj)
        new_hyper_h = np.tanh(
            _layer_norm(new_hyper_c, w["hyper_ln_c_gamma"], w["hyper_ln_c_beta"])
        ) * _sigmoid(ho)
        # the main cell: hyper-modulated input and recurrent contributions, per gate
        hh = h @ w["W_hh"]
        alpha_x = self._hyper_scale(new_hyper_h, "hyper_x")
        alpha_h = self._hyper_scale(new_hyper_h, "hyper_h")
        zb = (new_hyper_h @ w["hyper_h_zb_2d"]).reshape(-1, 4, HYPER_EMBEDDING)
        beta_h = _per_gate(zb, w["hyper_h_beta"])
        xg = xw.reshape(-1, 4, units)
        hg = hh.reshape(-1, 4, units)
        gates = alpha_x * xg + (alpha_h * hg + beta_h) + w["bias4"]
        pre = _layer_norm_gates(gates.reshape(-1, 4 * units), w["ln_all_gamma"],
                                w["ln_all_beta"], 4)
        i, j, f, o = np.split(pre, 4, axis=-1)
        new_c = c * _sigmoid(f + FORGET_BIAS) + _sigmoid(i) * np.tanh(j)
        new_h = np.tanh(_layer_norm(new_c, w["ln_c_gamma"], w["ln_c_beta"])) * _sigmoid(o)
        return new_h, [new_h, new_hyper_h, new_c, new_hyper_c]


def make_numpy_cell(kind: str, weights: Mapping[str, Array],
                    dtype: type = np.float32) -> NumpyCell:
    """A :class:`NumpyCell` of ``kind`` (``lstm``, ``layer_norm``, ``hyper``)."""
    if kind not in CELL_KINDS:
        raise ValueError(f"unknown cell {kind!r}: expected one of {', '.join(CELL_KINDS)}")
    return NumpyCell(kind, weights, dtype)
