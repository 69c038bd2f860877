"""The few places where the Keras backend matters: the recurrence loop and gradients.

Everything else in the model is ``keras.ops``. Two things are not portable at the speed we
need:

* **The loop over time steps.** Measured on a 2-core CPU (notes §12 and this module's
  docstring in ``scan``): on TensorFlow a ``tf.while_loop`` over ``TensorArray`` s inside a
  ``tf.function`` (not under XLA as a whole: XLA's CPU matmuls are slower than oneDNN's
  here; ``scan_products`` compiles only each step's elementwise work with XLA), on JAX
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

__all__ = ["backend_name", "compile_fn", "scan", "scan_products", "value_and_grad"]

#: steps per weight-gradient product in ``scan_products``' backward loop on TensorFlow:
#: ``chunk * batch`` rows keep the product at the CPU's matrix throughput, while only a
#: chunk of the products' gradients is ever kept (not all ``T`` steps)
WEIGHT_GRAD_CHUNK = 32
#: on TensorFlow's CPU matmul a step's ``[B, n] @ [n, m]`` with a wide weight (``m`` this
#: many columns or more, an LSTM's ``4H`` at ``H = 512``) runs faster as
#: ``(W^T @ c^T)^T``: 1.9 against 2.7 ms for ``[100, 512] @ [512, 2048]`` on two threads,
#: 3.2 against 4.8 on one (``benchmarks/README.md``); narrower weights gain nothing
TRANSPOSED_PRODUCT_MIN_COLS = 2048


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


def scan_products(
    step: Callable[..., tuple[Any, Any]],
    carry: Sequence[Any],
    xs: Sequence[Any],
    mats: Sequence[tuple[int, Any]],
    params: Sequence[Any],
    y_like: Any = None,
    addends: Sequence[tuple[int, int]] = (),
    constants: Sequence[int] = (),
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
      (:data:`WEIGHT_GRAD_CHUNK`), instead of ``T`` small products (TensorFlow's default),
      which run at a fraction of the CPU's matrix throughput and keep ``T`` copies of
      every intermediate; only a chunk of ``d_products`` is kept at a time (all ``T``
      steps only for a product with an addend, whose gradient that is);
    * the step itself (forward, and its recomputation and VJP backward) runs as one XLA
      cluster each way, the big products staying with oneDNN outside: a hyper step's 300
      small ops fused (27 % off a bucketed hyper training step, 7-9 % for lstm and
      layer_norm on two threads). ``SKETCHART_XLA_STEP=0`` turns it off;
    * a step's product with a weight of :data:`TRANSPOSED_PRODUCT_MIN_COLS` columns or
      more runs as ``(W^T @ c^T)^T``.

    ``xs`` entries may be None (reaching ``step`` as None) or non-float (masks: no gradient);
    ``constants`` lists float ``xs`` that need no gradient either (dropout masks), so the
    backward loop neither computes nor keeps one. ``params`` are small tensors ``step``
    uses (layer-norm gains...): their gradients are summed in the backward loop.

    On other backends this is :func:`scan` with the products computed inline (their
    autodiff already batches well enough under ``jit``).
    """
    carry = list(carry)
    mats = list(mats)
    params = list(params)
    added = dict(addends)  # product k -> xs index j
    if len(set(added.values())) != len(added) or any(xs[j] is None for j in added.values()):
        raise ValueError("scan_products: each addend is one present xs entry, added once")
    constants = set(constants) - set(added.values())
    # SKETCHART_SCAN=plain: TensorFlow's own while_loop gradient (benchmarks compare both)
    if backend_name() == "tensorflow" and os.environ.get("SKETCHART_SCAN") != "plain":
        return _tf_scan_products(step, carry, list(xs), mats, params, y_like, added, constants)
    from keras import ops

    def inline(c: Any, xt: Sequence[Any]) -> tuple[Any, Any]:
        products = [ops.matmul(c[i], w) for i, w in mats]
        for k, j in added.items():
            products[k] = products[k] + xt[j]
        xt = [None if j in added.values() else v for j, v in enumerate(xt)]
        return step(c, xt, products, params)

    return scan(inline, carry, xs, y_like)


