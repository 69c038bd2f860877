"""TensorFlow's recurrence loops: ``tf.while_loop`` over ``TensorArray`` s, and the
hand-scheduled gradient of :func:`sketchart.nn.backend.scan_products`.

Only :mod:`sketchart.nn.backend` calls these, on the TensorFlow backend; TensorFlow itself is
imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sketchart.nn.step_choice import step_choice

__all__ = ["TRANSPOSED_PRODUCT_MIN_COLS", "WEIGHT_GRAD_CHUNK", "tf_scan", "tf_scan_products"]

#: steps per weight-gradient product in ``scan_products``' backward loop on TensorFlow:
#: ``chunk * batch`` rows keep the product at the CPU's matrix throughput, while only a
#: chunk of the products' gradients is ever kept (not all ``T`` steps)
WEIGHT_GRAD_CHUNK = 32
#: on TensorFlow's CPU matmul a step's ``[B, n] @ [n, m]`` with a wide weight (``m`` this
#: many columns or more, an LSTM's ``4H`` at ``H = 512``) runs faster as ``(W^T @ c^T)^T``
#: (timings in ``benchmarks/README.md``); narrower weights gain nothing. Whether this CPU
#: takes the transposed path at all is :func:`~sketchart.nn.step_choice.step_choice`'s.
TRANSPOSED_PRODUCT_MIN_COLS = 2048
#: the smallest part of a batch a lane runs (smaller products lose the matrix throughput)
MIN_LANE_BATCH = 16


def tf_scan(
    step: Callable[[Any, Sequence[Any]], tuple[Any, Any]],
    carry: list[Any],
    xs: list[Any],
    expand: Callable[[Sequence[Any]], list[Any]],
    y_like: Any,
) -> tuple[Any, Any]:
    # A tf.while_loop over TensorArrays: inside tf.function this is what Keras' own RNN
    # does on TensorFlow; eagerly it would be a slow Python loop, so callers compile.
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


def _arrays(size: Any, like: Sequence[Any]) -> list[Any]:
    import tensorflow as tf

    return [tf.TensorArray(v.dtype, size=size, element_shape=v.shape) for v in like]


def _widened(x: Any) -> Any:
    """A 16-bit float sum's addend in float32 (a weight or gain gradient summed over
    ``T`` steps loses the small terms in bfloat16); other dtypes as they are, so a
    float32 loop runs the same ops as ever."""
    import tensorflow as tf

    return tf.cast(x, tf.float32) if x.dtype in (tf.bfloat16, tf.float16) else x


def _narrowed(sums: Sequence[Any], like: Sequence[Any]) -> list[Any]:
    """Sums kept by :func:`_widened` back in their variables' dtype."""
    import tensorflow as tf

    return [s if s.dtype == v.dtype else tf.cast(s, v.dtype) for s, v in zip(sums, like)]


def _product(c_i: Any, w: Any, w_t: Any) -> Any:
    """One step's ``c_i @ w``; as ``(W^T @ c^T)^T`` when ``w_t`` (the transposed weight) is
    given."""
    import tensorflow as tf

    if w_t is None:
        return tf.matmul(c_i, w)
    return tf.transpose(tf.matmul(w_t, c_i, transpose_b=True))


@dataclass(eq=False)
class _ScanSpec:
    """What one :func:`tf_scan_products` call scans: which ``xs`` are present, which are
    differentiated, which products take an addend, and the compiled step each way."""

    step: Callable[..., tuple[Any, Any]]
    n_xs: int
    present: list[int]  # indices of the xs fed per step (not None, not an addend)
    diff: list[bool]  # per present x: whether its gradient is returned
    add_k: list[int]  # the products with an addend, sorted
    idx: list[int]  # per product: the carry it multiplies
    has_y: bool
    y_like: Any
    n_c: int
    n_x: int
    n_a: int
    n_m: int
    n_p: int
    fwd_step: Callable[..., Any] | None = None
    bwd_step: Callable[..., Any] | None = None

    def expand(self, xt: Sequence[Any]) -> list[Any]:
        full: list[Any] = [None] * self.n_xs
        for i, v in zip(self.present, xt):
            full[i] = v
        return full

    def run_step(
        self, c: Sequence[Any], xt: Sequence[Any], prods: Sequence[Any], prm: Sequence[Any]
    ) -> tuple[list[Any], Any]:
        import tensorflow as tf

        new_c, y = self.step(list(c), self.expand(xt), list(prods), list(prm))
        return [tf.convert_to_tensor(v) for v in new_c], y

    def step_vjp(
        self,
        c: list[Any],
        xt: list[Any],
        prods: list[Any],
        prm: list[Any],
        dc: Sequence[Any],
        dy: Any,
    ) -> Any:
        """The step's elementwise work, recomputed, and its vector-Jacobian product."""
        import tensorflow as tf

        xt_diff = [v for v, d in zip(xt, self.diff) if d]
        with tf.GradientTape() as tape:
            tape.watch(c + prods + xt_diff + prm)
            new_c, y = self.run_step(c, xt, prods, prm)
        targets = new_c + ([y] if self.has_y else [])
        out_g = list(dc) + ([dy] if self.has_y else [])
        return tape.gradient(
            targets,
            c + prods + xt_diff + prm,
            output_gradients=out_g,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )

    def compile_steps(self) -> None:
        # the step's elementwise work (and its few small products) as one XLA cluster each
        # way: a hyper step is some 300 small TensorFlow ops otherwise; op by op where
        # step_choice says so (SKETCHART_XLA_STEP=0 forces it; benchmarks/README.md)
        import tensorflow as tf

        self.fwd_step, self.bwd_step = self.run_step, self.step_vjp
        if step_choice().xla_step:
            on_cpu = not tf.config.list_logical_devices("GPU")
            self.fwd_step = tf.function(_traced(self.run_step, on_cpu), jit_compile=True)
            self.bwd_step = tf.function(_traced(self.step_vjp, on_cpu), jit_compile=True)


