"""Sampling and latent-space operations on a :class:`~sketchart.nn.model.SketchRNN`.

All ``n`` sketches of a call advance together through one compiled loop (a ``tf.function``
around ``tf.while_loop`` on TensorFlow, ``jax.jit`` around ``lax.while_loop`` on JAX) that
calls the model's own ``decoder_step`` and stops as soon as every sketch has drawn its end
state. Random numbers are drawn up front from NumPy (``np.random.default_rng(seed)``) and
fed to the loop, so a seed gives the same draws on every backend; the sampled points agree
across backends until float rounding changes a discrete choice.

Temperature conventions (``temperature_mode``):

* ``"js"`` (default, magenta-js / sketch-rnn-js / ml5): pen and mixture logits are divided
  by a softmax temperature ``0.5 + 0.5·T`` (``softmax_temperature`` overrides it), sigma
  is multiplied by ``sqrt(T)``;
* ``"paper"``: logits / T, variance × T (sigma × ``sqrt(T)``);
* ``"reference"`` (magenta's Python ``sample()``): logits / T, sigma × T.

Drawings go in and come out as stroke-3 in dataset units (the model's offsets multiplied by
``model.meta.scale_factor``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sketchart.errors import SketchartError
from sketchart.strokes import START_TOKEN, strokes5_to_strokes3

__all__ = [
    "REDRAW_ROUNDS",
    "TEMPERATURE_MODES",
    "SampleError",
    "complete",
    "decode",
    "draws_a_line",
    "encode",
    "grid",
    "interpolate",
    "lerp",
    "next_pdf",
    "reconstruct",
    "sample",
    "slerp",
    "temperature_factors",
]

#: Rounds of redrawing sketches that draw no line, by default (``sample(redraw_empty=)``).
REDRAW_ROUNDS = 8

#: Accepted values of ``temperature_mode``.
TEMPERATURE_MODES = ("js", "paper", "reference")


class SampleError(SketchartError):
    """Bad input to a sampling or latent operation."""


# ---------------------------------------------------------------------------- helpers
def temperature_factors(
    temperature: float, mode: str = "js", softmax_temperature: float | None = None
) -> tuple[float, float]:
    """What a temperature does to the mixture: ``(logit divisor, sigma multiplier)``.

    Args:
        temperature: ``T > 0``.
        mode: ``"js"``, ``"paper"`` or ``"reference"`` (see the module docstring).
        softmax_temperature: in ``"js"`` mode, the logit divisor (default ``0.5 + 0.5·T``).

    Raises:
        SampleError: ``T <= 0`` or an unknown mode.
    """
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise SampleError(f"temperature must be > 0, got {temperature}")
    if mode == "js":
        div = 0.5 + 0.5 * t if softmax_temperature is None else float(softmax_temperature)
        if not (math.isfinite(div) and div > 0):
            raise SampleError(f"softmax_temperature must be > 0, got {softmax_temperature}")
        return div, math.sqrt(t)
    if mode == "paper":
        return t, math.sqrt(t)
    if mode == "reference":
        return t, t
    raise SampleError(
        f"unknown temperature_mode {mode!r}: expected one of {', '.join(TEMPERATURE_MODES)}")


@dataclass(frozen=True)
class _ModelInfo:
    scale_factor: float
    max_seq_len: int
    conditional: bool
    z_size: int


def _info(model: Any) -> _ModelInfo:
    hps = model.hps
    meta = getattr(model, "meta", None)
    scale = float(getattr(meta, "scale_factor", None) or 1.0)
    max_len = int(getattr(meta, "max_seq_len", None) or hps.max_seq_len)
    return _ModelInfo(scale, max_len, bool(hps.conditional), int(hps.z_size))


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _to_numpy(x: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x))


def _check_strokes3(strokes3: Any, what: str) -> np.ndarray:
    arr = np.asarray(strokes3, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise SampleError(
            f"{what}: expected a stroke-3 array [n, 3], got shape {list(arr.shape)}"
        )
    if not np.all(np.isfinite(arr)):
        raise SampleError(f"{what}: holds NaN or infinite values")
    return arr


def _strokes3_inputs(strokes3: np.ndarray, scale_factor: float) -> np.ndarray:
    """Stroke-3 (dataset units) -> stroke-5 decoder inputs in model units, no start token."""
    rows = np.zeros((len(strokes3), 5), dtype=np.float32)
    rows[:, 0:2] = strokes3[:, 0:2] / scale_factor
    lift = (strokes3[:, 2] > 0.5).astype(np.float32)
    rows[:, 2] = 1.0 - lift
    rows[:, 3] = lift
    return rows


# ----------------------------------------------------------- the sampling maths
def _sample_point(params: Any, u: Any, g: Any, logit_div: Any, sigma_mul: Any,
                  greedy: bool) -> Any:
    """One stroke-5 point per sketch from the mixture ``params`` (keras.ops only).

    ``u [B, 2]`` uniforms pick the mixture component and the pen state by inverse CDF, as
    magenta-js's ``sampleSoftmax`` does; ``g [B, 2]`` standard normals give the offset
    (magenta-js's ``birandn``).
    """
    from keras import ops

    pen_p = ops.softmax(params.pen_logits / logit_div, axis=-1)
    pi_p = ops.softmax(params.pi_logits / logit_div, axis=-1)
    m = ops.shape(pi_p)[-1]
    if greedy:
        k = ops.argmax(pi_p, axis=-1)
        pen = ops.argmax(pen_p, axis=-1)
    else:
        k = _inverse_cdf(pi_p, u[:, 0], m)
        pen = _inverse_cdf(pen_p, u[:, 1], 3)
    pick = ops.one_hot(k, m, dtype="float32")

    def chosen(t: Any) -> Any:
        return ops.sum(t * pick, axis=-1)

    mu_x, mu_y = chosen(params.mu_x), chosen(params.mu_y)
    if greedy:
        dx, dy = mu_x, mu_y
    else:
        sx = chosen(params.sigma_x) * sigma_mul
        sy = chosen(params.sigma_y) * sigma_mul
        rho = chosen(params.rho)
        z1, z2 = g[:, 0], g[:, 1]
        dx = mu_x + sx * (ops.sqrt(ops.maximum(1.0 - rho * rho, 0.0)) * z1 + rho * z2)
        dy = mu_y + sy * z2
    pen_onehot = ops.one_hot(pen, 3, dtype="float32")
    return ops.concatenate([dx[:, None], dy[:, None], pen_onehot], axis=-1)


def _inverse_cdf(p: Any, u: Any, k: int) -> Any:
    from keras import ops

    below = ops.cast(ops.cumsum(p, axis=-1) < u[:, None], "int32")
    return ops.minimum(ops.sum(below, axis=-1), k - 1)


def _step_function(model: Any, z: Any) -> Callable[[Any, Any], tuple[Any, Any]]:
    """``(x, state) -> (params, new_state)``: the model's decoder step at inference.

    For a conditional model z's share of the input projection is the same at every step,
    so it is computed once here (as the model's teacher-forced ``decode`` does) instead of
    once per step: about a fifth of a default decoder step's work. The result equals
    ``model.decoder_step(x, state, z)`` (tests/test_sampling.py checks it).
    """
    if not model.hps.conditional:
        return lambda x, state: model.decoder_step(x, state, None)
    from keras import ops

    from sketchart.nn.losses import split_mixture

    cell = model.decoder
    zp = cell.project_inputs(ops.cast(z, "float32"), 5, use_bias=False)

    def step(x: Any, state: Any) -> tuple[Any, Any]:
        xp = [a + b for a, b in zip(cell.project_inputs(ops.cast(x, "float32"), 0,
                                                        use_bias=True), zp, strict=True)]
        h, new_state = cell.step(xp, list(state), None)
        return split_mixture(model.dec_output(h), model.hps.num_mixture), new_state

    return step


# ------------------------------------------------------------------ compiled loops
#: On TensorFlow, whether the sampling loop is compiled with XLA (``jit_compile``):
#: ``"auto"`` (default) uses XLA except for batches in :data:`PLAIN_TF_BATCHES`, where a
#: plain ``tf.function`` measured faster on the 2-core CPU. Steady state, flamingo, ms per
#: sketch, two sittings (XLA / plain): batch 1: 16 / 39, 16 / 55; batch 8: 18 / 16,
#: 12 / 23; batch 16: 19 / 10, 38 / 17; batch 32: 14 / 10; batch 100: 4.9 / 9.0,
#: 8.4 / 6.8 (loaded machine). Without XLA the per-op overhead of the graph executor
#: dominates small batches; XLA's CPU matrix products lose at middling ones. XLA's first
#: compilation costs about 1.5 s more. ``SKETCHART_TF_XLA=0/1`` forces either.
TF_JIT_COMPILE: bool | str = {"0": False, "1": True}.get(
    os.environ.get("SKETCHART_TF_XLA", "auto"), "auto")
PLAIN_TF_BATCHES = range(9, 64)


def _cache(model: Any) -> dict[tuple, Callable]:
    """Compiled functions of ``model``, kept on the model itself so that they are freed with
    it (set past Keras' attribute tracking: they are not layers or weights)."""
    cache = model.__dict__.get("_sketchart_compiled")
    if cache is None:
        cache = {}
        object.__setattr__(model, "_sketchart_compiled", cache)
    return cache


def _loop_for(model: Any, greedy: bool, jit: bool | None, batch: int) -> Callable:
    backend = _backend()
    if backend == "tensorflow":
        if jit is None:
            jit = (batch not in PLAIN_TF_BATCHES if TF_JIT_COMPILE == "auto"
                   else bool(TF_JIT_COMPILE))
        jit = bool(jit)
    key = (backend, greedy, jit)
    cache = _cache(model)
    if key not in cache:
        if backend == "tensorflow":
            cache[key] = _make_tf_loop(model, greedy, bool(jit))
        elif backend == "jax":
            cache[key] = _make_jax_loop(model, greedy)
        else:
            cache[key] = _make_eager_loop(model, greedy)
    return cache[key]


def _make_tf_loop(model: Any, greedy: bool, jit: bool) -> Callable:
    import tensorflow as tf

    @tf.function(jit_compile=jit, reduce_retracing=True, autograph=False)
    def run(x0, state0, z, u, g, logit_div, sigma_mul, limit):  # type: ignore[no-untyped-def]
        max_len = tf.minimum(tf.shape(u)[0], limit)
        batch = tf.shape(x0)[0]
        buf = tf.zeros([tf.shape(u)[0], batch, 5], tf.float32)
        ended = tf.zeros([batch], tf.bool)
        decoder_step = _step_function(model, z)

        def cond(i, x, state, ended, buf):  # type: ignore[no-untyped-def]
            return tf.logical_and(i < max_len, tf.logical_not(tf.reduce_all(ended)))

        def body(i, x, state, ended, buf):  # type: ignore[no-untyped-def]
            params, state = decoder_step(x, state)
            x = _sample_point(params, u[i], g[i], logit_div, sigma_mul, greedy)
            # ended sketches keep stepping (fixed shapes); rows after their end are cut later
            ended = tf.logical_or(ended, x[:, 4] > 0.5)
            buf = tf.tensor_scatter_nd_update(buf, [[i]], x[None])
            return i + 1, x, state, ended, buf

        steps, _, _, _, buf = tf.while_loop(
            cond, body, (tf.constant(0), x0, state0, ended, buf))
        return buf, steps

    return run


def _jax_pure(model: Any, fn: Callable) -> Callable:
    """``jax.jit`` of ``fn(*args)`` with the model's weights as traced arguments (not
    constants folded into the program), through ``keras.StatelessScope``."""
    import jax
    import keras

    variables = list(model.variables)

    @jax.jit
    def pure(values, *args):  # type: ignore[no-untyped-def]
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return fn(*args)

    def call(*args: Any) -> Any:
        return pure([v.value for v in variables], *args)

    return call


def _make_jax_loop(model: Any, greedy: bool) -> Callable:
    import jax
    import jax.numpy as jnp

    def run(x0, state0, z, u, g, logit_div, sigma_mul, limit):  # type: ignore[no-untyped-def]
        batch = x0.shape[0]
        max_len = jnp.minimum(u.shape[0], limit)
        decoder_step = _step_function(model, z)

        def cond(carry):  # type: ignore[no-untyped-def]
            i, _, _, ended, _ = carry
            return jnp.logical_and(i < max_len, jnp.logical_not(jnp.all(ended)))

        def body(carry):  # type: ignore[no-untyped-def]
            i, x, state, ended, buf = carry
            params, state = decoder_step(x, state)
            x = _sample_point(params, u[i], g[i], logit_div, sigma_mul, greedy)
            ended = jnp.logical_or(ended, x[:, 4] > 0.5)
            return i + 1, x, state, ended, buf.at[i].set(x)

        carry = (jnp.int32(0), x0, list(state0), jnp.zeros((batch,), bool),
                 jnp.zeros((u.shape[0], batch, 5), jnp.float32))
        steps, _, _, _, buf = jax.lax.while_loop(cond, body, carry)
        return buf, steps

    return _jax_pure(model, run)


def _compiled(model: Any, name: str, fn: Callable) -> Callable:
    """``fn`` (pure, calling the model) compiled for the backend, cached per model.

    The model's ``encode`` and ``decode`` run their recurrences through
    ``sketchart.nn.backend.scan``, which is only fast inside a compiled function.
    """
    cache = _cache(model)
    key = ("fn", name, _backend())
    if key not in cache:
        if key[2] == "tensorflow":
            import tensorflow as tf

            cache[key] = tf.function(fn, reduce_retracing=True, autograph=False)
        elif key[2] == "jax":
            cache[key] = _jax_pure(model, fn)
        else:
            cache[key] = fn
    return cache[key]


def _make_eager_loop(model: Any, greedy: bool) -> Callable:
    """Any other Keras backend: the same step, one Python iteration per point."""

    def run(x0, state0, z, u, g, logit_div, sigma_mul, limit):  # type: ignore[no-untyped-def]
        x, state, rows = x0, state0, []
        decoder_step = _step_function(model, z)
        for i in range(min(int(u.shape[0]), int(limit))):
            params, state = decoder_step(x, state)
            x = _sample_point(params, u[i], g[i], logit_div, sigma_mul, greedy)
            rows.append(_to_numpy(x))
            if np.all(rows[-1][:, 4] > 0.5):
                break
        return np.stack(rows), len(rows)

    return run


@dataclass
class _Draws:
    """Independent random streams of one call, so that the draws of step ``t`` do not depend
    on ``max_len`` or on whether ``z`` was given (a shorter run is a prefix of a longer one).
    """

    z: np.random.Generator
    uniform: np.random.Generator
    normal: np.random.Generator

    @classmethod
    def from_seed(cls, seed: int | None) -> _Draws:
        z, uniform, normal = (np.random.default_rng(s)
                              for s in np.random.SeedSequence(seed).spawn(3))
        return cls(z, uniform, normal)


_LEN_BUCKET = 32


def _run_loop(model: Any, x0: np.ndarray, state0: Any, z: Any, max_len: int,
              draws: _Draws, temperature: float, greedy: bool,
              temperature_mode: str, softmax_temperature: float | None,
              jit: bool | None = None) -> np.ndarray:
    """Run the compiled loop; returns sampled stroke-5 rows ``[steps, B, 5]`` (model units)."""
    from keras import ops

    logit_div, sigma_mul = temperature_factors(temperature, temperature_mode,
                                               softmax_temperature)
    batch = x0.shape[0]
    # buffers are sized in buckets of 32 steps and the loop bound is a traced value, so
    # that a new max_len rarely means a new compilation (JAX compiles per shape)
    bucket = -(-max_len // _LEN_BUCKET) * _LEN_BUCKET
    u = draws.uniform.random((bucket, batch, 2), dtype=np.float32)
    g = draws.normal.standard_normal((bucket, batch, 2), dtype=np.float32)
    loop = _loop_for(model, greedy, jit, batch)
    buf, steps = loop(ops.convert_to_tensor(x0), state0, z, ops.convert_to_tensor(u),
                      ops.convert_to_tensor(g), ops.convert_to_tensor(np.float32(logit_div)),
                      ops.convert_to_tensor(np.float32(sigma_mul)),
                      ops.convert_to_tensor(np.int32(max_len)))
    return _to_numpy(buf)[: int(_to_numpy(steps))]


def _rows_to_drawings(rows: np.ndarray, scale_factor: float,
                      prefix: np.ndarray | None = None) -> list[np.ndarray]:
    drawings = []
    for b in range(rows.shape[1]):
        strokes3 = strokes5_to_strokes3(rows[:, b])
        strokes3[:, 0:2] *= scale_factor
        if prefix is not None:
            strokes3 = np.concatenate([prefix, strokes3], axis=0)
        drawings.append(strokes3)
    return drawings


# ----------------------------------------------------------------- public API
def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise SampleError(f"n must be a positive integer, got {n!r}")
    return int(n)


def _check_max_len(max_len: int | None, default: int) -> int:
    if max_len is None:
        return default
    if isinstance(max_len, bool) or not isinstance(max_len, int | np.integer) or max_len < 1:
        raise SampleError(f"max_len must be a positive integer, got {max_len!r}")
    return int(max_len)


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


def _as_list(drawings: Any) -> list[np.ndarray]:
    """One stroke-3 array or a sequence of them -> a list."""
    if isinstance(drawings, np.ndarray) and drawings.ndim == 2:
        return [drawings]
    return list(drawings)


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


def lerp(z0: np.ndarray, z1: np.ndarray, t: float) -> np.ndarray:
    """Linear interpolation ``(1 - t)·z0 + t·z1``."""
    return ((1.0 - t) * np.asarray(z0, np.float64) + t * np.asarray(z1, np.float64)).astype(
        np.float32)


def slerp(z0: np.ndarray, z1: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation (Shoemake), as the sketch-rnn notebook does; lerp if
    parallel."""
    a, b = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return lerp(a, b, t)
    omega = math.acos(float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0)))
    so = math.sin(omega)
    if so < 1e-6:
        return lerp(a, b, t)
    return ((math.sin((1.0 - t) * omega) / so) * a + (math.sin(t * omega) / so) * b).astype(
        np.float32)


def _latent_or_encode(model: Any, item: Any) -> np.ndarray:
    """A latent vector given directly (``[z_size]``), or the mu of a stroke-3 drawing."""
    info = _info(model)
    arr = np.asarray(item, dtype=np.float32)
    if arr.ndim == 1:
        if arr.shape[0] != info.z_size:
            raise SampleError(
                f"latent vector must have {info.z_size} values, got {arr.shape[0]}"
            )
        return arr
    return encode(model, arr)[0]


def interpolate(model: Any, start: Any, end: Any, steps: int = 5, method: str = "slerp",
                temperature: float = 0.65, greedy: bool = False, seed: int | None = None,
                max_len: int | None = None, temperature_mode: str = "js") -> list[np.ndarray]:
    """Drawings along a path in latent space from ``start`` to ``end`` (both included).

    Args:
        model: a conditional SketchRNN.
        start, end: stroke-3 drawings (encoded to their mu) or latent vectors ``[z_size]``.
        steps: number of drawings (>= 2).
        method: ``"slerp"`` (default) or ``"lerp"``.
    """
    if method not in ("lerp", "slerp"):
        raise SampleError(f"unknown interpolation method {method!r}: expected lerp or slerp")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise SampleError(f"steps must be an integer >= 2, got {steps!r}")
    if not _info(model).conditional:
        raise SampleError(
            "interpolate needs a conditional (VAE) model; this one is decoder-only"
        )
    z0, z1 = _latent_or_encode(model, start), _latent_or_encode(model, end)
    mix = slerp if method == "slerp" else lerp
    zs = np.stack([mix(z0, z1, t) for t in np.linspace(0.0, 1.0, steps)])
    return decode(model, zs, temperature, greedy=greedy, seed=seed, max_len=max_len,
                  temperature_mode=temperature_mode)


def grid(model: Any, corners: Sequence[Any], rows: int = 5, cols: int = 5,
         temperature: float = 0.65, greedy: bool = False, seed: int | None = None,
         max_len: int | None = None, temperature_mode: str = "js") -> list[list[np.ndarray]]:
    """A ``rows × cols`` grid of drawings, bilinear in z between four corners.

    Args:
        corners: four drawings or latent vectors: top-left, top-right, bottom-left,
            bottom-right.

    Returns:
        ``rows`` lists of ``cols`` stroke-3 drawings.
    """
    if len(corners) != 4:
        raise SampleError(f"grid needs 4 corners (tl, tr, bl, br), got {len(corners)}")
    for name, v in (("rows", rows), ("cols", cols)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SampleError(f"{name} must be a positive integer, got {v!r}")
    if not _info(model).conditional:
        raise SampleError("grid needs a conditional (VAE) model; this one is decoder-only")
    tl, tr, bl, br = (_latent_or_encode(model, c).astype(np.float64) for c in corners)
    zs = []
    for r in range(rows):
        v = r / (rows - 1) if rows > 1 else 0.0
        for c in range(cols):
            h = c / (cols - 1) if cols > 1 else 0.0
            zs.append((1 - v) * ((1 - h) * tl + h * tr) + v * ((1 - h) * bl + h * br))
    flat = decode(model, np.asarray(zs, np.float32), temperature, greedy=greedy, seed=seed,
                  max_len=max_len, temperature_mode=temperature_mode)
    return [flat[r * cols:(r + 1) * cols] for r in range(rows)]


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
