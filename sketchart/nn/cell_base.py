"""What the three recurrent cells share: :class:`SketchCell` (config, dropout masks, the
two-phase ``project_inputs`` / ``step`` and a one-step ``call``) and the layer-norm maths.

All maths is ``keras.ops``: the same code runs on the TensorFlow and JAX backends.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Any

import keras
from keras import ops

__all__ = [
    "LN_EPSILON",
    "SketchCell",
    "layer_norm",
    "layer_norm_gates",
    "means_as_products",
    "per_gate",
    "read",
]

#: Layer-norm epsilon of the reference (``rnn.layer_norm_all`` / ``rnn.layer_norm``).
LN_EPSILON = 1e-3
#: bits per unit of a recurrent-dropout draw: keep probabilities resolve to 2**-15
#: (0.9 keeps with 0.89999), two draws per int32 value
_DRAW_BITS = 15


def read(variable: Any, dtype: str | None = None) -> Any:
    """A variable's current value as a backend tensor (read once; on TensorFlow
    ``convert_to_tensor`` of a variable returns the variable itself, hence the copy), cast
    to ``dtype`` when given and different (mixed precision: float32 variables, bfloat16
    compute)."""
    value = getattr(variable, "value", variable)
    if dtype is not None and keras.backend.standardize_dtype(value.dtype) != dtype:
        return ops.cast(value, dtype)
    return ops.copy(value)


def _widened(x: Any) -> Any:
    """``x`` in float32 when it is a 16-bit float (a reduction's precision), else as is."""
    if keras.backend.standardize_dtype(x.dtype) in ("bfloat16", "float16"):
        return ops.cast(x, "float32")
    return x


_MEANS_AS_PRODUCTS = contextvars.ContextVar("means_as_products", default=False)


@contextlib.contextmanager
def means_as_products() -> Iterator[None]:
    """Within this context the layer norms traced take their row means as products with a
    ``1/n`` column instead of reductions.

    For steps compiled by XLA's CPU compiler, which splits each row reduction into
    partitioned reduce-window kernels: the products run as one call each, and a layer-norm
    step's forward and backward take less time (``benchmarks/README.md``). The sums are
    the same up to float rounding; elsewhere (GPUs, sampling) the reductions stay.
    """
    token = _MEANS_AS_PRODUCTS.set(True)
    try:
        yield
    finally:
        _MEANS_AS_PRODUCTS.reset(token)


def _row_mean(x: Any) -> Any:
    """The mean of ``x [..., n]`` over its last axis, keeping it (``[..., 1]``)."""
    if not _MEANS_AS_PRODUCTS.get():
        return ops.mean(x, axis=-1, keepdims=True)
    n = int(x.shape[-1])
    column = ops.full((n, 1), 1.0 / n, dtype=x.dtype)
    means = ops.matmul(ops.reshape(x, (-1, n)), column)
    return ops.reshape(means, (*ops.shape(x)[:-1], 1))


def layer_norm_gates(x: Any, gamma: Any, beta: Any, gates: int, units: int) -> Any:
    """``rnn.layer_norm_all``: normalise each gate block of ``x [B, gates*units]`` on its
    own."""
    # in 16-bit compute the statistics and the normalisation run in float32 (as Keras'
    # own LayerNormalization does), the result goes back to x's dtype
    dtype = x.dtype
    x, gamma, beta = _widened(x), _widened(gamma), _widened(beta)
    shape = ops.shape(x)
    xr = ops.reshape(x, (-1, gates, units))
    shifted = xr - _row_mean(xr)
    var = _row_mean(ops.square(shifted))
    xr = shifted * ops.rsqrt(var + LN_EPSILON)
    out = ops.reshape(xr, shape) * gamma + beta
    return out if out.dtype == dtype else ops.cast(out, dtype)


def per_gate(z: Any, weight: Any) -> Any:
    """``einsum("bgk,gkh->bgh", z, weight)``: each gate's ``z [B, k] @ weight[g] [k, H]``.

    As a batched matmul over the gates (``[G, B, k] @ [G, k, H]``, transposed in and out):
    TensorFlow's CPU ``Einsum`` kernel runs on one thread, so on two this took half the
    time, forward and gradient, when the step ran op by op (under XLA, the training
    default, both compile alike).
    """
    out = ops.matmul(ops.transpose(z, (1, 0, 2)), weight)
    return ops.transpose(out, (1, 0, 2))


def layer_norm(x: Any, gamma: Any, beta: Any) -> Any:
    """``rnn.layer_norm`` over the last axis (biased variance, epsilon 1e-3); float32
    inside when ``x`` is 16-bit (see :func:`layer_norm_gates`)."""
    dtype = x.dtype
    x, gamma, beta = _widened(x), _widened(gamma), _widened(beta)
    shifted = x - _row_mean(x)
    var = _row_mean(ops.square(shifted))
    out = gamma * shifted * ops.rsqrt(var + LN_EPSILON) + beta
    return out if out.dtype == dtype else ops.cast(out, dtype)


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

    @property
    def gate_dtype(self) -> str:
        """The dtype of the step's gate maths: float32 when the compute dtype is 16-bit
        (mixed precision), else the compute dtype.

        Under ``mixed_bfloat16`` only the products run in bfloat16: the gates, the layer
        norms and the cell state ``c`` stay float32 (on a CPU, bfloat16 elementwise maths
        is a float32 computation rounded after every op: slower and less exact).
        """
        dtype = self.compute_dtype
        return "float32" if dtype in ("bfloat16", "float16") else dtype

    def state_dtypes(self) -> tuple[str, ...]:
        """Per state part: the compute dtype for the parts a recurrent product reads (the
        outputs ``h``), :attr:`gate_dtype` for the others (the cell states ``c``)."""
        multiplied = {i for i, _ in self.recurrent_products}
        return tuple(
            self.compute_dtype if i in multiplied else self.gate_dtype
            for i in range(len(self.state_size))
        )

    def cast_state(self, parts: Sequence[Any]) -> list[Any]:
        """``parts`` in :meth:`state_dtypes`."""
        return [
            p if keras.backend.standardize_dtype(p.dtype) == d else ops.cast(p, d)
            for p, d in zip(parts, self.state_dtypes())
        ]

    def zero_state(self, batch_size: int, dtype: str | None = None) -> list[Any]:
        """All-zero state (the reference's ``cell.zero_state``), each part in its
        :meth:`state_dtypes` unless ``dtype`` is given."""
        dtypes = [dtype] * len(self.state_size) if dtype else self.state_dtypes()
        return [ops.zeros((batch_size, n), dtype=d) for n, d in zip(self.state_size, dtypes)]

    def split_state(self, flat: Any) -> list[Any]:
        """Split a ``[B, sum(state_size)]`` tensor (the reference's layout) into parts,
        each in its :meth:`state_dtypes`."""
        parts, start = [], 0
        for n in self.state_size:
            parts.append(flat[:, start : start + n])
            start += n
        return self.cast_state(parts)

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
        :meth:`project_inputs` would have done all steps at once (no bias here). In
        :attr:`gate_dtype`: a ``[B, 5]`` input's product is part of the step's gate maths,
        not one of the large products 16-bit compute is for."""
        return [
            read(getattr(self, n), self.gate_dtype)[offset : offset + k]
            for n in self.input_kernel_names
        ]

    def read(self, variable: Any) -> Any:
        """:func:`read` in this cell's compute dtype (bfloat16 under ``mixed_bfloat16``)."""
        return read(variable, self.compute_dtype)

    def in_compute(self, x: Any) -> Any:
        """``x`` (a variable or a slice of one) cast to the compute dtype when it differs."""
        if keras.backend.standardize_dtype(x.dtype) == self.compute_dtype:
            return x
        return ops.cast(x, self.compute_dtype)

    def gate_sum(self, *terms: Any) -> Any:
        """The sum of a gate's pre-activation terms (products, projected inputs; ``None``
        skipped) in :attr:`gate_dtype`."""
        total = None
        for term in terms:
            if term is None:
                continue
            if keras.backend.standardize_dtype(term.dtype) != self.gate_dtype:
                term = ops.cast(term, self.gate_dtype)
            total = term if total is None else total + term
        return total

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

        ``keep_mask [B, H]`` (already divided by the keep probability, in
        :attr:`gate_dtype`) multiplies the candidate; ``None`` means no recurrent dropout.
        ``weights`` is :meth:`step_weights` (read here when not given). ``products``,
        when given, are the :attr:`recurrent_products` already computed
        (``state[i] @ weights[key]``).
        """
        raise NotImplementedError

    def _products(
        self, state: Sequence[Any], w: dict[str, Any], products: Sequence[Any] | None
    ) -> list[Any]:
        if products is not None:
            return list(products)
        return [ops.matmul(state[i], w[key]) for i, key in self.recurrent_products]

    def dropout_bits(self, batch_size: int, steps: int | None, training: bool) -> Any:
        """Random bits for the recurrent-dropout masks, ``[steps, B, ceil(H/2)]`` int32 (or
        ``[B, ceil(H/2)]`` if ``steps`` is None): each value holds two units' draws.

        Returns ``None`` when dropout is off or ``training`` is false. A loop passes these
        to its steps and each step makes its ``[B, H]`` mask with :meth:`keep_mask`: half
        the random draws of one uniform float per unit, and the comparison and scaling
        fused into the step's own maths rather than passes over all ``[T, B, H]`` masks.
        """
        if not (training and self.use_recurrent_dropout and self.recurrent_dropout_prob < 1):
            return None
        half = (self.units + 1) // 2
        shape = (batch_size, half) if steps is None else (steps, batch_size, half)
        return keras.random.randint(
            shape, 0, 2 ** (2 * _DRAW_BITS), dtype="int32", seed=self.seed_generator
        )

    def keep_mask(self, bits: Any) -> Any:
        """The keep mask ``[..., B, H]`` of :meth:`dropout_bits` (``None`` stays ``None``):
        a unit is kept when its 15-bit draw falls under ``keep * 2**15``, and a kept unit
        is ``1 / keep`` (inverted dropout), in :attr:`gate_dtype`."""
        if bits is None:
            return None
        keep = self.recurrent_dropout_prob
        threshold = round(keep * 2**_DRAW_BITS)
        low = ops.bitwise_and(bits, 2**_DRAW_BITS - 1)
        high = ops.right_shift(bits, _DRAW_BITS)
        kept = ops.concatenate([low < threshold, high < threshold], axis=-1)
        return ops.cast(kept[..., : self.units], self.gate_dtype) / keep

    def dropout_masks(self, batch_size: int, steps: int | None, training: bool) -> Any:
        """Recurrent-dropout masks ``[steps, B, H]`` (or ``[B, H]`` if ``steps`` is None):
        :meth:`keep_mask` of fresh :meth:`dropout_bits`.

        Returns ``None`` when dropout is off or ``training`` is false. Masks are drawn up
        front so the recurrence stays a pure function of its inputs; they are
        independent per step and per example, exactly like a dropout op inside the cell.
        """
        return self.keep_mask(self.dropout_bits(batch_size, steps, training))

    def call(
        self,
        inputs: Any,
        states: Sequence[Any],
        training: bool = False,
    ) -> tuple[Any, list[Any]]:
        """One step: ``inputs [B, input_dim]``, ``states`` a list -> ``(h, new_states)``."""
        mask = self.dropout_masks(ops.shape(inputs)[0], None, bool(training))
        return self.step(self.project_inputs(inputs), list(states), mask)

    def _cell_update(self, c: Any, gates: Any, keep_mask: Any = None) -> tuple[Any, Any]:
        """magenta's LSTM update from the pre-activations ``gates = [i, j, f, o]``:
        ``(new_c, o)``, the forget bias inside the sigmoid, recurrent dropout (``keep_mask``)
        on the candidate ``tanh(j)``."""
        i, j, f, o = ops.split(gates, 4, axis=-1)
        g = ops.tanh(j)
        if keep_mask is not None:
            g = g * keep_mask
        return c * ops.sigmoid(f + self.forget_bias) + ops.sigmoid(i) * g, o

    def _check_built_input(self, input_shape: Any) -> int:
        dim = int(input_shape[-1])
        if self.input_dim is not None and dim != self.input_dim:
            raise ValueError(f"{self.name}: input_dim {self.input_dim} but built with {dim}")
        self.input_dim = dim
        return dim
