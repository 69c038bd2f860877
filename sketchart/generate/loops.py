"""The compiled sampling loops: one step of the mixture sampling, and the loop that runs
every sketch of a call together (``tf.while_loop`` in a ``tf.function``, ``lax.while_loop``
under ``jax.jit``, or eager Python), cached per model.

The loops draw no random numbers: they read the uniforms ``u`` and normals ``g`` that the
NumPy engine's generator drew (``numpy_sampler.draw_noise``, ``compiled_inputs``), so a
seed draws the same sketch on NumPy, TensorFlow and JAX up to float rounding.

``SKETCHART_TF_XLA=0/1`` forces XLA off or on for the TensorFlow loop (default ``auto``:
see :data:`PLAIN_TF_BATCHES`); it exists for benchmarks (``benchmarks/sample.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from sketchart.generate.common import _backend, _to_numpy, temperature_factors
from sketchart.generate.numpy_sampler import compiled_inputs

if TYPE_CHECKING:
    from sketchart.nn.model import SketchRNN

__all__ = ["PLAIN_TF_BATCHES", "TF_JIT_COMPILE"]


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


def _step_function(model: SketchRNN, z: Any) -> Callable[[Any, Any], tuple[Any, Any]]:
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


def _cache(model: SketchRNN) -> dict[tuple, Callable]:
    """Compiled functions of ``model``, kept on the model itself so that they are freed with
    it (set past Keras' attribute tracking: they are not layers or weights)."""
    cache = model.__dict__.get("_sketchart_compiled")
    if cache is None:
        cache = {}
        object.__setattr__(model, "_sketchart_compiled", cache)
    return cache


def _loop_for(model: SketchRNN, greedy: bool, jit: bool | None, batch: int) -> Callable:
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
            cache[key] = _tf_full_float32(_make_tf_loop(model, greedy, bool(jit)))
        elif backend == "jax":
            cache[key] = _make_jax_loop(model, greedy)
        else:
            cache[key] = _make_eager_loop(model, greedy)
    return cache[key]


def _make_tf_loop(model: SketchRNN, greedy: bool, jit: bool) -> Callable:
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


def _tf_full_float32(fn: Callable) -> Callable:
    """``fn`` run with TensorFlow's TF32 products off (as the JAX sampler's products run in
    full float32, :func:`_jax_pure`): a GPU's TF32 rounding grows along a sketch that feeds
    its points back. A CPU has no TF32; the setting is put back after each call."""
    import tensorflow as tf

    def call(*args: Any) -> Any:
        was = tf.config.experimental.tensor_float_32_execution_enabled()
        if not was:
            return fn(*args)
        tf.config.experimental.enable_tensor_float_32_execution(False)
        try:
            return fn(*args)
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(True)

    return call


def _jax_pure(model: SketchRNN, fn: Callable) -> Callable:
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
        # float32 products in full float32: a GPU's default is TF32 (10-bit mantissas),
        # and a sketch that feeds its points back then drifts from the same seed's sketch
        # on another engine
        with jax.default_matmul_precision("float32"):
            return pure([v.value for v in variables], *args)

    return call


def _make_jax_loop(model: SketchRNN, greedy: bool) -> Callable:
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


def _compiled(model: SketchRNN, name: str, fn: Callable) -> Callable:
    """``fn`` (pure, calling the model) compiled for the backend, cached per model.

    The model's ``encode`` and ``decode`` run their recurrences through
    ``sketchart.nn.backend.scan``, which is only fast inside a compiled function.
    """
    cache = _cache(model)
    key = ("fn", name, _backend())
    if key not in cache:
        if key[2] == "tensorflow":
            import tensorflow as tf

            cache[key] = _tf_full_float32(
                tf.function(fn, reduce_retracing=True, autograph=False))
        elif key[2] == "jax":
            cache[key] = _jax_pure(model, fn)
        else:
            cache[key] = fn
    return cache[key]


def _make_eager_loop(model: SketchRNN, greedy: bool) -> Callable:
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


_LEN_BUCKET = 32


def _run_loop(model: SketchRNN, x0: np.ndarray, state0: Any, z: Any,
              noise: dict[str, np.ndarray], temperature: float, greedy: bool,
              temperature_mode: str, softmax_temperature: float | None,
              jit: bool | None = None) -> np.ndarray:
    """Run the compiled loop on the pre-drawn ``noise`` (``numpy_sampler.draw_noise``: its
    steps bound the loop); returns sampled stroke-5 rows ``[steps, B, 5]`` (model units)."""
    from keras import ops

    logit_div, sigma_mul = temperature_factors(temperature, temperature_mode,
                                               softmax_temperature)
    batch = x0.shape[0]
    u, g = compiled_inputs(noise)
    max_len = u.shape[0]
    # buffers are sized in buckets of 32 steps and the loop bound is a traced value, so
    # that a new max_len rarely means a new compilation (JAX compiles per shape)
    bucket = -(-max_len // _LEN_BUCKET) * _LEN_BUCKET
    pad = ((0, bucket - max_len), (0, 0), (0, 0))
    u, g = np.pad(u, pad), np.pad(g, pad)
    loop = _loop_for(model, greedy, jit, batch)
    buf, steps = loop(ops.convert_to_tensor(x0), state0, z, ops.convert_to_tensor(u),
                      ops.convert_to_tensor(g), ops.convert_to_tensor(np.float32(logit_div)),
                      ops.convert_to_tensor(np.float32(sigma_mul)),
                      ops.convert_to_tensor(np.int32(max_len)))
    return _to_numpy(buf)[: int(_to_numpy(steps))]
