"""Drawing with the NumPy engine: sample, encode, decode, reconstruct, interpolate, grid,
complete -- the semantics and arguments of ``sketchart.generate.sampling``'s functions,
on a :class:`~sketchart.generate.numpy_engine.NumpySketchRNN`.

Drawings go in and come out as stroke-3 in dataset units. ``seed`` may be an int, None
or a ``numpy.random.Generator`` (whose stream then continues); every random number of a
call comes from that one generator (order: ``sketchart.generate.numpy_sampler``).

Importing this module imports NumPy and the format modules only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sketchart.generate.numpy_sampler import (
    EngineError,
    draw_noise,
    make_rng,
    temperature_factors,
)
from sketchart.strokes import START_TOKEN, pad_batch, strokes5_to_strokes3

if TYPE_CHECKING:
    from sketchart.generate.numpy_engine import NumpySketchRNN

__all__ = ["REDRAW_ROUNDS", "complete", "decode", "draws_a_line", "encode", "grid",
           "interpolate", "reconstruct", "sample"]

#: Rounds of redrawing sketches that draw no line, by default (as ``sampling.sample``).
REDRAW_ROUNDS = 8

Seed = int | np.random.Generator | None
Array = np.ndarray


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise EngineError(f"n must be a positive integer, got {n!r}")
    return int(n)


def _check_max_len(max_len: Any, default: int) -> int:
    if max_len is None:
        return default
    if isinstance(max_len, bool) or not isinstance(max_len, int | np.integer) or max_len < 1:
        raise EngineError(f"max_len must be a positive integer, got {max_len!r}")
    return int(max_len)


def _check_strokes3(strokes3: Any, what: str) -> Array:
    arr = np.asarray(strokes3, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise EngineError(
            f"{what}: expected a stroke-3 array [n, 3], got shape {list(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        raise EngineError(f"{what}: holds NaN or infinite values")
    return arr


def _given_z(engine: NumpySketchRNN, z: Any, n: int) -> Array | None:
    """A caller's ``z`` as ``[n, z_size]`` float32 (None when not given)."""
    if z is None:
        return None
    if not engine.conditional:
        raise EngineError("z given, but this model is decoder-only (it has no latent space)")
    z_np = np.asarray(z, dtype=np.float32)
    if z_np.ndim == 1:
        z_np = np.broadcast_to(z_np, (n, z_np.shape[0]))
    if z_np.shape != (n, engine.z_size):
        raise EngineError(f"z must have shape [{n}, {engine.z_size}] (or [{engine.z_size}]), "
                          f"got {list(np.shape(z))}")
    if not np.all(np.isfinite(z_np)):
        raise EngineError("z holds NaN or infinite values")
    return np.ascontiguousarray(z_np)


def _rows_to_drawings(rows: Array, scale: float, prefix: Array | None = None) -> list[Array]:
    out = []
    for b in range(rows.shape[1]):
        strokes3 = strokes5_to_strokes3(rows[:, b])
        strokes3[:, 0:2] *= scale
        if prefix is not None:
            strokes3 = np.concatenate([prefix, strokes3], axis=0)
        out.append(strokes3)
    return out


def draws_a_line(strokes3: Array) -> bool:
    """Whether a stroke-3 sketch puts the pen down between two of its points."""
    arr = np.asarray(strokes3)
    return bool(len(arr) >= 2 and np.any(arr[:-1, 2] < 0.5))


def _one_round(engine: NumpySketchRNN, rng: np.random.Generator, n: int, steps: int,
               z: Array | None, greedy: bool, temps: tuple[float, str, float | None],
               ) -> list[Array]:
    noise = draw_noise(rng, n, steps, engine.z_size if engine.conditional else 0)
    if engine.conditional and z is None:
        z = noise["z"]
    x0 = np.broadcast_to(START_TOKEN, (n, 5)).astype(np.float32)
    rows = engine.sample_rows(x0, engine.initial_state(z, n), z, noise, temps[0], greedy,
                              temps[1], temps[2])
    return _rows_to_drawings(rows, engine.scale_factor)


def sample(engine: NumpySketchRNN, n: int = 1, temperature: float = 0.65,
           greedy: bool = False, seed: Seed = None, z: Any = None,
           max_len: int | None = None, temperature_mode: str = "js",
           softmax_temperature: float | None = None,
           redraw_empty: int | None = None) -> list[Array]:
    """Draw ``n`` sketches, one batch.

    As ``sketchart.generate.sampling.sample``: ``z [n, z_size]`` (or one ``[z_size]``)
    for a conditional model, else drawn from N(0, I); ``max_len`` most points (default the
    model's ``max_seq_len``); ``redraw_empty`` rounds (default 8) redraw, with fresh draws
    from the same generator, the sketches that draw no line when ``z`` was not given (a
    whole batch of ``n`` again, its first good sketches replace the empty ones).

    Returns:
        ``n`` float32 stroke-3 arrays ``[k, 3]`` in dataset units.
    """
    n = _check_n(n)
    temperature_factors(temperature, temperature_mode, softmax_temperature)
    steps = _check_max_len(max_len, engine.max_seq_len)
    rng = make_rng(seed)
    z_np = _given_z(engine, z, n)
    temps = (temperature, temperature_mode, softmax_temperature)
    drawings = _one_round(engine, rng, n, steps, z_np, greedy, temps)
    rounds = REDRAW_ROUNDS if redraw_empty is None else int(redraw_empty)
    # nothing new can come of a redraw with z given, or greedily without a z to change
    if z is not None or (greedy and not engine.conditional):
        rounds = 0
    for _ in range(rounds):
        empty = [i for i, d in enumerate(drawings) if not draws_a_line(d)]
        if not empty:
            break
        fresh = [d for d in _one_round(engine, rng, n, steps, None, greedy, temps)
                 if draws_a_line(d)]
        for i, d in zip(empty, fresh):
            drawings[i] = d
    return drawings


