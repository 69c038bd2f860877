"""The few places where the Keras backend matters: the recurrence loop and gradients.

Everything else in the model is ``keras.ops``. Two things are not portable at the speed we
need:

* **The loop over time steps.** Measured on a 2-core CPU (notes §12 and this module's
  docstring in ``scan``): on TensorFlow a ``tf.while_loop`` over ``TensorArray`` s inside a
  ``tf.function`` (no XLA: XLA's CPU matmuls are slower than oneDNN's here), on JAX
  ``jax.lax.scan`` (compiled under ``jax.jit`` by the caller), elsewhere a Python loop.
* **Gradients.** :func:`value_and_grad` wraps ``tf.GradientTape`` in a ``tf.function`` on
  TensorFlow, and ``jax.value_and_grad`` over ``keras.StatelessScope`` under ``jax.jit``
  on JAX. The trainer and the parity tests both use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

__all__ = ["backend_name", "compile_fn", "scan", "value_and_grad"]


def backend_name() -> str:
    """The active Keras backend (``tensorflow``, ``jax``, ...)."""
    return keras.backend.backend()


def scan(
    step: Callable[[Any, Sequence[Any]], tuple[Any, Any]],
    carry: Any,
    xs: Sequence[Any],
    y_like: Any = None,
) -> tuple[Any, Any]:
    """Run ``carry, y = step(carry, x_t)`` over the leading (time) axis of every ``xs``.

    Args:
        step: pure function of ``(carry, [x_t, ...])`` returning ``(new_carry, y_t)``;
            ``carry`` is a list of tensors.
        carry: initial carry (a list of tensors).
        xs: time-major tensors ``[T, ...]``; ``None`` entries reach ``step`` as None.
        y_like: a tensor shaped and typed like ``y_t``: the ``y_t`` are stacked into
            ``[T, ...]``. ``None``: ``y_t`` is ignored (only the final carry is wanted).

    Returns:
        ``(final_carry, ys)``; ``ys`` is None when ``y_like`` is None.
    """
    name = backend_name()
    present = [i for i, x in enumerate(xs) if x is not None]

    def expand(xt: Sequence[Any]) -> list[Any]:
        full: list[Any] = [None] * len(xs)
        for i, v in zip(present, xt):
            full[i] = v
        return full

    if name == "jax":
        import jax

        def body(c: Any, xt: Sequence[Any]) -> tuple[Any, Any]:
            new_c, y = step(c, expand(xt))
            return list(new_c), (y if y_like is not None else None)

        final, ys = jax.lax.scan(body, list(carry), [xs[i] for i in present])
        return final, ys
    if name == "tensorflow":
        return _tf_scan(step, list(carry), [xs[i] for i in present], expand, y_like)
    # any other backend: a plain Python loop (correct, not fast)
    from keras import ops

    steps = ops.shape(xs[present[0]])[0]
    outputs = []
    for t in range(steps):
        carry, y = step(carry, [None if x is None else x[t] for x in xs])
        outputs.append(y)
    return carry, (ops.stack(outputs) if y_like is not None else None)


def _tf_scan(
    step: Callable[[Any, Sequence[Any]], tuple[Any, Any]],
    carry: list[Any],
    xs: list[Any],
    expand: Callable[[Sequence[Any]], list[Any]],
    y_like: Any,
) -> tuple[Any, Any]:
    # A tf.while_loop over TensorArrays: inside tf.function this is what Keras' own RNN
    # does on TensorFlow (1.9 s fwd+bwd for a 512-LSTM over [100, 250, 133] here); eagerly
    # it would be a slow Python loop, so callers compile (value_and_grad / compile_fn).
    import tensorflow as tf

    xs = [tf.convert_to_tensor(x) for x in xs]
    steps = tf.shape(xs[0])[0]
    arrays = [
        tf.TensorArray(x.dtype, size=steps, element_shape=x.shape[1:]).unstack(x) for x in xs
    ]
    carry = [tf.convert_to_tensor(c) for c in carry]
    outs = (
        tf.TensorArray(y_like.dtype, size=steps, element_shape=y_like.shape)
        if y_like is not None
        else tf.constant(0)
    )

    def body(t: Any, c: list[Any], o: Any) -> tuple[Any, list[Any], Any]:
        new_c, y = step(c, expand([ta.read(t) for ta in arrays]))
        if y_like is not None:
            o = o.write(t, y)
        return t + 1, [tf.convert_to_tensor(v) for v in new_c], o

    _, final, outs = tf.while_loop(
        lambda t, c, o: t < steps, body, (tf.constant(0), carry, outs)
    )
    return final, (outs.stack() if y_like is not None else None)


def compile_fn(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Compile a pure function for the active backend (``tf.function`` / ``jax.jit``)."""
    name = backend_name()
    if name == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=False, reduce_retracing=True)
    if name == "jax":
        import jax

        return jax.jit(fn)
    return fn


def value_and_grad(
    model: keras.Model, fn: Callable[..., tuple[Any, Any]], jit: bool = True
) -> Callable[..., tuple[Any, Any, list[Any]]]:
    """Differentiate ``loss, aux = fn(*args)`` with respect to ``model.trainable_variables``.

    ``fn`` calls the model (any of its methods) and returns a scalar loss and any
    auxiliary outputs. The returned function takes the same ``*args`` and returns
    ``(loss, aux, grads)`` with ``grads`` aligned with ``model.trainable_variables``.
    Non-trainable state the call updates (dropout seed generators) is written back.
    """
    name = backend_name()
    if name == "tensorflow":
        import tensorflow as tf

        def tf_step(*args: Any) -> tuple[Any, Any, list[Any]]:
            with tf.GradientTape() as tape:
                loss, aux = fn(*args)
            grads = tape.gradient(loss, model.trainable_variables)
            return loss, aux, grads

        return (
            tf.function(tf_step, jit_compile=False, reduce_retracing=True) if jit else tf_step
        )
    if name == "jax":
        import jax

        trainable = model.trainable_variables
        others = model.non_trainable_variables

        def pure(tvals: list[Any], nvals: list[Any], *args: Any) -> tuple[Any, Any]:
            mapping = list(zip(trainable, tvals)) + list(zip(others, nvals))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                loss, aux = fn(*args)
            new_nvals = [scope.get_current_value(v) for v in others]
            new_nvals = [n if n is not None else o for n, o in zip(new_nvals, nvals)]
            return loss, (aux, new_nvals)

        grad_fn = jax.value_and_grad(pure, has_aux=True)
        if jit:
            grad_fn = jax.jit(grad_fn)

        def jax_step(*args: Any) -> tuple[Any, Any, list[Any]]:
            (loss, (aux, new_nvals)), grads = grad_fn(
                [v.value for v in trainable], [v.value for v in others], *args
            )
            for v, value in zip(others, new_nvals):
                v.assign(value)
            return loss, aux, grads

        return jax_step
    raise NotImplementedError(f"value_and_grad: backend {name!r} is not supported")
