"""Continuing a partial drawing, and the next point's distribution after a prefix, on either
engine (NumPy engine or Keras ``SketchRNN``; see :mod:`~sketchart.generate.draw`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sketchart.generate.common import (
    AnyModel,
    SampleError,
    _check_max_len,
    _check_n,
    _check_strokes3,
    _given_z,
    _info,
    _rows_to_drawings,
    _strokes3_inputs,
    _to_numpy,
    temperature_factors,
)
from sketchart.generate.draw import Seed, _keras, _sample_rows, encode
from sketchart.generate.numpy_engine import MixtureArrays, NumpySketchRNN
from sketchart.generate.numpy_sampler import draw_noise, make_rng
from sketchart.strokes import START_TOKEN

__all__ = ["complete", "next_pdf"]

Array = np.ndarray


def _feed(model: AnyModel, inputs5: Array, z: Array | None, batch: int,
          ) -> tuple[MixtureArrays, list[Any]]:
    """Run the decoder over ``inputs5 [T, 5]`` (the same for every sketch of ``batch``).

    Returns:
        ``(params of the last step as NumPy arrays [batch, ...], state after it)`` (the
        state as the engine keeps it: arrays or tensors).
    """
    if isinstance(model, NumpySketchRNN):
        # the same prefix for every sketch: once, then repeated, unless the z differ
        same = z is None or bool(np.all(z == z[:1]))
        b = 1 if same else batch
        zb = None if z is None else z[:b]
        x = np.broadcast_to(inputs5, (b, *inputs5.shape))
        params, state, _ = model.decode_batch(x, zb, model.initial_state(zb, b))
        last = MixtureArrays(*(p[:, -1] for p in params))
        if same:
            state = [np.repeat(s, batch, axis=0) for s in state]
            last = MixtureArrays(*(np.repeat(p, batch, axis=0) for p in last))
        return last, state
    from keras import ops

    from sketchart.generate.loops import _compiled

    keras_model = _keras(model)

    def run(x, z, state):  # type: ignore[no-untyped-def]
        params, final, _ = keras_model.decode(x, z, state)
        return type(params)(*(p[:, -1] for p in params)), final

    x_t = ops.convert_to_tensor(np.broadcast_to(inputs5, (batch, *inputs5.shape)).astype(
        np.float32))
    z_t = None if z is None else ops.convert_to_tensor(z)
    state = keras_model.initial_state(z_t, batch)
    params, final = _compiled(keras_model, "feed", run)(x_t, z_t, list(state))
    return MixtureArrays(*(_to_numpy(p) for p in params)), list(final)


def complete(model: AnyModel, partial: Any, n: int = 1, temperature: float = 0.65,
             greedy: bool = False, seed: Seed = None, z: Any = None,
             max_len: int | None = None, temperature_mode: str = "js",
             include_partial: bool = True) -> list[Array]:
    """Continue a partial drawing ``n`` ways (magenta-js's ``updateStrokes``, then sample).

    The decoder reads the start token and the partial drawing's points, then samples on
    from its last point. Works for decoder-only and conditional models; a conditional
    model uses ``z`` if given, else the partial drawing's own mu. The draws are
    :func:`~sketchart.generate.numpy_sampler.draw_noise` of the seed's generator (its z
    unused), as :func:`~sketchart.generate.draw.sample`'s.

    Args:
        partial: stroke-3 in dataset units (at least one point).
        include_partial: return the partial points followed by the continuation (default),
            or the continuation alone.
        max_len: most new points (default: ``max_seq_len`` minus the partial's length,
            at least 1).
    """
    n = _check_n(n)
    temperature_factors(temperature, temperature_mode)
    info = _info(model)
    arr = _check_strokes3(partial, "partial drawing")
    if len(arr) == 0:
        raise SampleError("partial drawing is empty: use sample() to start from nothing")
    steps = _check_max_len(max_len, max(info.max_seq_len - len(arr), 1))
    rng = make_rng(seed)
    if info.conditional and z is None:
        if len(arr) > info.max_seq_len:
            raise SampleError(
                f"partial drawing has {len(arr)} points, more than max_seq_len="
                f"{info.max_seq_len}: pass z to complete it")
        z = encode(model, arr)[0]
    z_np = _given_z(info, z, n)
    inputs5 = np.concatenate([START_TOKEN[None], _strokes3_inputs(arr, info.scale_factor)])
    # every sketch reads the same prefix; the last point is the loop's first input
    _, state = _feed(model, inputs5[:-1], z_np, n)
    noise = draw_noise(rng, n, steps, info.z_size if info.conditional else 0)
    x0 = np.broadcast_to(inputs5[-1], (n, 5)).astype(np.float32)
    rows = _sample_rows(model, x0, state, z_np, noise, greedy,
                        (temperature, temperature_mode, None))
    prefix = arr.copy() if include_partial else None
    if prefix is not None:
        prefix[:, 2] = (prefix[:, 2] > 0.5).astype(np.float32)
    return _rows_to_drawings(rows, info.scale_factor, prefix)


def _softmax(x: Array) -> Array:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def next_pdf(model: AnyModel, strokes3: Any, temperature: float = 0.65, z: Any = None,
             temperature_mode: str = "js",
             softmax_temperature: float | None = None) -> dict[str, Array]:
    """The temperature-adjusted mixture for the point after ``strokes3`` (magenta-js's
    ``update`` over the start token and the strokes, then ``getPDF``).

    Returns:
        ``{"pi", "mu_x", "mu_y", "sigma_x", "sigma_y", "corr", "pen"}``, each float32
        (``[M]``, or ``[3]`` for ``pen``); sigmas in model units, as magenta-js.
    """
    info = _info(model)
    logit_div, sigma_mul = temperature_factors(temperature, temperature_mode,
                                               softmax_temperature)
    arr = _check_strokes3(strokes3, "strokes3")
    if info.conditional and z is None:
        raise SampleError("next_pdf on a conditional model needs z (e.g. from encode)")
    z_np = _given_z(info, z, 1)
    inputs5 = np.concatenate([START_TOKEN[None], _strokes3_inputs(arr, info.scale_factor)])
    params, _ = _feed(model, inputs5, z_np, 1)
    div, mul = np.float32(logit_div), np.float32(sigma_mul)
    out = {
        "pi": _softmax(params.pi_logits / div),
        "mu_x": params.mu_x,
        "mu_y": params.mu_y,
        "sigma_x": params.sigma_x * mul,
        "sigma_y": params.sigma_y * mul,
        "corr": params.rho,
        "pen": _softmax(params.pen_logits / div),
    }
    return {k: np.asarray(v[0], np.float32) for k, v in out.items()}