def _as_list(drawings: Any) -> list[Any]:
    if isinstance(drawings, np.ndarray) and drawings.ndim == 2:
        return [drawings]
    return list(drawings)


def encode(engine: NumpySketchRNN, drawings: Any, sample_z: bool = False,
           seed: Seed = None) -> Array:
    """Latent vectors ``float32 [n, z_size]`` of stroke-3 drawings (dataset units): their
    mu, or ``mu + sigma·eps`` with ``sample_z`` (eps: ``standard_normal`` of the seed's
    generator, float64 cast to float32)."""
    if not engine.conditional:
        raise EngineError("encode needs a conditional (VAE) model; this one is decoder-only")
    items = _as_list(drawings)
    if not items:
        raise EngineError("encode: no drawings given")
    normed = []
    for i, d in enumerate(items):
        arr = _check_strokes3(d, f"drawing {i}")
        if len(arr) > engine.max_seq_len:
            raise EngineError(f"drawing {i} has {len(arr)} points, more than the model's "
                              f"max_seq_len={engine.max_seq_len}")
        if len(arr) == 0:
            raise EngineError(f"drawing {i} is empty")
        arr = arr.copy()
        arr[:, 0:2] /= engine.scale_factor
        arr[:, 2] = (arr[:, 2] > 0.5).astype(np.float32)
        normed.append(arr)
    batch, lengths = pad_batch(normed, engine.max_seq_len)
    mu, presig = engine.encode_batch(batch[:, 1:], lengths)
    if not sample_z:
        return mu.astype(np.float32)
    eps = make_rng(seed).standard_normal(mu.shape).astype(np.float32)
    return (mu + np.exp(presig / np.float32(2.0)) * eps).astype(np.float32)


def decode(engine: NumpySketchRNN, z: Any, temperature: float = 0.65, greedy: bool = False,
           seed: Seed = None, max_len: int | None = None,
           temperature_mode: str = "js") -> list[Array]:
    """One drawing per latent vector ``z [n, z_size]`` (conditional models only)."""
    if not engine.conditional:
        raise EngineError("decode needs a conditional (VAE) model; this one is decoder-only")
    z_np = np.asarray(z, dtype=np.float32)
    if z_np.ndim == 1:
        z_np = z_np[None]
    if z_np.ndim != 2:
        raise EngineError(f"z must be [n, {engine.z_size}], got shape {list(z_np.shape)}")
    return sample(engine, len(z_np), temperature, greedy=greedy, seed=seed, z=z_np,
                  max_len=max_len, temperature_mode=temperature_mode)


def reconstruct(engine: NumpySketchRNN, drawings: Any, temperature: float = 0.65,
                greedy: bool = False, seed: Seed = None, sample_z: bool = False,
                max_len: int | None = None, temperature_mode: str = "js") -> list[Array]:
    """Encode drawings, then decode them; one generator: encoding's eps first."""
    rng = make_rng(seed)
    z = encode(engine, drawings, sample_z=sample_z, seed=rng)
    return decode(engine, z, temperature, greedy=greedy, seed=rng, max_len=max_len,
                  temperature_mode=temperature_mode)


def _latent_or_encode(engine: NumpySketchRNN, item: Any) -> Array:
    arr = np.asarray(item, dtype=np.float32)
    if arr.ndim == 1:
        if arr.shape[0] != engine.z_size:
            raise EngineError(
                f"latent vector must have {engine.z_size} values, got {arr.shape[0]}")
        return arr
    return encode(engine, arr)[0]


