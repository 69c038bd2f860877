"""Drawing from a model: free and conditional samples, decoding latent vectors, encoding
and reconstructing drawings."""

from __future__ import annotations

from typing import Any

import numpy as np

from sketchart.generate.common import (
    REDRAW_ROUNDS,
    SampleError,
    _as_list,
    _check_max_len,
    _check_n,
    _check_strokes3,
    _info,
    _ModelInfo,
    _to_numpy,
    temperature_factors,
)
from sketchart.generate.loops import _compiled, _Draws, _rows_to_drawings, _run_loop
from sketchart.strokes import START_TOKEN

__all__ = ["decode", "draws_a_line", "encode", "reconstruct", "sample"]


def _latent(model: Any, z: Any, n: int, draws: _Draws, info: _ModelInfo) -> Any:
    """``z [n, z_size]`` as a tensor for a conditional model (None for decoder-only)."""
    from keras import ops

    if not info.conditional:
        if z is not None:
            raise SampleError(
                "z given, but this model is decoder-only (it has no latent space)"
            )
        return None
    if z is None:
        z_np = draws.z.standard_normal((n, info.z_size), dtype=np.float32)
    else:
        z_np = np.asarray(z, dtype=np.float32)
        if z_np.ndim == 1:
            z_np = np.broadcast_to(z_np, (n, z_np.shape[0]))
        if z_np.shape != (n, info.z_size):
            raise SampleError(
                f"z must have shape [{n}, {info.z_size}] (or [{info.z_size}]), "
                f"got {list(np.shape(z))}")
        if not np.all(np.isfinite(z_np)):
            raise SampleError("z holds NaN or infinite values")
    return ops.convert_to_tensor(np.ascontiguousarray(z_np))


def sample(
    model: Any,
    n: int = 1,
    temperature: float = 0.65,
    greedy: bool = False,
    seed: int | None = None,
    z: Any = None,
    max_len: int | None = None,
    temperature_mode: str = "js",
    softmax_temperature: float | None = None,
    redraw_empty: int = REDRAW_ROUNDS,
) -> list[np.ndarray]:
    """Draw ``n`` sketches.

    Args:
        model: a loaded :class:`~sketchart.nn.model.SketchRNN`.
        n: number of sketches (they advance together, one batch).
        temperature: ``T > 0``; lower is tidier (see ``temperature_mode``).
        greedy: take the most likely component, pen state and the component mean.
        seed: makes the run reproducible (per backend).
        z: latent vectors ``[n, z_size]`` (or one ``[z_size]`` for all) for a conditional
            model; drawn from N(0, I) when omitted.
        max_len: most points per sketch (default the model's ``max_seq_len``).
        temperature_mode: ``"js"`` (default), ``"paper"`` or ``"reference"``.
        softmax_temperature: in ``"js"`` mode, overrides the logit divisor ``0.5 + 0.5·T``.
        redraw_empty: when ``z`` is drawn here, a sketch that draws no line (it chose its
            end state at once: a VAE trained for a few thousand steps does so for a
            fifth of prior ``z``) is drawn again with a fresh ``z`` and fresh noise, at
            most this many rounds; ``0`` keeps such empty sketches, as the reference.
            Given ``z`` is never replaced.

    Returns:
        ``n`` float32 stroke-3 arrays ``[k, 3]`` in dataset units, each cut before its end
        state (``k <= max_len``).
    """
    n = _check_n(n)
    temperature_factors(temperature, temperature_mode, softmax_temperature)
    info = _info(model)
    steps = _check_max_len(max_len, info.max_seq_len)
    draws = _Draws.from_seed(seed)
    z_t = _latent(model, z, n, draws, info)
    state0 = model.initial_state(z_t, n)
    x0 = np.broadcast_to(START_TOKEN, (n, 5)).astype(np.float32)
    rows = _run_loop(model, x0, state0, z_t, steps, draws, temperature, greedy,
                     temperature_mode, softmax_temperature)
    drawings = _rows_to_drawings(rows, info.scale_factor)
    # nothing new can come of a redraw with z given, or greedily without a z to change
    rounds = 0 if z is not None or (greedy and not info.conditional) else int(redraw_empty)
    for _ in range(rounds):
        empty = [i for i, d in enumerate(drawings) if not draws_a_line(d)]
        if not empty:
            break
        # a whole batch again (the loop is compiled for n rows), its first good sketches
        z_t = _latent(model, None, n, draws, info)
        rows = _run_loop(model, x0, model.initial_state(z_t, n), z_t, steps, draws,
                         temperature, greedy, temperature_mode, softmax_temperature)
        fresh = [d for d in _rows_to_drawings(rows, info.scale_factor) if draws_a_line(d)]
        for i, d in zip(empty, fresh):
            drawings[i] = d
    return drawings


def draws_a_line(strokes3: np.ndarray) -> bool:
    """Whether a stroke-3 sketch puts the pen down between two of its points."""
    arr = np.asarray(strokes3)
    return bool(len(arr) >= 2 and np.any(arr[:-1, 2] < 0.5))


def decode(model: Any, z: Any, temperature: float = 0.65, greedy: bool = False,
           seed: int | None = None, max_len: int | None = None,
           temperature_mode: str = "js") -> list[np.ndarray]:
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


def encode(model: Any, drawings: Any, sample_z: bool = False,
           seed: int | None = None) -> np.ndarray:
    """Latent vectors of drawings (conditional models only).

    Args:
        model: a conditional SketchRNN.
        drawings: one stroke-3 array or a list of them, in dataset units.
        sample_z: return ``mu + sigma·eps`` instead of ``mu``.
        seed: for ``sample_z``.

    Returns:
        ``float32 [n, z_size]``.

    Raises:
        SampleError: a decoder-only model, a drawing that is not stroke-3, or one longer
            than the model's ``max_seq_len``.
    """
    from keras import ops

    from sketchart.strokes import pad_batch

    info = _info(model)
    if not info.conditional:
        raise SampleError("encode needs a conditional (VAE) model; this one is decoder-only")
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
    batch, lengths = pad_batch(normed, info.max_seq_len)
    run = _compiled(model, "encode", lambda x, n: model.encode(x, n, training=False))
    mu, presig = run(ops.convert_to_tensor(batch[:, 1:]), ops.convert_to_tensor(lengths))
    mu_np, presig_np = _to_numpy(mu), _to_numpy(presig)
    if not sample_z:
        return mu_np.astype(np.float32)
    eps = np.random.default_rng(seed).standard_normal(mu_np.shape).astype(np.float32)
    return (mu_np + np.exp(presig_np / 2.0) * eps).astype(np.float32)


def reconstruct(model: Any, drawings: Any, temperature: float = 0.65, greedy: bool = False,
                seed: int | None = None, sample_z: bool = False,
                max_len: int | None = None, temperature_mode: str = "js") -> list[np.ndarray]:
    """Encode drawings, then decode them (one reconstruction per drawing)."""
    z = encode(model, drawings, sample_z=sample_z, seed=seed)
    return decode(model, z, temperature, greedy=greedy, seed=seed, max_len=max_len,
                  temperature_mode=temperature_mode)
