"""The Sketch-RNN model (Ha & Eck 2017) as a backend-agnostic Keras 3 model.

Same architecture, initialisation and numbers as magenta's ``sketch_rnn/model.py``:

* encoder: a bidirectional RNN over the *targets* (the batch without its start token) and
  the real lengths; the backward direction reads the reversed valid prefix, each
  direction's state stops changing after the sketch's last point; ``[h_fw, h_bw]`` gives
  ``mu`` and ``presig`` (weights ``N(0, 0.001)``), ``z = mu + exp(presig / 2) * eps``;
* decoder: initial state ``tanh(W z + b)`` split in the cell's state layout (zeros for the
  decoder-only model), input ``[strokes5_{t-1}, z]`` at every step, always ``N_max`` steps;
* head: ``[3 + 6M]`` outputs = pen logits then blocks pi, mu_x, mu_y, log sigma_x,
  log sigma_y, correlation (``losses.split_mixture``).

Work that is constant is done once: z's share of the decoder's input projection (and the
bias) once per sketch, not at every step (same numbers, fewer FLOPs). The strokes' own
5-wide projection happens step by step inside the recurrence, so the loop keeps ``[T, B,
5]`` strokes rather than a ``[T, B, 4H]`` projection and its gradient (with input dropout
in training all steps are projected first). The recurrence itself runs through
``sketchart.nn.backend.scan_products`` (``tf.while_loop`` with a hand-scheduled gradient on
TensorFlow, ``lax.scan`` on JAX).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from sketchart.hparams import HParams
from sketchart.nn.backend import scan_products
from sketchart.nn.cells import NumpyRandom, SketchCell, make_cell
from sketchart.nn.losses import MixtureParams, compute_losses, split_mixture
from sketchart.nn.precision import check_precision, dtype_policy

__all__ = ["MixtureParams", "SketchRNN", "compute_losses"]


def _dense(
    units: int, input_dim: int, name: str, kernel: Any, bias: Any, dtype: str | None = None
) -> keras.layers.Dense:
    layer = keras.layers.Dense(
        units, kernel_initializer=kernel, bias_initializer=bias, name=name, dtype=dtype
    )
    layer.build((None, input_dim))
    return layer


def _policies(precision: str) -> tuple[str | None, str | None]:
    """``(the model's dtype policy, its heads')``: float32 sets none (the global policy
    rules, as a float64 test sets it); mixed precision keeps the heads in float32."""
    if check_precision(precision) == "float32":
        return None, None
    return dtype_policy(precision), "float32"


def _time_major(x: Any) -> Any:
    return ops.transpose(x, (1, 0, 2))


@keras.saving.register_keras_serializable(package="sketchart")
class SketchRNN(keras.Model):
    """Sketch-RNN: conditional VAE (``hps.conditional``) or decoder-only model.

    Args:
        hps: hyperparameters (an :class:`HParams` or a dict of magenta names).
        seed: seed of the latent-noise and dropout generators (None: random).
        precision: ``float32`` or ``bfloat16`` (Keras' ``mixed_bfloat16``: float32
            variables, the recurrences and their products in bfloat16; the latent heads
            ``enc_mu`` / ``enc_presig``, the mixture head and the losses stay float32).
            Not part of the config: a saved model loads in float32.

    The weights are created in ``__init__`` (no build step). ``model.meta`` holds the
    model directory's metadata (``sketchart.modeldir.ModelMeta``) once loaded or saved.
    """

    def __init__(
        self,
        hps: HParams | dict[str, Any] | None = None,
        seed: int | None = None,
        precision: str = "float32",
        **kwargs: Any,
    ) -> None:
        policy, head = _policies(precision)
        super().__init__(dtype=policy, **kwargs)
        self.precision = precision
        if hps is None:
            hps = HParams()
        elif isinstance(hps, dict):
            hps = HParams.from_dict(hps)
        self.hps = hps
        self.seed = seed
        self.meta: Any = None

        def cell_seed(k: int) -> int | None:
            return None if seed is None else seed + k

        dropout = {
            "use_recurrent_dropout": hps.use_recurrent_dropout,
            "recurrent_dropout_prob": hps.recurrent_dropout_prob,
            "dtype": policy,
        }

        def gauss(k: int) -> NumpyRandom:  # the reference's N(0, 0.001) super_linear
            return NumpyRandom("normal", 0.001, None if seed is None else seed * 1000 + k)

        if hps.conditional:
            self.enc_fw = make_cell(
                hps.enc_model, hps.enc_rnn_size, 5, name="enc_fw", seed=cell_seed(1), **dropout
            )
            self.enc_bw = make_cell(
                hps.enc_model, hps.enc_rnn_size, 5, name="enc_bw", seed=cell_seed(2), **dropout
            )
            n_enc = 2 * hps.enc_rnn_size
            self.enc_mu = _dense(hps.z_size, n_enc, "enc_mu", gauss(1), "zeros", head)
            self.enc_presig = _dense(hps.z_size, n_enc, "enc_presig", gauss(2), "zeros", head)
        dec_input = 5 + hps.z_size if hps.conditional else 5
        self.decoder = make_cell(
            hps.dec_model,
            hps.dec_rnn_size,
            dec_input,
            name="decoder",
            seed=cell_seed(3),
            **dropout,
        )
        if hps.conditional:
            self.dec_init = _dense(
                sum(self.decoder.state_size), hps.z_size, "dec_init", gauss(3), "zeros",
                policy,
            )
        # magenta's output_w and output_b have no initializer: TF1's glorot_uniform for both
        n_out = 3 + 6 * hps.num_mixture
        glorot = [NumpyRandom(seed=None if seed is None else seed * 1000 + k) for k in (4, 5)]
        self.dec_output = _dense(n_out, hps.dec_rnn_size, "dec_output", glorot[0], glorot[1],
                                 head)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "hps": self.hps.to_dict(), "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SketchRNN:
        config = dict(config)
        hps = HParams.from_dict(config.pop("hps"), source="SketchRNN config")
        return cls(hps=hps, **config)

    # ----------------------------------------------------------------- encoder
    def encode(
        self,
        strokes5_targets: Any,
        lengths: Any,
        training: bool = False,
    ) -> tuple[Any, Any]:
        """``(mu, presig)`` ``[B, z_size]`` of a batch of sketches.

        Args:
            strokes5_targets: ``[B, N, 5]`` sketches *without* the start token
                (``batch[:, 1:]``); padding beyond ``lengths`` is never read.
            lengths: ``[B]`` real number of points per sketch.
            training: apply recurrent dropout (when the hparams ask for it).
        """
        last_h = self.encoder_features(strokes5_targets, lengths, training=training)
        return self.enc_mu(last_h), self.enc_presig(last_h)

    def encoder_features(
        self,
        strokes5_targets: Any,
        lengths: Any,
        training: bool = False,
    ) -> Any:
        """``[h_fw, h_bw]`` ``[B, 2 * enc_rnn_size]``: each direction's final output."""
        if not self.hps.conditional:
            raise ValueError("encode: this is a decoder-only model (conditional=False)")
        # the strokes only meet the in-loop projections: the gate maths' dtype
        x = ops.cast(ops.convert_to_tensor(strokes5_targets), self.enc_fw.gate_dtype)
        x_rev, valid = _reversed_prefixes(x, ops.convert_to_tensor(lengths))
        batch, steps = ops.shape(x)[0], ops.shape(x)[1]
        fw, bw = self.enc_fw, self.enc_bw
        n_state = len(fw.state_size)
        valid_tm = ops.expand_dims(ops.transpose(valid), -1)  # [N, B, 1]
        mask_bits = [
            fw.dropout_bits(batch, steps, training),
            bw.dropout_bits(batch, steps, training),
        ]

        # weights read once, outside the loop; the recurrent products go to scan_products,
        # the input projections happen step by step inside it (_InLoopInputs)
        mats_fw, keys_fw, prm_fw = _loop_weights(fw, 0)
        mats_bw, keys_bw, prm_bw = _loop_weights(bw, n_state)
        in_fw = _InLoopInputs(fw, _no_offsets(fw))
        in_bw = _InLoopInputs(bw, _no_offsets(bw))
        n_pf, n_pb, n_mf = len(prm_fw), len(prm_bw), len(mats_fw)
        n_if = len(in_fw.params)

        def step(
            carry: Sequence[Any], xt: Sequence[Any], prods: Sequence[Any], prm: Sequence[Any]
        ) -> tuple[list[Any], None]:
            # xt: strokes, reversed strokes, valid, the two directions' dropout bits
            w_fw, w_bw = dict(zip(keys_fw, prm[:n_pf])), dict(zip(keys_bw, prm[n_pf:]))
            p_in = prm[n_pf + n_pb :]
            x_fw, x_bw = in_fw.project(xt[0], p_in[:n_if]), in_bw.project(xt[1], p_in[n_if:])
            mask_fw, mask_bw = fw.keep_mask(xt[3]), bw.keep_mask(xt[4])
            _, new_fw = fw.step(x_fw, carry[:n_state], mask_fw, w_fw, prods[:n_mf])
            _, new_bw = bw.step(x_bw, carry[n_state:], mask_bw, w_bw, prods[n_mf:])
            # past a sketch's end its state is copied through (dynamic_rnn with lengths)
            new = [ops.where(xt[2], n, o) for n, o in zip(new_fw + new_bw, carry)]
            return new, None

        init = fw.zero_state(batch) + bw.zero_state(batch)
        xs = [_time_major(x), _time_major(x_rev), valid_tm, *mask_bits]
        final, _ = scan_products(
            step,
            init,
            xs,
            mats_fw + mats_bw,
            prm_fw + prm_bw + in_fw.params + in_bw.params,
            constants=[0, 1, 3, 4],  # the strokes and the dropout bits
        )
        return ops.concatenate(
            [fw.output_of(final[:n_state]), bw.output_of(final[n_state:])], axis=-1
        )

    def sample_z(self, mu: Any, presig: Any, eps: Any = None) -> Any:
        """``z = mu + exp(presig / 2) * eps``, ``eps ~ N(0, I)`` unless given."""
        if eps is None:
            eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator)
        return mu + ops.exp(presig / 2.0) * eps

    # ----------------------------------------------------------------- decoder
    def initial_state(self, z: Any = None, batch_size: int | None = None) -> list[Any]:
        """The decoder's initial state: ``tanh(W z + b)`` split in the cell's layout
        (conditional), zeros of ``batch_size`` rows (decoder-only)."""
        if self.hps.conditional:
            if z is None:
                raise ValueError("initial_state: a conditional model needs z")
            flat = ops.tanh(self.dec_init(ops.cast(z, self.compute_dtype)))
            return self.decoder.split_state(flat)
        if batch_size is None:
            if z is None:
                raise ValueError(
                    "initial_state: give batch_size (or z) for a decoder-only model"
                )
            batch_size = ops.shape(z)[0]
        return self.decoder.zero_state(batch_size)

    def _dropout(self, x: Any, keep: float, training: bool, use: bool) -> Any:
        if not (training and use and keep < 1.0):
            return x
        u = keras.random.uniform(ops.shape(x), seed=self.seed_generator)
        return x * ops.cast(u < keep, x.dtype) / keep

    def decode(
        self, strokes5_inputs: Any, z: Any, state: Sequence[Any], training: bool = False
    ) -> tuple[MixtureParams, list[Any], Any]:
        """Teacher-forced decoder: ``(params [B, N, ...], final_state, outputs [B, N, H])``.

        ``strokes5_inputs`` is ``batch[:, :N]`` (starts with the start token); ``z`` is
        ignored by a decoder-only model.
        """
        hps, cell = self.hps, self.decoder
        # the in-loop projections take the strokes in the gate maths' dtype (float32 under
        # mixed precision), a projection of all steps at once in the compute dtype
        x = ops.cast(ops.convert_to_tensor(strokes5_inputs), cell.gate_dtype)
        batch, steps = ops.shape(x)[0], ops.shape(x)[1]
        x = _time_major(x)  # [N, B, 5]: everything up to the output head stays time-major
        mask_bits = cell.dropout_bits(batch, steps, training)  # each step makes its mask
        if training and hps.use_input_dropout:
            loop = self._projected_recurrence(x, z, mask_bits, training)
        else:
            loop = self._in_loop_recurrence(x, z, mask_bits)
        step, xs, mats, params, addends, constants, per_example = loop
        state = list(state)
        final, hs = scan_products(
            step, state, xs, mats, params, y_like=cell.output_of(state),
            addends=addends, constants=constants, per_example=per_example,
        )
        hs = self._dropout(hs, hps.output_dropout_prob, training, hps.use_output_dropout)
        # batch-major again only after the head: [N, B, 3 + 6M] is a quarter of [N, B, H]
        mixture = split_mixture(_time_major(self.dec_output(hs)), hps.num_mixture)
        return mixture, list(final), _time_major(hs)

    def _in_loop_recurrence(self, x: Any, z: Any, mask_bits: Any) -> tuple[Any, ...]:
        """The decoder's ``scan_products`` arguments ``(step, xs, mats, params, addends,
        constants)`` with the strokes projected step by step inside the loop; z's share
        (and the bias) is the same at every step: once per sketch."""
        cell = self.decoder
        mats, keys, params = _loop_weights(cell, 0)  # read once, outside the loop
        n_w = len(params)
        if self.hps.conditional:
            offsets = cell.project_inputs(ops.cast(z, self.compute_dtype), 5)
        else:
            offsets = _no_offsets(cell)
        inputs = _InLoopInputs(cell, offsets)

        def step(
            carry: Sequence[Any], xt: Sequence[Any], prods: Sequence[Any], prm: Sequence[Any]
        ) -> tuple[list[Any], Any]:
            projected = inputs.project(xt[0], prm[n_w:])
            mask = cell.keep_mask(xt[1])
            h, new = cell.step(projected, carry, mask, dict(zip(keys, prm[:n_w])), prods)
            return new, h

        # the strokes and the dropout bits need no gradient; z's offsets are per sketch
        per_sketch = inputs.per_example(len(params)) if self.hps.conditional else []
        return step, [x, mask_bits], mats, params + inputs.params, [], [0, 1], per_sketch

    def _projected_recurrence(
        self, x: Any, z: Any, mask_bits: Any, training: bool
    ) -> tuple[Any, ...]:
        """As :meth:`_in_loop_recurrence` under input dropout (magenta's
        ``DropoutWrapper``): a fresh mask per step and example, so all steps are projected
        before the recurrence."""
        hps, cell = self.hps, self.decoder
        mats, keys, params = _loop_weights(cell, 0)
        x = ops.cast(x, self.compute_dtype)
        if hps.conditional:
            steps = ops.shape(x)[0]
            z_tiled = ops.repeat(
                ops.expand_dims(ops.cast(z, self.compute_dtype), 0), steps, axis=0
            )
            x = ops.concatenate([x, z_tiled], axis=-1)
        x = self._dropout(x, hps.input_dropout_prob, training, True)
        xp = cell.project_inputs(x)
        n_proj = len(xp)

        def step(
            carry: Sequence[Any], xt: Sequence[Any], prods: Sequence[Any], prm: Sequence[Any]
        ) -> tuple[list[Any], Any]:
            mask = cell.keep_mask(xt[n_proj])
            h, new = cell.step(xt[:n_proj], carry, mask, dict(zip(keys, prm)), prods)
            return new, h

        return step, [*xp, mask_bits], mats, params, _addends(cell, 0, 0), [n_proj], []

    def decoder_step(
        self, x_t: Any, state: Sequence[Any], z: Any = None, training: bool = False
    ) -> tuple[MixtureParams, list[Any]]:
        """One autoregressive step: ``x_t [B, 5]`` -> ``(params [B, ...], new_state)``.

        Pure ``keras.ops`` on the same cell as training, so a sampler can compile a loop
        around it (``tf.function`` / ``jax.jit``).
        """
        hps, cell = self.hps, self.decoder
        x = ops.cast(x_t, self.compute_dtype)
        if hps.conditional:
            x = ops.concatenate([x, ops.cast(z, self.compute_dtype)], axis=-1)
        x = self._dropout(x, hps.input_dropout_prob, training, hps.use_input_dropout)
        mask = cell.dropout_masks(ops.shape(x)[0], None, training)
        h, new_state = cell.step(cell.project_inputs(x), list(state), mask)
        h = self._dropout(h, hps.output_dropout_prob, training, hps.use_output_dropout)
        return split_mixture(self.dec_output(h), hps.num_mixture), new_state

    # -------------------------------------------------------------------- call
    def call(
        self,
        inputs: dict[str, Any],
        training: bool = False,
        eps: Any = None,
    ) -> dict[str, Any]:
        """Encode (conditional), then decode with teacher forcing.

        Args:
            inputs: ``{"strokes5": [B, N+1, 5], "lengths": [B]}`` (the reference's
                padded batch, start token in row 0).
            training: dropout on (as the hparams ask).
            eps: ``[B, z_size]`` noise for ``z`` (default: drawn from ``N(0, I)``).

        Returns:
            dict with ``params`` (:class:`MixtureParams` over ``[B, N, ...]``),
            ``initial_state``, ``final_state`` (lists in the cell's layout), ``z``, and for
            a conditional model ``mu`` and ``presig``.
        """
        strokes5 = ops.cast(ops.convert_to_tensor(inputs["strokes5"]), self.compute_dtype)
        steps = ops.shape(strokes5)[1] - 1
        out: dict[str, Any] = {}
        if self.hps.conditional:
            mu, presig = self.encode(strokes5[:, 1:], inputs["lengths"], training=training)
            z = self.sample_z(mu, presig, eps)
            out.update(mu=mu, presig=presig)
            state = self.initial_state(z)
        else:
            batch = ops.shape(strokes5)[0]
            z = ops.zeros((batch, self.hps.z_size), dtype=self.compute_dtype)
            state = self.initial_state(batch_size=batch)
        params, final, _ = self.decode(strokes5[:, :steps], z, state, training=training)
        out.update(z=z, params=params, initial_state=state, final_state=final)
        return out

    def losses_for(
        self,
        inputs: dict[str, Any],
        kl_weight: Any,
        training: bool = False,
        eps: Any = None,
        loss_training: bool = True,
    ) -> dict[str, Any]:
        """Run the model on a batch and return :func:`compute_losses` plus the outputs.

        ``loss_training`` selects the pen-loss masking (True: over all steps, as the
        reference in training and in its validation).
        """
        outputs = self(inputs, training=training, eps=eps)
        head_dtype = self.dec_output.compute_dtype  # float32 under mixed precision
        strokes5 = ops.cast(ops.convert_to_tensor(inputs["strokes5"]), head_dtype)
        losses = compute_losses(
            outputs, strokes5[:, 1:], self.hps, kl_weight, training=loss_training
        )
        return {**losses, "outputs": outputs}


