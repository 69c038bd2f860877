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

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

__all__ = [
    "CELL_CLASSES",
    "HyperLSTMCell",
    "LSTMCell",
    "LayerNormLSTMCell",
    "NumpyRandom",
    "PerGateOrthogonal",
    "SketchCell",
    "make_cell",
    "weights_will_be_loaded",
]

#: Layer-norm epsilon of the reference (``rnn.layer_norm_all`` / ``rnn.layer_norm``).
LN_EPSILON = 1e-3


# Set while a model is built only to receive loaded weights: drawing random values (four
# QR decompositions per LSTM) would be thrown away, and costs seconds on a busy CPU.
_LOADING = contextvars.ContextVar("sketchart_loading_weights", default=False)


@contextlib.contextmanager
def weights_will_be_loaded() -> Iterator[None]:
    """Within this block the project's initialisers return zeros instead of random draws.

    Use it around ``SketchRNN(hps)`` when every weight is overwritten right after.
    """
    token = _LOADING.set(True)
    try:
        yield
    finally:
        _LOADING.reset(token)


@keras.saving.register_keras_serializable(package="sketchart")
class PerGateOrthogonal(keras.initializers.Initializer):
    """The reference's ``lstm_ortho_initializer``: one independent orthogonal block per gate.

    ``shape`` is ``[n, 4 * n]``; each ``[n, n]`` block is an orthogonal matrix (the
    reference orthogonalises each gate separately rather than the whole matrix).
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> Any:
        # NumPy, like the reference's rnn.orthogonal (which takes the SVD of a Gaussian
        # matrix; a sign-corrected QR gives the same Haar distribution, faster). On JAX
        # this is also much faster than Keras' Orthogonal, which compiles per shape.
        if _LOADING.get():
            return ops.zeros(tuple(int(n) for n in shape), dtype=dtype or "float32")
        rows, cols = int(shape[0]), int(shape[1])
        block = cols // 4
        rng = np.random.default_rng(self.seed)
        blocks = []
        for _ in range(4):
            a = rng.normal(0.0, 1.0, (max(rows, block), min(rows, block)))
            q, r = np.linalg.qr(a)
            q = q * np.sign(np.diag(r))
            blocks.append(q if rows >= block else q.T)
        return ops.convert_to_tensor(np.concatenate(blocks, axis=1), dtype=dtype or "float32")

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="sketchart")
class NumpyRandom(keras.initializers.Initializer):
    """``glorot_uniform`` or ``normal(stddev)`` drawn with NumPy.

    The same distributions as Keras' initializers (and TF1's defaults in the reference);
    NumPy because on the JAX backend every new weight shape would otherwise compile a
    random kernel (seconds per model on a small CPU).
    """

    def __init__(
        self, kind: str = "glorot_uniform", stddev: float = 1.0, seed: int | None = None
    ) -> None:
        if kind not in ("glorot_uniform", "normal"):
            raise ValueError(f"NumpyRandom: unknown kind {kind!r}")
        self.kind = kind
        self.stddev = float(stddev)
        self.seed = seed

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> Any:
        shape = tuple(int(n) for n in shape)
        if _LOADING.get():
            return ops.zeros(shape, dtype=dtype or "float32")
        rng = np.random.default_rng(self.seed)
        if self.kind == "normal":
            values = rng.normal(0.0, self.stddev, shape)
        else:
            # TF1 / Keras fans: a 1-D shape (magenta's output bias) has fan_in = fan_out = n
            fan_in = shape[0] if len(shape) == 1 else int(np.prod(shape[:-1]))
            fan_out = shape[0] if len(shape) == 1 else shape[-1]
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            values = rng.uniform(-limit, limit, shape)
        return ops.convert_to_tensor(values, dtype=dtype or "float32")

    def get_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "stddev": self.stddev, "seed": self.seed}


def _seeded(seed: int | None, k: int) -> int | None:
    return None if seed is None else seed * 1000 + k


def _read(variable: Any) -> Any:
    """A variable's current value as a backend tensor (read once; on TensorFlow
    ``convert_to_tensor`` of a variable returns the variable itself, hence the copy)."""
    return ops.copy(getattr(variable, "value", variable))


def _layer_norm_gates(x: Any, gamma: Any, beta: Any, gates: int, units: int) -> Any:
    """``rnn.layer_norm_all``: normalise each gate block of ``x [B, gates*units]`` on its
    own."""
    shape = ops.shape(x)
    xr = ops.reshape(x, (-1, gates, units))
    shifted = xr - ops.mean(xr, axis=2, keepdims=True)
    var = ops.mean(ops.square(shifted), axis=2, keepdims=True)
    xr = shifted * ops.rsqrt(var + LN_EPSILON)
    return ops.reshape(xr, shape) * gamma + beta


def _per_gate(z: Any, weight: Any) -> Any:
    """``einsum("bgk,gkh->bgh", z, weight)``: each gate's ``z [B, k] @ weight[g] [k, H]``.

    As a batched matmul over the gates (``[G, B, k] @ [G, k, H]``, transposed in and out):
    TensorFlow's CPU ``Einsum`` kernel runs on one thread, so on two this took half the
    time, forward and gradient, when the step ran op by op (under XLA, the training
    default, both compile alike).
    """
    out = ops.matmul(ops.transpose(z, (1, 0, 2)), weight)
    return ops.transpose(out, (1, 0, 2))


def _layer_norm(x: Any, gamma: Any, beta: Any) -> Any:
    """``rnn.layer_norm`` over the last axis (biased variance, epsilon 1e-3)."""
    mean = ops.mean(x, axis=-1, keepdims=True)
    shifted = x - mean
    var = ops.mean(ops.square(shifted), axis=-1, keepdims=True)
    return gamma * shifted * ops.rsqrt(var + LN_EPSILON) + beta


class SketchCell(keras.layers.Layer):
    """Common part of the three cells: config, dropout masks, one-step ``call``.

    Args:
        units: number of hidden units ``H``.
        input_dim: size of the per-step input; when given the weights are built at once.
        use_recurrent_dropout: drop the candidate ``tanh(j)`` when called with
            ``training=True``.
        recurrent_dropout_prob: *keep* probability (magenta's meaning).
        forget_bias: added inside the forget-gate sigmoid at run time (1.0 in magenta).
        seed: seed of the dropout-mask generator.
    """

    #: index, in ``state_size``, of the state part that is the output ``h``
    output_index = 0

    def __init__(
        self,
        units: int,
        input_dim: int | None = None,
        use_recurrent_dropout: bool = False,
        recurrent_dropout_prob: float = 0.9,
        forget_bias: float = 1.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.input_dim = None if input_dim is None else int(input_dim)
        self.use_recurrent_dropout = bool(use_recurrent_dropout)
        self.recurrent_dropout_prob = float(recurrent_dropout_prob)
        self.forget_bias = float(forget_bias)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        if self.input_dim is not None:
            self.build((None, self.input_dim))

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            units=self.units,
            input_dim=self.input_dim,
            use_recurrent_dropout=self.use_recurrent_dropout,
            recurrent_dropout_prob=self.recurrent_dropout_prob,
            forget_bias=self.forget_bias,
            seed=self.seed,
        )
        return config

    # ------------------------------------------------------------------- state
    @property
    def state_size(self) -> tuple[int, ...]:
        """Sizes of the state parts, in the reference's concatenation order."""
        raise NotImplementedError

    def output_of(self, state: Sequence[Any]) -> Any:
        """The output ``h`` held in ``state`` (the reference's ``get_output``)."""
        return state[self.output_index]

    def zero_state(self, batch_size: int, dtype: str | None = None) -> list[Any]:
        """All-zero state (the reference's ``cell.zero_state``)."""
        return [
            ops.zeros((batch_size, n), dtype=dtype or self.compute_dtype)
            for n in self.state_size
        ]

    def split_state(self, flat: Any) -> list[Any]:
        """Split a ``[B, sum(state_size)]`` tensor (the reference's layout) into parts."""
        parts, start = [], 0
        for n in self.state_size:
            parts.append(flat[:, start : start + n])
            start += n
        return parts

    # ------------------------------------------------------------------ maths
    def project_inputs(self, x: Any, offset: int = 0, use_bias: bool = True) -> list[Any]:
        """Every product with the input weights, for inputs ``x [..., k]``.

        ``x`` may be a slice of the full input: it meets rows ``offset:offset+k`` of the
        input weights (the model projects the stroke and z parts separately). The results
        of two slices add up to the projection of the whole input.
        """
        raise NotImplementedError

    #: the input weights, one per projected input (:meth:`project_inputs`' order)
    input_kernel_names: tuple[str, ...] = ("W_xh",)

    def input_kernels(self, offset: int, k: int) -> list[Any]:
        """Rows ``offset:offset+k`` of each input weight, read once: a loop that projects
        its inputs step by step uses ``x_t @ kernel`` (plus a per-sketch offset) where
        :meth:`project_inputs` would have done all steps at once (no bias here)."""
        return [_read(getattr(self, n))[offset : offset + k] for n in self.input_kernel_names]

    def step_weights(self) -> dict[str, Any]:
        """The tensors ``step`` uses, read from the variables once.

        A loop reads them once before the recurrence and passes them to every ``step``:
        on TensorFlow a variable read inside a ``while_loop`` is a new tensor per
        iteration, which its gradient would keep, one copy per step.
        """
        raise NotImplementedError

    #: the step's products of a state part with a recurrent weight, as
    #: ``(state index, step_weights key)``: a loop may compute them itself
    #: (``sketchart.nn.backend.scan_products``) and pass them to ``step``
    recurrent_products: tuple[tuple[int, str], ...] = ()
    #: ``(projected index, recurrent_products index)``: that projected input is only ever
    #: added to that product, so a loop may add it there itself and pass the projected
    #: input to ``step`` as None (``scan_products``' ``addends``)
    input_products: tuple[tuple[int, int], ...] = ()

    def step(
        self,
        projected: Sequence[Any],
        state: Sequence[Any],
        keep_mask: Any = None,
        weights: dict[str, Any] | None = None,
        products: Sequence[Any] | None = None,
    ) -> tuple[Any, list[Any]]:
        """One recurrence step from projected inputs; returns ``(h, new_state)``.

        ``keep_mask [B, H]`` (already divided by the keep probability) multiplies the
        candidate; ``None`` means no recurrent dropout. ``weights`` is
        :meth:`step_weights` (read here when not given). ``products``, when given, are
        the :attr:`recurrent_products` already computed (``state[i] @ weights[key]``).
        """
        raise NotImplementedError

    def _products(
        self, state: Sequence[Any], w: dict[str, Any], products: Sequence[Any] | None
    ) -> list[Any]:
        if products is not None:
            return list(products)
        return [ops.matmul(state[i], w[key]) for i, key in self.recurrent_products]

    def dropout_masks(self, batch_size: int, steps: int | None, training: bool) -> Any:
        """Recurrent-dropout masks ``[steps, B, H]`` (or ``[B, H]`` if ``steps`` is None).

        Returns ``None`` when dropout is off or ``training`` is false. Masks are drawn up
        front so the recurrence stays a pure function of its inputs; they are
        independent per step and per example, exactly like a dropout op inside the cell.
        """
        if not (training and self.use_recurrent_dropout and self.recurrent_dropout_prob < 1):
            return None
        shape = (batch_size, self.units) if steps is None else (steps, batch_size, self.units)
        keep = self.recurrent_dropout_prob
        u = keras.random.uniform(shape, seed=self.seed_generator)
        return ops.cast(u < keep, self.compute_dtype) / keep

    def call(
        self,
        inputs: Any,
        states: Sequence[Any],
        training: bool = False,
    ) -> tuple[Any, list[Any]]:
        """One step: ``inputs [B, input_dim]``, ``states`` a list -> ``(h, new_states)``."""
        mask = self.dropout_masks(ops.shape(inputs)[0], None, bool(training))
        return self.step(self.project_inputs(inputs), list(states), mask)

    def _candidate(self, j: Any, keep_mask: Any) -> Any:
        g = ops.tanh(j)
        return g if keep_mask is None else g * keep_mask

    def _check_built_input(self, input_shape: Any) -> int:
        dim = int(input_shape[-1])
        if self.input_dim is not None and dim != self.input_dim:
            raise ValueError(f"{self.name}: input_dim {self.input_dim} but built with {dim}")
        self.input_dim = dim
        return dim


@keras.saving.register_keras_serializable(package="sketchart")
class LSTMCell(SketchCell):
    """magenta's ``LSTMCell``: ``[i,j,f,o] = [x,h] @ [W_xh; W_hh] + bias``; state
    ``[c, h]``."""

    output_index = 1
    recurrent_products = ((1, "W_hh"),)
    input_products = ((0, 0),)

    def build(self, input_shape: Any) -> None:
        dim = self._check_built_input(input_shape)
        n = 4 * self.units
        self.W_xh = self.add_weight(
            name="W_xh", shape=(dim, n), initializer=NumpyRandom(seed=_seeded(self.seed, 1))
        )
        self.W_hh = self.add_weight(
            name="W_hh",
            shape=(self.units, n),
            initializer=PerGateOrthogonal(_seeded(self.seed, 2)),
        )
        self.bias = self.add_weight(name="bias", shape=(n,), initializer="zeros")
        self.built = True

    @property
    def state_size(self) -> tuple[int, ...]:
        return (self.units, self.units)

    def project_inputs(self, x: Any, offset: int = 0, use_bias: bool = True) -> list[Any]:
        w = self.W_xh[offset : offset + ops.shape(x)[-1]]
        xw = ops.matmul(x, w)
        # the bias rides with the input projection: added once, outside the recurrence
        return [xw + self.bias if use_bias else xw]

    def step_weights(self) -> dict[str, Any]:
        return {"W_hh": _read(self.W_hh)}

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
        hidden = hh if projected[0] is None else projected[0] + hh
        i, j, f, o = ops.split(hidden, 4, axis=-1)
        g = self._candidate(j, keep_mask)
        new_c = c * ops.sigmoid(f + self.forget_bias) + ops.sigmoid(i) * g
        new_h = ops.tanh(new_c) * ops.sigmoid(o)
        return new_h, [new_c, new_h]


@keras.saving.register_keras_serializable(package="sketchart")
class LayerNormLSTMCell(SketchCell):
    """magenta's ``LayerNormLSTMCell``: no bias, per-gate LN, LN on ``c``; state ``[h, c]``."""

    output_index = 0
    recurrent_products = ((0, "W_hh"),)
    input_products = ((0, 0),)

    def build(self, input_shape: Any) -> None:
        dim = self._check_built_input(input_shape)
        n = 4 * self.units
        self.W_xh = self.add_weight(
            name="W_xh", shape=(dim, n), initializer=NumpyRandom(seed=_seeded(self.seed, 3))
        )
        self.W_hh = self.add_weight(
            name="W_hh",
            shape=(self.units, n),
            initializer=PerGateOrthogonal(_seeded(self.seed, 4)),
        )
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
        return [ops.matmul(x, self.W_xh[offset : offset + ops.shape(x)[-1]])]

    def step_weights(self) -> dict[str, Any]:
        names = ("W_hh", "ln_all_gamma", "ln_all_beta", "ln_c_gamma", "ln_c_beta")
        return {n: _read(getattr(self, n)) for n in names}

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
        pre = hh if projected[0] is None else projected[0] + hh
        pre = _layer_norm_gates(pre, w["ln_all_gamma"], w["ln_all_beta"], 4, self.units)
        i, j, f, o = ops.split(pre, 4, axis=-1)
        g = self._candidate(j, keep_mask)
        new_c = c * ops.sigmoid(f + self.forget_bias) + ops.sigmoid(i) * g
        new_h = ops.tanh(_layer_norm(new_c, w["ln_c_gamma"], w["ln_c_beta"])) * ops.sigmoid(o)
        return new_h, [new_h, new_c]


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
            initializer=NumpyRandom(seed=_seeded(self.seed, 5)),
        )
        self.W_hh = add(
            name="W_hh",
            shape=(units, 4 * units),
            initializer=PerGateOrthogonal(_seeded(self.seed, 6)),
        )
        self.bias = add(name="bias", shape=(4 * units,), initializer="zeros")
        # the hyper cell: a layer-norm LSTM over [x, h]
        self.hyper_W_xh = add(
            name="hyper_W_xh",
            shape=(dim + units, 4 * hu),
            initializer=NumpyRandom(seed=_seeded(self.seed, 7)),
        )
        self.hyper_W_hh = add(
            name="hyper_W_hh",
            shape=(hu, 4 * hu),
            initializer=PerGateOrthogonal(_seeded(self.seed, 8)),
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
            initializer=NumpyRandom("normal", 0.01, _seeded(self.seed, 9)),
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
            ops.matmul(x, self.W_xh[offset : offset + k]),
            ops.matmul(x, self.hyper_W_xh[offset : offset + k]),
        ]

    def step_weights(self) -> dict[str, Any]:
        units, hu, emb = self.units, self.hyper_num_units, self.hyper_embedding_size

        t = _read

        return {
            "W_hh": t(self.W_hh),
            "bias": ops.reshape(t(self.bias), (4, units)),
            "hyper_W_xh_h": t(self.hyper_W_xh)[-units:],  # the rows that meet h
            "hyper_W_hh": t(self.hyper_W_hh),
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
        return _per_gate(zw + zw_b, alpha)

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
        pre = x_hyper + h_hyper + hyper_hh
        pre = _layer_norm_gates(pre, w["hyper_ln_all_gamma"], w["hyper_ln_all_beta"], 4, hu)
        hi, hj, hf, ho = ops.split(pre, 4, axis=-1)
        new_hyper_c = hyper_c * ops.sigmoid(hf + self.forget_bias) + ops.sigmoid(
            hi
        ) * ops.tanh(hj)
        new_hyper_h = ops.tanh(
            _layer_norm(new_hyper_c, w["hyper_ln_c_gamma"], w["hyper_ln_c_beta"])
        ) * ops.sigmoid(ho)
        # main cell: hyper-modulated input and recurrent contributions, per gate
        alpha_x = self._hyper_scale(
            new_hyper_h, w["hyper_x_zw_w"], w["hyper_x_zw_b"], w["hyper_x_alpha"]
        )
        alpha_h = self._hyper_scale(
            new_hyper_h, w["hyper_h_zw_w"], w["hyper_h_zw_b"], w["hyper_h_alpha"]
        )
        zb = ops.reshape(ops.matmul(new_hyper_h, w["hyper_h_zb"]), (-1, 4, emb))
        beta_h = _per_gate(zb, w["hyper_h_beta"])
        xg = ops.reshape(xw, (-1, 4, units))
        hg = ops.reshape(hh, (-1, 4, units))
        gates = alpha_x * xg + (alpha_h * hg + beta_h) + w["bias"]
        pre = ops.reshape(gates, (-1, 4 * units))
        pre = _layer_norm_gates(pre, w["ln_all_gamma"], w["ln_all_beta"], 4, units)
        i, j, f, o = ops.split(pre, 4, axis=-1)
        g = self._candidate(j, keep_mask)
        new_c = c * ops.sigmoid(f + self.forget_bias) + ops.sigmoid(i) * g
        new_h = ops.tanh(_layer_norm(new_c, w["ln_c_gamma"], w["ln_c_beta"])) * ops.sigmoid(o)
        return new_h, [new_h, new_hyper_h, new_c, new_hyper_c]


#: cell name (hparams ``enc_model`` / ``dec_model``) -> class
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
