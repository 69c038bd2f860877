"""A NumPy inference engine for Sketch-RNN: draws without Keras, TensorFlow or JAX.

:class:`NumpySketchRNN` holds a model's weights as float32 NumPy arrays and computes
exactly the Keras model's maths (``sketchart.nn.model``, ``sketchart.nn.cells``): the
bidirectional encoder over the real lengths, ``mu``/``presig``, the decoder's initial state
``tanh(W z + b)``, the decoder step of an ``lstm``, ``layer_norm`` or ``hyper`` cell and the
mixture head (pen logits, then blocks pi, mu_x, mu_y, log sigma_x, log sigma_y, corr),
for conditional and decoder-only models. Up to float rounding: the order of a few sums
differs (``tests/test_numpy_engine.py`` holds it to the Keras model within 1e-5).

It loads what the Keras side loads::

    engine = NumpySketchRNN.load("models/sheep")             # a model directory
    engine = NumpySketchRNN.load("flamingo.gen.json")        # sketch-rnn-js files
    engine = NumpySketchRNN.from_keras(keras_model)          # a SketchRNN's weights
    drawings = engine.sample(16, temperature=0.4, seed=7)

and draws as ``sketchart.generate.sampling`` does, with the same arguments: ``sample``,
``encode``, ``decode``, ``reconstruct``, ``interpolate`` (lerp, slerp), ``grid`` (four
corners), ``complete``; drawings are stroke-3 in dataset units (offsets times the model's
``scale_factor``). Every sketch of a call advances together, one array program per step.

Seeds: every random number of a call comes from one ``Generator(PCG64(seed))`` in the
order ``sketchart.generate.numpy_sampler`` documents (latent noise, then per step: pen
uniform, component uniform, two normals); the compiled TensorFlow/JAX samplers read the
same arrays, so a seed draws the same sketch on every engine (up to float rounding).

Importing this module imports NumPy, h5py (on first load of a weight file) and the
format modules (``sketchart.hparams``, ``modeldir``, ``jsformat``, ``strokes``, ``errors``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from sketchart.generate import numpy_weights
from sketchart.generate.common import (
    TEMPERATURE_MODES,
    SampleError,
    lerp,
    slerp,
    temperature_factors,
)
from sketchart.generate.numpy_cells import NumpyCell, make_numpy_cell
from sketchart.generate.numpy_sampler import compiled_inputs, draw_noise, run_loop
from sketchart.hparams import HParams
from sketchart.modeldir import ModelMeta

if TYPE_CHECKING:
    from sketchart.nn.model import SketchRNN

__all__ = [
    "TEMPERATURE_MODES",
    "MixtureArrays",
    "NumpySketchRNN",
    "SampleError",
    "compiled_inputs",
    "draw_noise",
    "lerp",
    "load",
    "slerp",
    "split_mixture",
    "temperature_factors",
]

Array = np.ndarray


class MixtureArrays(NamedTuple):
    """The mixture head's output as arrays ``[..., M]`` (pen: ``[..., 3]``), the fields of
    ``sketchart.nn.losses.MixtureParams``: sigmas exponentiated, rho tanh-ed, logits raw."""

    pen_logits: Array
    pi_logits: Array
    mu_x: Array
    mu_y: Array
    sigma_x: Array
    sigma_y: Array
    rho: Array


def split_mixture(raw: Array, num_mixture: int) -> MixtureArrays:
    """Split the head's ``[..., 3 + 6M]`` output in the reference's block order."""
    m = num_mixture
    blocks = [raw[..., 3 + k * m:3 + (k + 1) * m] for k in range(6)]
    pi, mu_x, mu_y, s_x, s_y, corr = blocks
    return MixtureArrays(raw[..., :3], pi, mu_x, mu_y, np.exp(s_x), np.exp(s_y), np.tanh(corr))


class NumpySketchRNN:
    """A Sketch-RNN's weights and maths in NumPy (see the module docstring).

    Args:
        hps: the model's hyperparameters.
        roles: weights by role (``sketchart.generate.numpy_weights``' layout).
        meta: ``scale_factor``, ``max_seq_len`` and the rest (default: from ``hps``).
        dtype: float32 (always, to draw); float64 lets tests check the maths without
            rounding (encoder and teacher-forced decoder only; sampling is float32).
    """

    def __init__(self, hps: HParams, roles: numpy_weights.Roles,
                 meta: ModelMeta | None = None, dtype: type = np.float32) -> None:
        self.hps = hps
        self.dtype = dtype
        self.meta = meta or ModelMeta(max_seq_len=hps.max_seq_len)
        roles = numpy_weights.check_roles(roles, hps, "NumpySketchRNN")
        if dtype is not np.float32:
            roles = {r: {k: v.astype(dtype) for k, v in g.items()} for r, g in roles.items()}
        self.roles = roles
        self.decoder: NumpyCell = make_numpy_cell(hps.dec_model, roles["decoder"], dtype)
        self.enc_fw: NumpyCell | None = None
        self.enc_bw: NumpyCell | None = None
        if hps.conditional:
            self.enc_fw = make_numpy_cell(hps.enc_model, roles["encoder_fw"], dtype)
            self.enc_bw = make_numpy_cell(hps.enc_model, roles["encoder_bw"], dtype)
        self.head = (roles["output"]["W"], roles["output"]["b"])

    # ------------------------------------------------------------ loading
    @classmethod
    def from_model_dir(cls, path: str | os.PathLike[str]) -> NumpySketchRNN:
        """Load a model directory (or a log root's ``best/``; converted magenta
        checkpoints are model directories)."""
        return cls(*_reorder(numpy_weights.read_model_dir(path)))

    @classmethod
    def from_js(cls, path: str | os.PathLike[str] | bytes, name: str | None = None,
                ) -> NumpySketchRNN:
        """Load a sketch-rnn-js ``.gen.json`` / ``.vae.json`` file (or its bytes)."""
        return cls(*_reorder(numpy_weights.read_js(path, name)))

    @classmethod
    def from_keras(cls, model: SketchRNN) -> NumpySketchRNN:
        """The weights of a Keras ``SketchRNN`` (a copy; Keras is not imported here)."""
        return cls(*_reorder(numpy_weights.read_keras(model)))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NumpySketchRNN:
        """A model directory or a sketch-rnn-js file, by what ``path`` is."""
        if numpy_weights.is_js_path(path):
            return cls.from_js(path)
        return cls.from_model_dir(path)

    # ---------------------------------------------------------- properties
    @property
    def conditional(self) -> bool:
        return bool(self.hps.conditional)

    @property
    def z_size(self) -> int:
        return int(self.hps.z_size)

    @property
    def num_mixture(self) -> int:
        return int(self.hps.num_mixture)

    @property
    def scale_factor(self) -> float:
        """Model offsets times this are dataset units (1.0 when unknown)."""
        return float(self.meta.scale_factor or 1.0)

    @property
    def max_seq_len(self) -> int:
        return int(self.meta.max_seq_len or self.hps.max_seq_len)

    # -------------------------------------------------------------- maths
    def encode_batch(self, targets: Any, lengths: Any) -> tuple[Array, Array]:
        """``(mu, presig)`` ``[B, z_size]`` of stroke-5 sketches *without* the start token
        ``[B, N, 5]`` and their real lengths ``[B]`` (the Keras model's ``encode``)."""
        last_h = self.encoder_features(targets, lengths)
        mu = last_h @ self.roles["mu"]["W"] + self.roles["mu"]["b"]
        presig = last_h @ self.roles["presig"]["W"] + self.roles["presig"]["b"]
        return mu, presig

    def encoder_features(self, targets: Any, lengths: Any) -> Array:
        """``[h_fw, h_bw]`` ``[B, 2 enc_rnn_size]``: each direction's final output."""
        if self.enc_fw is None or self.enc_bw is None:
            raise SampleError("encode: this is a decoder-only model (conditional=False)")
        x: Array = np.asarray(targets, self.dtype)
        lengths = np.asarray(lengths, np.int64)
        batch, steps = x.shape[0], x.shape[1]
        t = np.arange(steps)[None, :]
        valid = t < lengths[:, None]
        # the backward cell reads the reversed valid prefix, padding left in place
        rev = np.where(valid, lengths[:, None] - 1 - t, t)
        x_rev = np.take_along_axis(x, rev[:, :, None], axis=1)
        n = int(lengths.max()) if batch else 0  # past every end the states stop changing
        finals = []
        for cell, seq in ((self.enc_fw, x), (self.enc_bw, x_rev)):
            # every input product at once: the same sums as the Keras loop's, per step
            projected = cell.project(seq[:, :n])
            state = cell.zero_state(batch)
            for i in range(n):
                _, new = cell.step([p[:, i] for p in projected], state)
                keep = valid[:, i:i + 1]
                state = [np.where(keep, a, b) for a, b in zip(new, state)]
            finals.append(state[cell.output_index])
        return np.concatenate(finals, axis=-1)

    def initial_state(self, z: Any = None, batch_size: int | None = None) -> list[Array]:
        """``tanh(W z + b)`` in the decoder's state layout (conditional), else zeros."""
        if self.conditional:
            if z is None:
                raise SampleError("initial_state: a conditional model needs z")
            w = self.roles["init_state"]
            flat = np.tanh(np.asarray(z, self.dtype) @ w["W"] + w["b"])
            return self.decoder.split_state(flat)
        if batch_size is None:
            if z is None:
                raise SampleError(
                    "initial_state: give batch_size (or z) for a decoder-only model")
            batch_size = len(z)
        return self.decoder.zero_state(batch_size)

    def input_offsets(self, z: Any, batch: int) -> list[Array]:
        """What the decoder adds to the strokes' input projections at every step: z's
        share (once per sketch, not per step) and the LSTM's bias."""
        if self.conditional:
            return self.decoder.project(np.asarray(z, self.dtype), 5)
        return self.decoder.project(np.zeros((1, 5), self.dtype))

    def head_raw(self, h: Array) -> Array:
        """The mixture head's raw ``[..., 3 + 6M]`` output for decoder outputs ``h``."""
        return h @ self.head[0] + self.head[1]

    def decode_batch(self, inputs: Any, z: Any, state: Sequence[Array],
                     ) -> tuple[MixtureArrays, list[Array], Array]:
        """Teacher-forced decoder over ``inputs [B, N, 5]`` (start token first):
        ``(params [B, N, ...], final_state, outputs [B, N, H])``; ``z`` is ignored by a
        decoder-only model."""
        x: Array = np.asarray(inputs, self.dtype)
        batch, steps = x.shape[0], x.shape[1]
        offsets = self.input_offsets(z, batch)
        cell = self.decoder
        projected = [p + o[:, None] for p, o in zip(cell.project(x, use_bias=False), offsets)]
        state = list(state)
        hs: Array = np.empty((batch, steps, cell.units), self.dtype)
        for i in range(steps):
            hs[:, i], state = cell.step([p[:, i] for p in projected], state)
        return split_mixture(self.head_raw(hs), self.num_mixture), state, hs

    def decoder_step(self, x_t: Any, state: Sequence[Array], z: Any = None,
                     ) -> tuple[MixtureArrays, list[Array]]:
        """One step: ``x_t [B, 5]`` -> ``(params [B, ...], new_state)``."""
        x: Array = np.asarray(x_t, self.dtype)
        offsets = self.input_offsets(z, x.shape[0])
        projected = [p + o for p, o in zip(self.decoder.project(x, use_bias=False), offsets)]
        h, new_state = self.decoder.step(projected, list(state))
        return split_mixture(self.head_raw(h), self.num_mixture), new_state

    def sample_rows(self, x0: Array, state: Sequence[Array], z: Any,
                    noise: dict[str, Array], temperature: float = 0.65, greedy: bool = False,
                    temperature_mode: str = "js", softmax_temperature: float | None = None,
                    fast: bool = True) -> Array:
        """The sampling loop from ``x0 [B, 5]`` and ``state``: stroke-5 rows
        ``[steps, B, 5]`` in model units (see ``numpy_sampler.run_loop``)."""
        div, mul = temperature_factors(temperature, temperature_mode, softmax_temperature)
        offsets = self.input_offsets(z, len(x0))
        return run_loop(self.decoder, self.head, self.num_mixture, x0, state, offsets,
                        noise, div, mul, greedy, fast=fast)

    # ------------------------------------------------------------ drawing
    # the functions of sketchart.generate.sampling, as methods (imported when called:
    # those modules import this one)
    def sample(self, n: int = 1, temperature: float = 0.65, greedy: bool = False,
               seed: int | np.random.Generator | None = None, z: Any = None,
               max_len: int | None = None, temperature_mode: str = "js",
               softmax_temperature: float | None = None,
               redraw_empty: int | None = None) -> list[Array]:
        """Draw ``n`` sketches (``sketchart.generate.sampling.sample``)."""
        from sketchart.generate.draw import sample

        return sample(self, n, temperature, greedy, seed, z, max_len, temperature_mode,
                      softmax_temperature, redraw_empty)

    def encode(self, drawings: Any, sample_z: bool = False,
               seed: int | np.random.Generator | None = None) -> Array:
        """Latent vectors ``[n, z_size]`` of stroke-3 drawings (their mu, or a sample)."""
        from sketchart.generate.draw import encode

        return encode(self, drawings, sample_z, seed)

    def decode(self, z: Any, temperature: float = 0.65, greedy: bool = False,
               seed: int | np.random.Generator | None = None, max_len: int | None = None,
               temperature_mode: str = "js") -> list[Array]:
        """One drawing per latent vector ``z [n, z_size]``."""
        from sketchart.generate.draw import decode

        return decode(self, z, temperature, greedy, seed, max_len, temperature_mode)

    def reconstruct(self, drawings: Any, temperature: float = 0.65, greedy: bool = False,
                    seed: int | np.random.Generator | None = None, sample_z: bool = False,
                    max_len: int | None = None, temperature_mode: str = "js") -> list[Array]:
        """Encode drawings, then decode them (one generator for both)."""
        from sketchart.generate.draw import reconstruct

        return reconstruct(self, drawings, temperature, greedy, seed, sample_z, max_len,
                           temperature_mode)

    def interpolate(self, start: Any, end: Any, steps: int = 5, method: str = "slerp",
                    **kwargs: Any) -> list[Array]:
        """Drawings along a latent path from ``start`` to ``end`` (both included)."""
        from sketchart.generate.latent import interpolate

        return interpolate(self, start, end, steps, method, **kwargs)

    def grid(self, corners: Sequence[Any], rows: int = 5, cols: int = 5,
             **kwargs: Any) -> list[list[Array]]:
        """A ``rows × cols`` grid, bilinear in z between four corners (tl, tr, bl, br)."""
        from sketchart.generate.latent import grid

        return grid(self, corners, rows, cols, **kwargs)

    def complete(self, partial: Any, n: int = 1, **kwargs: Any) -> list[Array]:
        """Continue a partial drawing ``n`` ways."""
        from sketchart.generate.completion import complete

        return complete(self, partial, n, **kwargs)

    def to_keras(self) -> SketchRNN:
        """The same weights in a Keras ``SketchRNN`` (imports Keras), with ``meta``."""
        from sketchart.hub.convert import set_weights_by_role
        from sketchart.nn.model import SketchRNN

        model = SketchRNN(self.hps)
        set_weights_by_role(model, self.roles)
        model.meta = self.meta
        return model


def _reorder(loaded: tuple[HParams, ModelMeta, numpy_weights.Roles],
             ) -> tuple[HParams, numpy_weights.Roles, ModelMeta]:
    hps, meta, roles = loaded
    return hps, roles, meta


def load(path: str | os.PathLike[str]) -> NumpySketchRNN:
    """:meth:`NumpySketchRNN.load`: a model directory or a ``.gen.json``/``.vae.json``."""
    return NumpySketchRNN.load(Path(path))