def interpolate(engine: NumpySketchRNN, start: Any, end: Any, steps: int = 5,
                method: str = "slerp", temperature: float = 0.65, greedy: bool = False,
                seed: Seed = None, max_len: int | None = None,
                temperature_mode: str = "js") -> list[Array]:
    """Drawings along a path in latent space from ``start`` to ``end`` (both included);
    ``start``/``end`` are drawings (encoded to their mu) or latent vectors."""
    from sketchart.generate.numpy_engine import lerp, slerp

    if method not in ("lerp", "slerp"):
        raise EngineError(f"unknown interpolation method {method!r}: expected lerp or slerp")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise EngineError(f"steps must be an integer >= 2, got {steps!r}")
    if not engine.conditional:
        raise EngineError(
            "interpolate needs a conditional (VAE) model; this one is decoder-only")
    z0, z1 = _latent_or_encode(engine, start), _latent_or_encode(engine, end)
    mix = slerp if method == "slerp" else lerp
    zs = np.stack([mix(z0, z1, t) for t in np.linspace(0.0, 1.0, steps)])
    return decode(engine, zs, temperature, greedy=greedy, seed=seed, max_len=max_len,
                  temperature_mode=temperature_mode)


def grid(engine: NumpySketchRNN, corners: Sequence[Any], rows: int = 5, cols: int = 5,
         temperature: float = 0.65, greedy: bool = False, seed: Seed = None,
         max_len: int | None = None, temperature_mode: str = "js") -> list[list[Array]]:
    """``rows`` lists of ``cols`` drawings, bilinear in z between four corners
    (top-left, top-right, bottom-left, bottom-right; drawings or latent vectors)."""
    if len(corners) != 4:
        raise EngineError(f"grid needs 4 corners (tl, tr, bl, br), got {len(corners)}")
    for name, v in (("rows", rows), ("cols", cols)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise EngineError(f"{name} must be a positive integer, got {v!r}")
    if not engine.conditional:
        raise EngineError("grid needs a conditional (VAE) model; this one is decoder-only")
    tl, tr, bl, br = (_latent_or_encode(engine, c).astype(np.float64) for c in corners)
    zs = []
    for r in range(rows):
        v = r / (rows - 1) if rows > 1 else 0.0
        for c in range(cols):
            h = c / (cols - 1) if cols > 1 else 0.0
            zs.append((1 - v) * ((1 - h) * tl + h * tr) + v * ((1 - h) * bl + h * br))
    flat = decode(engine, np.asarray(zs, np.float32), temperature, greedy=greedy, seed=seed,
                  max_len=max_len, temperature_mode=temperature_mode)
    return [flat[r * cols:(r + 1) * cols] for r in range(rows)]


def _strokes3_inputs(strokes3: Array, scale: float) -> Array:
    """Stroke-3 (dataset units) -> stroke-5 decoder inputs in model units, no start token."""
    rows = np.zeros((len(strokes3), 5), dtype=np.float32)
    rows[:, 0:2] = strokes3[:, 0:2] / np.float32(scale)
    lift = (strokes3[:, 2] > 0.5).astype(np.float32)
    rows[:, 2] = 1.0 - lift
    rows[:, 3] = lift
    return rows


def complete(engine: NumpySketchRNN, partial: Any, n: int = 1, temperature: float = 0.65,
             greedy: bool = False, seed: Seed = None, z: Any = None,
             max_len: int | None = None, temperature_mode: str = "js",
             include_partial: bool = True) -> list[Array]:
    """Continue a partial drawing ``n`` ways: the decoder reads the start token and the
    partial points, then samples on from the last one (``sampling.complete``). A
    conditional model uses ``z`` if given, else the partial drawing's own mu; ``max_len``
    counts new points (default ``max_seq_len`` minus the partial's length, at least 1)."""
    n = _check_n(n)
    temperature_factors(temperature, temperature_mode)
    arr = _check_strokes3(partial, "partial drawing")
    if len(arr) == 0:
        raise EngineError("partial drawing is empty: use sample() to start from nothing")
    steps = _check_max_len(max_len, max(engine.max_seq_len - len(arr), 1))
    rng = make_rng(seed)
    if engine.conditional and z is None:
        if len(arr) > engine.max_seq_len:
            raise EngineError(f"partial drawing has {len(arr)} points, more than max_seq_len="
                              f"{engine.max_seq_len}: pass z to complete it")
        z = encode(engine, arr)[0]
    z_np = _given_z(engine, z, n)
    inputs5 = np.concatenate([START_TOKEN[None], _strokes3_inputs(arr, engine.scale_factor)])
    # every sketch reads the same prefix: once, then the state is repeated, unless z differs
    same = z_np is None or bool(np.all(z_np == z_np[:1]))
    b = 1 if same else n
    zb = None if z_np is None else z_np[:b]
    prefix5 = np.broadcast_to(inputs5[:-1], (b, *inputs5[:-1].shape))
    _, state, _ = engine.decode_batch(prefix5, zb, engine.initial_state(zb, b))
    if same:
        state = [np.repeat(s, n, axis=0) for s in state]
    noise = draw_noise(rng, n, steps, engine.z_size if engine.conditional else 0)
    x0 = np.broadcast_to(inputs5[-1], (n, 5)).astype(np.float32)
    rows = engine.sample_rows(x0, state, z_np, noise, temperature, greedy, temperature_mode)
    prefix = None
    if include_partial:
        prefix = arr.copy()
        prefix[:, 2] = (prefix[:, 2] > 0.5).astype(np.float32)
    return _rows_to_drawings(rows, engine.scale_factor, prefix)
