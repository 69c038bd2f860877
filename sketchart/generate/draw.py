"""Drawing from a model: free and conditional samples, decoding latent vectors, encoding
and reconstructing drawings.

Every function takes either model: a Keras :class:`~sketchart.nn.model.SketchRNN` (its
compiled loop, :mod:`~sketchart.generate.loops`) or a
:class:`~sketchart.generate.numpy_engine.NumpySketchRNN` (NumPy, no Keras imported). Both
read their random numbers from one ``Generator(PCG64(seed))`` in the order
:mod:`~sketchart.generate.numpy_sampler` documents, so a seed draws the same drawing on
either, up to float rounding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np

from sketchart.generate.common import (
    REDRAW_ROUNDS,
    AnyModel,
    SampleError,
    _as_list,
    _check_max_len,
    _check_n,
    _check_strokes3,
    _given_z,
    _info,
    _ModelInfo,
    _rows_to_drawings,
    _to_numpy,
    draws_a_line,
    temperature_factors,
)
from sketchart.generate.numpy_engine import NumpySketchRNN
from sketchart.generate.numpy_sampler import draw_noise, make_rng
from sketchart.strokes import START_TOKEN, pad_batch

if TYPE_CHECKING:
    from sketchart.nn.model import SketchRNN

__all__ = ["Seed", "decode", "draws_a_line", "encode", "reconstruct", "sample"]

#: A seed: an int, None (fresh entropy) or a Generator whose stream continues.
Seed: TypeAlias = int | np.random.Generator | None
#: ``(temperature, temperature_mode, softmax_temperature)``.
Temps: TypeAlias = tuple[float, str, float | None]
Array = np.ndarray


def _keras(model: AnyModel) -> SketchRNN:
    """A model that is not the NumPy engine: a Keras SketchRNN (or one that acts as it)."""
    return cast("SketchRNN", model)


def _sample_rows(model: AnyModel, x0: Array, state: Any, z: Array | None,
                 noise: dict[str, Array], greedy: bool, temps: Temps) -> Array:
    """Stroke-5 rows ``[steps, B, 5]`` sampled from ``x0`` on the model's engine; ``state``
    None starts from ``z``'s initial state (zeros for a decoder-only model)."""
    temperature, mode, softmax_temperature = temps
    if isinstance(model, NumpySketchRNN):
        if state is None:
            state = model.initial_state(z, len(x0))
        return model.sample_rows(x0, state, z, noise, temperature, greedy, mode,
                                 softmax_temperature)
    from keras import ops

    from sketchart.generate.loops import _run_loop

    keras_model = _keras(model)
    z_t = None if z is None else ops.convert_to_tensor(z)
    if state is None:
        state = keras_model.initial_state(z_t, len(x0))
    return _run_loop(keras_model, np.ascontiguousarray(x0), state, z_t, noise, temperature,
                     greedy, mode, softmax_temperature)


def _one_round(model: AnyModel, info: _ModelInfo, rng: np.random.Generator, n: int,
               steps: int, z: Array | None, greedy: bool, temps: Temps) -> list[Array]:
    """``n`` sketches from the start token: one :func:`draw_noise` of ``rng`` (its z
    unless ``z`` is given)."""
    noise = draw_noise(rng, n, steps, info.z_size if info.conditional else 0)
    if info.conditional and z is None:
        z = noise["z"]
    x0 = np.broadcast_to(START_TOKEN, (n, 5)).astype(np.float32)
    rows = _sample_rows(model, x0, None, z, noise, greedy, temps)
    return _rows_to_drawings(rows, info.scale_factor)


def sample(
    model: AnyModel,
    n: int = 1,
    temperature: float = 0.65,
    greedy: bool = False,
    seed: Seed = None,
    z: Any = None,
    max_len: int | None = None,
    temperature_mode: str = "js",
    softmax_temperature: float | None = None,
    redraw_empty: int | None = REDRAW_ROUNDS,
) -> list[Array]:
    """Draw ``n`` sketches.

    Args:
        model: a :class:`~sketchart.generate.numpy_engine.NumpySketchRNN` (what
            :func:`sketchart.load_model` returns) or a Keras ``SketchRNN``.
        n: number of sketches (they advance together, one batch).
        temperature: ``T > 0``; lower is tidier (see ``temperature_mode``).
        greedy: take the most likely component, pen state and the component mean.
        seed: makes the run reproducible, on every engine (an int, or a Generator whose
            stream continues).
        z: latent vectors ``[n, z_size]`` (or one ``[z_size]`` for all) for a conditional
            model; drawn from N(0, I) when omitted.
        max_len: most points per sketch (default the model's ``max_seq_len``).
        temperature_mode: ``"js"`` (default), ``"paper"`` or ``"reference"``.
        softmax_temperature: in ``"js"`` mode, overrides the logit divisor ``0.5 + 0.5·T``.
        redraw_empty: when ``z`` is drawn here, a sketch that draws no line (it chose its
            end state at once: a VAE trained for a few thousand steps does so for a
            fifth of prior ``z``) is drawn again with a fresh ``z`` and fresh noise from
            the same generator, at most this many rounds (None: the default, 8); ``0``
            keeps such empty sketches, as the reference. Given ``z`` is never replaced.

    Returns:
        ``n`` float32 stroke-3 arrays ``[k, 3]`` in dataset units, each cut before its end
        state (``k <= max_len``).
    """
    n = _check_n(n)
    temperature_factors(temperature, temperature_mode, softmax_temperature)
    info = _info(model)
    steps = _check_max_len(max_len, info.max_seq_len)
    rng = make_rng(seed)
    temps = (temperature, temperature_mode, softmax_temperature)
    drawings = _one_round(model, info, rng, n, steps, _given_z(info, z, n), greedy, temps)
    rounds = REDRAW_ROUNDS if redraw_empty is None else int(redraw_empty)
    # nothing new can come of a redraw with z given, or greedily without a z to change
    if z is not None or (greedy and not info.conditional):
        rounds = 0
    for _ in range(rounds):
        empty = [i for i, d in enumerate(drawings) if not draws_a_line(d)]
        if not empty:
            break
        # a whole batch again (a compiled loop is compiled for n rows), its first good ones
        fresh = [d for d in _one_round(model, info, rng, n, steps, None, greedy, temps)
                 if draws_a_line(d)]
        for i, d in zip(empty, fresh):
            drawings[i] = d
    return drawings


