"""The few places where the Keras backend matters: the recurrence loop and gradients.

Everything else in the model is ``keras.ops``. Two things are not portable at the speed we
need:

* **The loop over time steps.** On TensorFlow a ``tf.while_loop`` over ``TensorArray`` s
  inside a ``tf.function`` (not under XLA as a whole: XLA's CPU matmuls are slower than
  oneDNN's; ``scan_products`` compiles only each step's elementwise work with XLA), on JAX
  ``jax.lax.scan`` (compiled under ``jax.jit`` by the caller), elsewhere a Python loop.
* **Gradients.** :func:`value_and_grad` wraps ``tf.GradientTape`` in a ``tf.function`` on
  TensorFlow, and ``jax.value_and_grad`` over ``keras.StatelessScope`` under ``jax.jit``
  on JAX. The trainer and the parity tests both use it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import keras

from sketchart.nn import tf_loop

__all__ = ["backend_name", "scan", "scan_products", "value_and_grad"]

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
        return tf_loop.tf_scan(step, list(carry), [xs[i] for i in present], expand, y_like)
    # any other backend: a plain Python loop (correct, not fast)
    from keras import ops

    steps = ops.shape(xs[present[0]])[0]
    outputs = []
    for t in range(steps):
        carry, y = step(carry, [None if x is None else x[t] for x in xs])
        outputs.append(y)
    return carry, (ops.stack(outputs) if y_like is not None else None)


def scan_products(
    step: Callable[..., tuple[Any, Any]],
    carry: Sequence[Any],
    xs: Sequence[Any],
    mats: Sequence[tuple[int, Any]],
    params: Sequence[Any],
    y_like: Any = None,
    addends: Sequence[tuple[int, int]] = (),
    constants: Sequence[int] = (),
    per_example: Sequence[int] = (),
) -> tuple[Any, Any]:
    """A recurrence whose big matrix products are known: ``scan`` with a faster gradient.

    Each step computes ``products[k] = carry[i_k] @ W_k`` for ``mats = [(i_k, W_k)]``,
    then ``new_carry, y = step(carry, x_t, products, params)`` (``step`` does everything
    else: gates, layer norms, masking). ``addends = [(k, j)]`` adds ``xs[j]``'s step to
    ``products[k]`` (an LSTM's input projection meets its recurrent product so), and
    ``step`` then sees ``x_t[j]`` as None: the two share one gradient, kept once. The
    result equals :func:`scan` over a step doing the products (and sums) itself, and so
    does the gradient; on TensorFlow the gradient is hand-scheduled instead of
    ``tf.while_loop``'s own:

    * the backward loop does per step only the VJP of ``step`` (elementwise work, recomputed
      from the saved carry and products) and ``d_products[k] @ W_k^T``;
    * the weight gradients ``dW_k = sum_t carry_{t-1}[i_k]^T d_products_t[k]`` are one
      ``[n, C*B] @ [C*B, m]`` matrix product per chunk of ``C`` steps
      (:data:`~sketchart.nn.tf_loop.WEIGHT_GRAD_CHUNK`), instead of ``T`` small products
      (TensorFlow's default), which run at a fraction of the CPU's matrix throughput and
      keep ``T`` copies of every intermediate; only a chunk of ``d_products`` is kept at a
      time (all ``T`` steps only for a product with an addend, whose gradient that is);
    * the step itself (forward, and its recomputation and VJP backward) runs as one XLA
      cluster each way, the big products staying with oneDNN outside, so a hyper step's
      300 small ops are fused (``benchmarks/README.md`` has the timings), unless
      :func:`~sketchart.nn.step_choice.step_choice` picks op by op for this CPU
      (``SKETCHART_XLA_STEP=0/1`` overrides it);
    * a step's product with a weight of
      :data:`~sketchart.nn.tf_loop.TRANSPOSED_PRODUCT_MIN_COLS` columns or more runs as
      ``(W^T @ c^T)^T``;
    * on a CPU where step_choice measured it faster, the batch's halves run as two
      independent loops (lanes), forward and backward.

    ``xs`` entries may be None (reaching ``step`` as None) or non-float (masks: no gradient);
    ``constants`` lists float ``xs`` that need no gradient either (dropout masks), so the
    backward loop neither computes nor keeps one. ``params`` are small tensors ``step``
    uses (layer-norm gains...): their gradients are summed in the backward loop;
    ``per_example`` lists those with a leading batch axis (a per-sketch offset), which
    TensorFlow may split with the batch (:func:`~sketchart.nn.tf_loop.tf_scan_products`'
    lanes).

    On other backends this is :func:`scan` with the products computed inline (their
    autodiff already batches well enough under ``jit``).
    """
    carry = list(carry)
    mats = list(mats)
    params = list(params)
    added = dict(addends)  # product k -> xs index j
    if len(set(added.values())) != len(added) or any(xs[j] is None for j in added.values()):
        raise ValueError("scan_products: each addend is one present xs entry, added once")
    constant_xs = set(constants) - set(added.values())
    # SKETCHART_SCAN=plain: TensorFlow's own while_loop gradient, which the tests and
    # benchmarks compare with the hand-scheduled one
    if backend_name() == "tensorflow" and os.environ.get("SKETCHART_SCAN") != "plain":
        return tf_loop.tf_scan_products(
            step, carry, list(xs), mats, params, y_like, added, constant_xs, per_example
        )
    return _scan_inline(step, carry, xs, mats, params, y_like, added)


def _scan_inline(
    step: Callable[..., tuple[Any, Any]],
    carry: list[Any],
    xs: Sequence[Any],
    mats: list[tuple[int, Any]],
    params: list[Any],
    y_like: Any,
    added: dict[int, int],
) -> tuple[Any, Any]:
    """``scan_products`` as :func:`scan` with the products computed in the step."""
    from keras import ops

    # 16-bit weights enter the loop as float32 (exactly) and are cast back inside it: the
    # loop's gradient sums over the steps then run in float32, not in bfloat16
    narrow = [keras.backend.standardize_dtype(v.dtype) for v in [w for _, w in mats] + params]
    wide = [ops.cast(v, "float32") if d in ("bfloat16", "float16") else v
            for v, d in zip([w for _, w in mats] + params, narrow)]

    def inline(c: Any, xt: Sequence[Any]) -> tuple[Any, Any]:
        vals = [v if v.dtype == d else ops.cast(v, d) for v, d in zip(wide, narrow)]
        ws, prm = vals[: len(mats)], vals[len(mats) :]
        products = [ops.matmul(c[i], w) for (i, _), w in zip(mats, ws)]
        for k, j in added.items():
            products[k] = products[k] + xt[j]
        xt = [None if j in added.values() else v for j, v in enumerate(xt)]
        return step(c, xt, products, prm)

    return scan(inline, carry, xs, y_like)


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
