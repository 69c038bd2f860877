"""Continuing a partial drawing, and the next point's distribution after a prefix."""

from __future__ import annotations

from typing import Any

import numpy as np

from sketchart.generate.common import (
    SampleError,
    _check_max_len,
    _check_n,
    _check_strokes3,
    _info,
    _strokes3_inputs,
    _to_numpy,
    temperature_factors,
)
from sketchart.generate.draw import _latent, encode
from sketchart.generate.loops import _compiled, _Draws, _rows_to_drawings, _run_loop
from sketchart.strokes import START_TOKEN

__all__ = ["complete", "next_pdf"]


def _feed(model: Any, inputs5: np.ndarray, z: Any, batch: int) -> tuple[Any, list[Any]]:
    """Run the decoder over ``inputs5 [T, 5]`` (the same for every sketch).

    Returns:
        ``(params of the last step [batch, ...], state after it)``.
    """
    from keras import ops

    def run(x, z, state):  # type: ignore[no-untyped-def]
        params, final, _ = model.decode(x, z, state)
        return type(params)(*(p[:, -1] for p in params)), final

    x = ops.convert_to_tensor(np.broadcast_to(inputs5, (batch, *inputs5.shape)).astype(
        np.float32))
    state = model.initial_state(z, batch)
    return _compiled(model, "feed", run)(x, z, list(state))


def complete(model: Any, partial: Any, n: int = 1, temperature: float = 0.65,
             greedy: bool = False, seed: int | None = None, z: Any = None,
             max_len: int | None = None, temperature_mode: str = "js",
             include_partial: bool = True) -> list[np.ndarray]:
    """Continue a partial drawing ``n`` ways (magenta-js's ``updateStrokes``, then sample).

    The decoder reads the start token and the partial drawing's points, then samples on
    from its last point. Works for decoder-only and conditional models; a conditional
    model uses ``z`` if given, else the partial drawing's own mu.

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
    draws = _Draws.from_seed(seed)
    if info.conditional and z is None:
        if len(arr) > info.max_seq_len:
            raise SampleError(
                f"partial drawing has {len(arr)} points, more than max_seq_len="
                f"{info.max_seq_len}: pass z to complete it")
        z = encode(model, arr)[0]
    z_t = _latent(model, z, n, draws, info)
    inputs5 = np.concatenate([START_TOKEN[None], _strokes3_inputs(arr, info.scale_factor)])
    # every sketch reads the same prefix; the last point is the loop's first input
    _, state = _feed(model, inputs5[:-1], z_t, n)
    x0 = np.broadcast_to(inputs5[-1], (n, 5)).astype(np.float32)
    rows = _run_loop(model, x0, state, z_t, steps, draws, temperature, greedy,
                     temperature_mode, None)
    prefix = arr.copy() if include_partial else None
    if prefix is not None:
        prefix[:, 2] = (prefix[:, 2] > 0.5).astype(np.float32)
    return _rows_to_drawings(rows, info.scale_factor, prefix)


def next_pdf(model: Any, strokes3: Any, temperature: float = 0.65, z: Any = None,
             temperature_mode: str = "js",
             softmax_temperature: float | None = None) -> dict[str, np.ndarray]:
    """The temperature-adjusted mixture for the point after ``strokes3`` (magenta-js's
    ``update`` over the start token and the strokes, then ``getPDF``).

    Returns:
        ``{"pi", "mu_x", "mu_y", "sigma_x", "sigma_y", "corr", "pen"}``, each float32
        (``[M]``, or ``[3]`` for ``pen``); sigmas in model units, as magenta-js.
    """
    from keras import ops

    info = _info(model)
    logit_div, sigma_mul = temperature_factors(temperature, temperature_mode,
                                               softmax_temperature)
    arr = _check_strokes3(strokes3, "strokes3")
    if info.conditional and z is None:
        raise SampleError("next_pdf on a conditional model needs z (e.g. from encode)")
    z_t = _latent(model, z, 1, _Draws.from_seed(0), info)
    inputs5 = np.concatenate([START_TOKEN[None], _strokes3_inputs(arr, info.scale_factor)])
    params, _ = _feed(model, inputs5, z_t, 1)
    return {
        "pi": _to_numpy(ops.softmax(params.pi_logits / logit_div, axis=-1))[0],
        "mu_x": _to_numpy(params.mu_x)[0],
        "mu_y": _to_numpy(params.mu_y)[0],
        "sigma_x": _to_numpy(params.sigma_x)[0] * np.float32(sigma_mul),
        "sigma_y": _to_numpy(params.sigma_y)[0] * np.float32(sigma_mul),
        "corr": _to_numpy(params.rho)[0],
        "pen": _to_numpy(ops.softmax(params.pen_logits / logit_div, axis=-1))[0],
    }