def _loop_weights(
    cell: SketchCell, offset: int
) -> tuple[list[tuple[int, Any]], list[str], list[Any]]:
    """A cell's step weights split for ``scan_products``: the recurrent products as
    ``(carry index, weight)`` (state index + ``offset``), then the other weights' keys
    and values."""
    weights = cell.step_weights()
    product_keys = {key for _, key in cell.recurrent_products}
    mats = [(offset + i, weights[key]) for i, key in cell.recurrent_products]
    keys = [k for k in weights if k not in product_keys]
    return mats, keys, [weights[k] for k in keys]


class _InLoopInputs:
    """A cell's input projections done step by step inside the recurrence.

    ``x_t [B, 5] @ kernel + offset`` per projected input, where ``offset`` (``[B, n]`` or
    ``[1, n]``) is z's share and the bias, once per sketch. The loop then keeps only the
    ``[T, B, 5]`` strokes instead of a ``[T, B, 4H]`` projection per input and its gradient
    (the kernels' and offsets' gradients are summed in the backward loop, like a layer
    norm's gains). The same sums as projecting all steps first, up to float rounding.
    """

    def __init__(self, cell: SketchCell, offsets: Sequence[Any]) -> None:
        # in the gate maths' dtype (float32 under mixed precision), as the strokes are
        self.kernels = cell.input_kernels(0, 5)
        self.offsets = [ops.cast(o, cell.gate_dtype) for o in offsets]
        self.params = self.kernels + self.offsets

    def per_example(self, first: int) -> list[int]:
        """The offsets' indices in a params list where :attr:`params` start at ``first``."""
        n = len(self.kernels)
        return list(range(first + n, first + n + len(self.offsets)))

    def project(self, x_t: Any, params: Sequence[Any]) -> list[Any]:
        n = len(self.kernels)
        return [ops.matmul(x_t, k) + o for k, o in zip(params[:n], params[n:])]


def _reversed_prefixes(x: Any, lengths: Any) -> tuple[Any, Any]:
    """``(x_rev, valid)``: each sketch's valid prefix of ``x [B, N, 5]`` reversed, the padding
    left in place (``tf.reverse_sequence``, as ``bidirectional_dynamic_rnn`` does), and the
    ``[B, N]`` mask of the valid steps."""
    lengths = ops.cast(lengths, "int32")[:, None]
    t = ops.arange(ops.shape(x)[1], dtype="int32")[None, :]
    valid = t < lengths
    rev_index = ops.where(valid, lengths - 1 - t, t)
    return ops.take_along_axis(x, ops.expand_dims(rev_index, -1), axis=1), valid


def _no_offsets(cell: SketchCell) -> list[Any]:
    """The per-sketch offsets without z: the bias alone (zeros where there is none)."""
    return cell.project_inputs(ops.zeros((1, 5), dtype=cell.compute_dtype), 0)


def _addends(cell: SketchCell, product_offset: int, xs_offset: int) -> list[tuple[int, int]]:
    """The cell's ``input_products`` as ``scan_products`` addends (product, xs index)."""
    return [(product_offset + k, xs_offset + p) for p, k in cell.input_products]