def _traced(fn: Callable[..., Any], cpu: bool) -> Callable[..., Any]:
    """``fn`` as XLA's CPU compiler should trace it: layer-norm means as products
    (:func:`~sketchart.nn.cell_base.means_as_products`) when ``cpu``."""
    if not cpu:
        return fn
    from sketchart.nn.cell_base import means_as_products  # keras: not at import time

    def traced(*args: Any) -> Any:
        with means_as_products():
            return fn(*args)

    return traced


@dataclass
class _Forward:
    """The forward loop's inputs and what it saved for the backward loop."""

    steps: Any
    x_all: list[Any]
    x_tas: list[Any]
    ws: list[Any]
    ws_t: list[Any]  # the wide weights transposed once, else None
    prm: list[Any]
    prod_like: list[Any]
    saved_c: list[Any]  # per carry: every step's value, as TensorArrays
    saved_p: list[Any]  # per product: every step's value (addend included)
    final: list[Any]
    ys: Any


def _forward(spec: _ScanSpec, flat: Sequence[Any]) -> _Forward:
    import tensorflow as tf

    n_c, n_x, n_a, n_m = spec.n_c, spec.n_x, spec.n_a, spec.n_m
    c0 = list(flat[:n_c])
    x_all = list(flat[n_c : n_c + n_x])
    a_all = list(flat[n_c + n_x : n_c + n_x + n_a])
    ws = list(flat[n_c + n_x + n_a : n_c + n_x + n_a + n_m])
    prm = list(flat[n_c + n_x + n_a + n_m :])
    steps = tf.shape((x_all + a_all)[0])[0]

    def unstacked(x: Any) -> Any:
        return tf.TensorArray(x.dtype, size=steps, element_shape=x.shape[1:]).unstack(x)

    x_tas = [unstacked(x) for x in x_all]
    a_tas = dict(zip(spec.add_k, [unstacked(a) for a in a_all]))
    prod_like = [tf.matmul(c0[i], w) for i, w in zip(spec.idx, ws)]
    wide = TRANSPOSED_PRODUCT_MIN_COLS if step_choice(_dtype_of(ws)).transposed else None
    ws_t = [tf.transpose(w) if wide and w.shape[-1] >= wide else None for w in ws]
    fwd_step = spec.fwd_step
    assert fwd_step is not None

    def body(t, c, saved_c, saved_p, outs):
        xt = [ta.read(t) for ta in x_tas]
        prods = [_product(c[i], w, w_t) for i, w, w_t in zip(spec.idx, ws, ws_t)]
        prods = [p + a_tas[k].read(t) if k in a_tas else p for k, p in enumerate(prods)]
        saved_c = [a.write(t, v) for a, v in zip(saved_c, c)]
        saved_p = [a.write(t, v) for a, v in zip(saved_p, prods)]
        new_c, y = fwd_step(c, xt, prods, prm)
        if spec.has_y:
            outs = [outs[0].write(t, y)]
        return t + 1, new_c, saved_c, saved_p, outs

    init = (
        tf.constant(0),
        c0,
        _arrays(steps, c0),
        _arrays(steps, prod_like),
        _arrays(steps, [spec.y_like]) if spec.has_y else [],
    )
    _, final, saved_c, saved_p, outs = tf.while_loop(
        lambda t, *_: t < steps, body, init, maximum_iterations=steps
    )
    # the backward loop reads the saved steps straight from these arrays (a stack and an
    # unstack would copy every one twice); the weight gradients gather a chunk at a time
    ys = outs[0].stack() if spec.has_y else tf.zeros((), c0[0].dtype)
    return _Forward(
        steps, x_all, x_tas, ws, ws_t, prm, prod_like, saved_c, saved_p, list(final), ys
    )