def decode(model: AnyModel, z: Any, temperature: float = 0.65, greedy: bool = False,
           seed: Seed = None, max_len: int | None = None,
           temperature_mode: str = "js") -> list[Array]:
    """Draw one sketch per latent vector ``z [n, z_size]`` (conditional models only)."""
    info = _info(model)
    if not info.conditional:
        raise SampleError("decode needs a conditional (VAE) model; this one is decoder-only")
    z_np = np.asarray(z, dtype=np.float32)
    if z_np.ndim == 1:
        z_np = z_np[None]
    if z_np.ndim != 2:
        raise SampleError(f"z must be [n, {info.z_size}], got shape {list(z_np.shape)}")
    return sample(model, len(z_np), temperature, greedy=greedy, seed=seed, z=z_np,
                  max_len=max_len, temperature_mode=temperature_mode)


def _encode_batch(model: AnyModel, targets: Array, lengths: Array) -> tuple[Array, Array]:
    """``(mu, presig)`` as NumPy arrays, on the model's engine."""
    if isinstance(model, NumpySketchRNN):
        return model.encode_batch(targets, lengths)
    from keras import ops

    from sketchart.generate.loops import _compiled

    keras_model = _keras(model)
    run = _compiled(keras_model, "encode",
                    lambda x, n: keras_model.encode(x, n, training=False))
    mu, presig = run(ops.convert_to_tensor(targets), ops.convert_to_tensor(lengths))
    return _to_numpy(mu), _to_numpy(presig)


def _normalised(info: _ModelInfo, drawings: Any) -> list[Array]:
    """Drawings checked and in model units, lifts as 0/1."""
    items = _as_list(drawings)
    if not items:
        raise SampleError("encode: no drawings given")
    normed = []
    for i, d in enumerate(items):
        arr = _check_strokes3(d, f"drawing {i}")
        if len(arr) > info.max_seq_len:
            raise SampleError(
                f"drawing {i} has {len(arr)} points, more than the model's "
                f"max_seq_len={info.max_seq_len}")
        if len(arr) == 0:
            raise SampleError(f"drawing {i} is empty")
        arr = arr.copy()
        arr[:, 0:2] /= info.scale_factor
        arr[:, 2] = (arr[:, 2] > 0.5).astype(np.float32)
        normed.append(arr)
    return normed


def encode(model: AnyModel, drawings: Any, sample_z: bool = False,
           seed: Seed = None) -> Array:
    """Latent vectors of drawings (conditional models only).

    Args:
        model: a conditional model (NumPy engine or Keras SketchRNN).
        drawings: one stroke-3 array or a list of them, in dataset units.
        sample_z: return ``mu + sigma·eps`` instead of ``mu`` (eps: ``standard_normal`` of
            the seed's generator, float64 cast to float32).
        seed: for ``sample_z``.

    Returns:
        ``float32 [n, z_size]``.

    Raises:
        SampleError: a decoder-only model, a drawing that is not stroke-3, or one longer
            than the model's ``max_seq_len``.
    """
    info = _info(model)
    if not info.conditional:
        raise SampleError("encode needs a conditional (VAE) model; this one is decoder-only")
    batch, lengths = pad_batch(_normalised(info, drawings), info.max_seq_len)
    mu, presig = _encode_batch(model, batch[:, 1:], lengths)
    if not sample_z:
        return mu.astype(np.float32)
    eps = make_rng(seed).standard_normal(mu.shape).astype(np.float32)
    return (mu + np.exp(presig / np.float32(2.0)) * eps).astype(np.float32)


def reconstruct(model: AnyModel, drawings: Any, temperature: float = 0.65,
                greedy: bool = False, seed: Seed = None, sample_z: bool = False,
                max_len: int | None = None, temperature_mode: str = "js") -> list[Array]:
    """Encode drawings, then decode them (one reconstruction per drawing); one generator:
    encoding's eps first (with ``sample_z``), then the decoding's draws."""
    rng = make_rng(seed)
    z = encode(model, drawings, sample_z=sample_z, seed=rng)
    return decode(model, z, temperature, greedy=greedy, seed=rng, max_len=max_len,
                  temperature_mode=temperature_mode)