def _tf_scan_products(
    step: Callable[..., tuple[Any, Any]],
    carry: list[Any],
    xs: list[Any],
    mats: list[tuple[int, Any]],
    params: list[Any],
    y_like: Any,
    added: dict[int, int],
    constants: set[int],
) -> tuple[Any, Any]:
    import tensorflow as tf

    present = [i for i, x in enumerate(xs) if x is not None and i not in added.values()]
    xs_in = [tf.convert_to_tensor(xs[i]) for i in present]
    diff = [x.dtype.is_floating and i not in constants for i, x in zip(present, xs_in)]
    add_k = sorted(added)  # the products with an addend, and their xs
    adds_in = [tf.convert_to_tensor(xs[added[k]]) for k in add_k]
    n_c, n_x, n_a, n_m = len(carry), len(xs_in), len(adds_in), len(mats)
    idx = [i for i, _ in mats]
    has_y = y_like is not None

    def expand(xt: Sequence[Any]) -> list[Any]:
        full: list[Any] = [None] * len(xs)
        for i, v in zip(present, xt):
            full[i] = v
        return full

    def run_step(c: Sequence[Any], xt: Sequence[Any], prods: Sequence[Any], prm: Sequence[Any]):
        new_c, y = step(list(c), expand(xt), list(prods), list(prm))
        return [tf.convert_to_tensor(v) for v in new_c], y

    def step_vjp(c, xt, prods, prm, dc, dy):
        # the step's elementwise work, recomputed, and its vector-Jacobian product
        xt_diff = [v for v, d in zip(xt, diff) if d]
        with tf.GradientTape() as tape:
            tape.watch(c + prods + xt_diff + prm)
            new_c, y = run_step(c, xt, prods, prm)
        targets = new_c + ([y] if has_y else [])
        out_g = list(dc) + ([dy] if has_y else [])
        return tape.gradient(
            targets,
            c + prods + xt_diff + prm,
            output_gradients=out_g,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )

    # the step's elementwise work (and its few small products) as one XLA cluster each way:
    # a hyper step is some 300 small TensorFlow ops otherwise (SKETCHART_XLA_STEP=0: off)
    fwd_step, bwd_step = run_step, step_vjp
    if os.environ.get("SKETCHART_XLA_STEP", "1") != "0":
        fwd_step = tf.function(run_step, jit_compile=True)
        bwd_step = tf.function(step_vjp, jit_compile=True)

    def arrays(size: Any, like: Sequence[Any]) -> list[Any]:
        return [tf.TensorArray(v.dtype, size=size, element_shape=v.shape) for v in like]

    @tf.custom_gradient
    def loop(*flat: Any) -> Any:
        c0 = list(flat[:n_c])
        x_all = list(flat[n_c : n_c + n_x])
        a_all = list(flat[n_c + n_x : n_c + n_x + n_a])
        ws = list(flat[n_c + n_x + n_a : n_c + n_x + n_a + n_m])
        prm = list(flat[n_c + n_x + n_a + n_m :])
        steps = tf.shape((x_all + a_all)[0])[0]

        def unstacked(x: Any) -> Any:
            return tf.TensorArray(x.dtype, size=steps, element_shape=x.shape[1:]).unstack(x)

        x_tas = [unstacked(x) for x in x_all]
        a_tas = dict(zip(add_k, [unstacked(a) for a in a_all]))
        prod_like = [tf.matmul(c0[i], w) for i, w in zip(idx, ws)]
        # the wide weights, transposed once: their step products run as (W^T @ c^T)^T
        ws_t = [
            tf.transpose(w) if w.shape[-1] >= TRANSPOSED_PRODUCT_MIN_COLS else None for w in ws
        ]

        def product(c_i: Any, w: Any, w_t: Any) -> Any:
            if w_t is None:
                return tf.matmul(c_i, w)
            return tf.transpose(tf.matmul(w_t, c_i, transpose_b=True))

        def body(t, c, saved_c, saved_p, outs):
            xt = [ta.read(t) for ta in x_tas]
            prods = [product(c[i], w, w_t) for i, w, w_t in zip(idx, ws, ws_t)]
            prods = [p + a_tas[k].read(t) if k in a_tas else p for k, p in enumerate(prods)]
            saved_c = [a.write(t, v) for a, v in zip(saved_c, c)]
            saved_p = [a.write(t, v) for a, v in zip(saved_p, prods)]
            new_c, y = fwd_step(c, xt, prods, prm)
            if has_y:
                outs = [outs[0].write(t, y)]
            return t + 1, new_c, saved_c, saved_p, outs

        init = (
            tf.constant(0),
            c0,
            arrays(steps, c0),
            arrays(steps, prod_like),
            arrays(steps, [y_like]) if has_y else [],
        )
        _, final, saved_c, saved_p, outs = tf.while_loop(
            lambda t, *_: t < steps, body, init, maximum_iterations=steps
        )
        # the backward loop reads the saved steps straight from these arrays (a stack and
        # an unstack would copy every one twice), the weight gradients gather a chunk of
        # steps from them at a time
        ys = outs[0].stack() if has_y else tf.zeros((), carry[0].dtype)

        def grad(*upstream: Any) -> list[Any]:
            d_final = [
                tf.zeros_like(v) if g is None else g for g, v in zip(upstream[:n_c], final)
            ]
            d_ys = upstream[n_c] if has_y else None
            if has_y and d_ys is None:
                d_ys = tf.zeros_like(ys)
            dy_ta = tf.TensorArray(d_ys.dtype, size=steps).unstack(d_ys) if has_y else None
            diff_x = [x for x, d in zip(x_all, diff) if d]
            w_t = [tf.transpose(w) if t is None else t for w, t in zip(ws, ws_t)]

            chunk = max(1, int(WEIGHT_GRAD_CHUNK))

            def flush(t, q, bufs, dws):
                # the weight gradients of the chunk just finished, steps t + q .. t: one
                # [n, (q+1)*B] @ [(q+1)*B, m] product each (a carry meeting two weights is
                # gathered once)
                rows = tf.range(t + q, t - 1, -1)
                carries: dict[int, Any] = {}
                new = []
                for k, i in enumerate(idx):
                    if i not in carries:
                        c_i = saved_c[i].gather(rows)
                        carries[i] = tf.reshape(c_i, (-1, tf.shape(c_i)[-1]))
                    dp = bufs[k].gather(tf.range(q + 1))
                    right = tf.reshape(dp, (-1, tf.shape(dp)[-1]))
                    new.append(dws[k] + tf.matmul(carries[i], right, transpose_a=True))
                return new

            def back(t, dc, bufs, dp_full, dx_arrays, dprm, dws):
                c = [ta.read(t) for ta in saved_c]
                prods = [ta.read(t) for ta in saved_p]
                xt = [ta.read(t) for ta in x_tas]
                n_xd = sum(diff)
                g = bwd_step(c, xt, prods, prm, list(dc), dy_ta.read(t) if has_y else None)
                g_c = g[:n_c]
                g_p = g[n_c : n_c + n_m]
                g_x = g[n_c + n_m : n_c + n_m + n_xd]
                g_prm = g[n_c + n_m + n_xd :]
                g_c = list(g_c)
                for k, (i, wt) in enumerate(zip(idx, w_t)):
                    g_c[i] = g_c[i] + tf.matmul(g_p[k], wt)
                q = tf.math.floormod(steps - 1 - t, chunk)  # this step's place in its chunk
                bufs = [a.write(q, v) for a, v in zip(bufs, g_p)]
                # a product whose gradient is also an addend's keeps all steps
                dp_full = [a.write(t, g_p[k]) for a, k in zip(dp_full, add_k)]
                dws = tf.cond(
                    tf.logical_or(tf.equal(q, chunk - 1), tf.equal(t, 0)),
                    lambda: flush(t, q, bufs, dws),
                    lambda: list(dws),
                )
                dx_arrays = [a.write(t, v) for a, v in zip(dx_arrays, g_x)]
                dprm = [a + b for a, b in zip(dprm, g_prm)]
                return t - 1, g_c, bufs, dp_full, dx_arrays, dprm, dws

            init_b = (
                steps - 1,
                d_final,
                arrays(chunk, prod_like),
                arrays(steps, [prod_like[k] for k in add_k]),
                [
                    tf.TensorArray(x.dtype, size=steps, element_shape=x.shape[1:])
                    for x in diff_x
                ],
                [tf.zeros_like(p) for p in prm],
                [tf.zeros_like(w) for w in ws],
            )
            _, d_c0, _, dp_full, dx_arrays, d_prm, d_ws = tf.while_loop(
                lambda t, *_: t >= 0, back, init_b, maximum_iterations=steps
            )
            d_a = [a.stack() for a in dp_full]  # an addend's gradient is its product's
            dx_iter = iter([a.stack() for a in dx_arrays])
            d_x = [next(dx_iter) if d else None for d in diff]
            return list(d_c0) + d_x + d_a + list(d_ws) + list(d_prm)

        return (*final, ys), grad

    flat_in = (
        [tf.convert_to_tensor(c) for c in carry]
        + xs_in
        + adds_in
        + [tf.convert_to_tensor(w) for _, w in mats]
        + [tf.convert_to_tensor(p) for p in params]
    )
    out = loop(*flat_in)
    final = list(out[:n_c])
    return final, (out[n_c] if has_y else None)


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