def _flush_weight_grads(
    spec: _ScanSpec, fw: _Forward, t: Any, q: Any, bufs: list[Any], dws: list[Any]
) -> list[Any]:
    """The weight gradients of the chunk just finished, steps ``t + q .. t``: one
    ``[n, (q+1)*B] @ [(q+1)*B, m]`` product each (a carry meeting two weights is gathered
    once)."""
    import tensorflow as tf

    rows = tf.range(t + q, t - 1, -1)
    carries: dict[int, Any] = {}
    new = []
    for k, i in enumerate(spec.idx):
        if i not in carries:
            c_i = fw.saved_c[i].gather(rows)
            carries[i] = tf.reshape(c_i, (-1, tf.shape(c_i)[-1]))
        dp = bufs[k].gather(tf.range(q + 1))
        right = tf.reshape(dp, (-1, tf.shape(dp)[-1]))
        new.append(dws[k] + _widened(tf.matmul(carries[i], right, transpose_a=True)))
    return new


def _backward(spec: _ScanSpec, fw: _Forward, upstream: Sequence[Any]) -> list[Any]:
    """The gradient of the forward loop, one step at a time from the last."""
    import tensorflow as tf

    n_c, n_m, has_y, steps = spec.n_c, spec.n_m, spec.has_y, fw.steps
    d_final = [tf.zeros_like(v) if g is None else g for g, v in zip(upstream[:n_c], fw.final)]
    d_ys = upstream[n_c] if has_y else None
    if has_y and d_ys is None:
        d_ys = tf.zeros_like(fw.ys)
    dy_ta = tf.TensorArray(d_ys.dtype, size=steps).unstack(d_ys) if d_ys is not None else None
    diff_x = [x for x, d in zip(fw.x_all, spec.diff) if d]
    w_t = [tf.transpose(w) if t is None else t for w, t in zip(fw.ws, fw.ws_t)]
    chunk = max(1, int(WEIGHT_GRAD_CHUNK))
    bwd_step = spec.bwd_step
    assert bwd_step is not None

    def back(t, dc, bufs, dp_full, dx_arrays, dprm, dws):
        c = [ta.read(t) for ta in fw.saved_c]
        prods = [ta.read(t) for ta in fw.saved_p]
        xt = [ta.read(t) for ta in fw.x_tas]
        n_xd = sum(spec.diff)
        g = bwd_step(c, xt, prods, fw.prm, list(dc), dy_ta.read(t) if has_y else None)
        g_c = list(g[:n_c])
        g_p = g[n_c : n_c + n_m]
        g_x = g[n_c + n_m : n_c + n_m + n_xd]
        g_prm = g[n_c + n_m + n_xd :]
        for k, (i, wt) in enumerate(zip(spec.idx, w_t)):
            g_c[i] = g_c[i] + tf.matmul(g_p[k], wt)
        q = tf.math.floormod(steps - 1 - t, chunk)  # this step's place in its chunk
        bufs = [a.write(q, v) for a, v in zip(bufs, g_p)]
        # a product whose gradient is also an addend's keeps all steps
        dp_full = [a.write(t, g_p[k]) for a, k in zip(dp_full, spec.add_k)]
        dws = tf.cond(
            tf.logical_or(tf.equal(q, chunk - 1), tf.equal(t, 0)),
            lambda: _flush_weight_grads(spec, fw, t, q, bufs, dws),
            lambda: list(dws),
        )
        dx_arrays = [a.write(t, v) for a, v in zip(dx_arrays, g_x)]
        dprm = [a + _widened(b) for a, b in zip(dprm, g_prm)]
        return t - 1, g_c, bufs, dp_full, dx_arrays, dprm, dws

    init_b = (
        steps - 1,
        d_final,
        _arrays(chunk, fw.prod_like),
        _arrays(steps, [fw.prod_like[k] for k in spec.add_k]),
        [tf.TensorArray(x.dtype, size=steps, element_shape=x.shape[1:]) for x in diff_x],
        [_widened(tf.zeros_like(p)) for p in fw.prm],
        [_widened(tf.zeros_like(w)) for w in fw.ws],
    )
    _, d_c0, _, dp_full, dx_arrays, d_prm, d_ws = tf.while_loop(
        lambda t, *_: t >= 0, back, init_b, maximum_iterations=steps
    )
    d_a = [a.stack() for a in dp_full]  # an addend's gradient is its product's
    dx_iter = iter([a.stack() for a in dx_arrays])
    d_x = [next(dx_iter) if d else None for d in spec.diff]
    d_ws, d_prm = _narrowed(d_ws, fw.ws), _narrowed(d_prm, fw.prm)
    return list(d_c0) + d_x + d_a + d_ws + d_prm


def tf_scan_products(
    step: Callable[..., tuple[Any, Any]],
    carry: list[Any],
    xs: list[Any],
    mats: list[tuple[int, Any]],
    params: list[Any],
    y_like: Any,
    added: dict[int, int],
    constants: set[int],
    per_example: Collection[int] = (),
) -> tuple[Any, Any]:
    import tensorflow as tf

    present = [i for i, x in enumerate(xs) if x is not None and i not in added.values()]
    xs_in = [tf.convert_to_tensor(xs[i]) for i in present]
    add_k = sorted(added)  # the products with an addend, and their xs
    adds_in = [tf.convert_to_tensor(xs[added[k]]) for k in add_k]
    spec = _ScanSpec(
        step=step,
        n_xs=len(xs),
        present=present,
        diff=[x.dtype.is_floating and i not in constants for i, x in zip(present, xs_in)],
        add_k=add_k,
        idx=[i for i, _ in mats],
        has_y=y_like is not None,
        y_like=y_like,
        n_c=len(carry),
        n_x=len(xs_in),
        n_a=len(adds_in),
        n_m=len(mats),
        n_p=len(params),
    )
    spec.compile_steps()

    @tf.custom_gradient
    def loop(*flat: Any) -> Any:
        fw = _forward(spec, flat)

        def grad(*upstream: Any) -> list[Any]:
            return _backward(spec, fw, upstream)

        return (*fw.final, fw.ys), grad

    flat_in = (
        [tf.convert_to_tensor(c) for c in carry]
        + xs_in
        + adds_in
        + [tf.convert_to_tensor(w) for _, w in mats]
        + [tf.convert_to_tensor(p) for p in params]
    )
    axes = _batch_axes(spec, per_example)
    lanes = _lanes(flat_in[0], mats) if spec.n_c else 1
    if lanes > 1 and spec.has_y:  # a lane's outputs have its part of the batch
        spec.y_like = tf.TensorSpec([None, *y_like.shape[1:]], y_like.dtype)
    outs = [loop(*part) for part in _split_lanes(flat_in, axes, lanes)]
    final = [tf.concat([o[k] for o in outs], 0) if lanes > 1 else outs[0][k]
             for k in range(spec.n_c)]
    if not spec.has_y:
        return final, None
    ys = [o[spec.n_c] for o in outs]
    return final, (tf.concat(ys, 1) if lanes > 1 else ys[0])


def _batch_axes(spec: _ScanSpec, per_example: Collection[int]) -> list[int | None]:
    """Per flat loop input, its batch axis: carries 0, the steps' xs and addends 1
    (``[T, B, ...]``), weights none, params 0 where ``per_example`` lists them."""
    axes: list[int | None] = [0] * spec.n_c + [1] * (spec.n_x + spec.n_a) + [None] * spec.n_m
    return axes + [0 if k in per_example else None for k in range(spec.n_p)]


def _lanes(carry0: Any, mats: Sequence[tuple[int, Any]]) -> int:
    """How many independent loops to run over parts of the batch: the CPU's
    :func:`~sketchart.nn.step_choice.step_choice` (two chains of half the batch keep both
    cores of a small CPU busy where one chain leaves one idle during each step's
    elementwise work), one on a GPU or for a small batch."""
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return 1
    lanes = step_choice(_dtype_of([w for _, w in mats])).lanes
    batch = carry0.shape[0]  # None in a function traced for any batch
    if lanes < 2 or (batch is not None and batch < lanes * MIN_LANE_BATCH):
        return 1
    return lanes


def _dtype_of(ws: Sequence[Any]) -> str:
    """The products' dtype, whose step choice applies (float32 without products)."""
    import tensorflow as tf

    return tf.as_dtype(ws[0].dtype).name if ws else "float32"


def _split_lanes(flat: list[Any], axes: list[int | None], lanes: int) -> list[list[Any]]:
    """``flat`` as ``lanes`` parts of the batch (sizes differing by one at most), the
    inputs without a batch axis shared."""
    import tensorflow as tf

    if lanes == 1:
        return [flat]
    batch = tf.shape(flat[0])[0]
    sizes = tf.stack([batch // lanes + tf.cast(k < batch % lanes, batch.dtype)
                      for k in range(lanes)])
    parts = [tf.split(v, sizes, axis=a) if a is not None else [v] * lanes
             for v, a in zip(flat, axes)]
    return [[p[k] for p in parts] for k in range(lanes)]
