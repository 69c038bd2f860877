"""``scan_products`` equals a plain ``scan`` doing its products inline, values and
gradients."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from sketchart.nn import tf_loop
from sketchart.nn.backend import scan, scan_products, value_and_grad

pytestmark = pytest.mark.parity


class _Toy(keras.Model):
    """A two-part carry, two recurrent products, a small gain, a mask and a bool input."""

    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(0)
        self.w1 = self.add_weight(shape=(6, 8), initializer="zeros", name="w1")
        self.w2 = self.add_weight(shape=(5, 8), initializer="zeros", name="w2")
        self.gain = self.add_weight(shape=(8,), initializer="ones", name="gain")
        self.w_in = self.add_weight(shape=(3, 8), initializer="zeros", name="w_in")
        for v in (self.w1, self.w2, self.w_in):
            v.assign(rng.normal(0, 0.4, v.shape).astype("float32"))
        self.gain.assign(rng.uniform(0.5, 1.5, (8,)).astype("float32"))

    def run(
        self, x: np.ndarray, keep: np.ndarray, fast: bool, fused: bool = False,
        constants: tuple[int, ...] = (),
    ) -> tuple:
        xp = ops.matmul(ops.convert_to_tensor(x), self.w_in)  # [T, B, 8]
        keep_t = ops.convert_to_tensor(keep)  # bool [T, B, 1]
        carry = [ops.zeros((4, 6)), ops.ones((4, 5)) * 0.1]
        gain = ops.convert_to_tensor(self.gain)

        def body(c, xt, prods, prm):
            # fused: xt[0] arrives already added to prods[0] (and as None here)
            first = prods[0] if xt[0] is None else xt[0] + prods[0]
            pre = (first + 0.5 * prods[1]) * prm[0]
            a = ops.tanh(pre[:, :6]) * ops.sigmoid(c[0])
            b = ops.sigmoid(pre[:, 3:]) + c[1] * 0.9
            new = [ops.where(xt[2], a, c[0]), ops.where(xt[2], b, c[1])]
            return new, a * xt[1][:, :1]

        mask = ops.ones((x.shape[0], 4, 2)) * 1.1
        xs = [xp, mask, keep_t, None]
        mats = [(0, ops.convert_to_tensor(self.w1)), (1, ops.convert_to_tensor(self.w2))]
        if fast:
            addends = [(0, 0)] if fused else []
            return scan_products(
                body, carry, xs, mats, [gain], y_like=carry[0], addends=addends,
                constants=constants,
            )

        def inline(c, xt):
            return body(c, xt, [ops.matmul(c[i], w) for i, w in mats], [gain])

        return scan(inline, carry, xs, y_like=carry[0])


@pytest.mark.parametrize(("chunk", "wide", "xla"), [(3, 8, "1"), (32, 2048, "0")])
@pytest.mark.parametrize(
    ("fast", "fused", "constants"),
    [(True, False, ()), (True, True, ()), (True, True, (1,)), (False, False, ())],
)
def test_scan_products_matches_scan(
    fast: bool, fused: bool, constants: tuple, chunk: int, wide: int, xla: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Values and gradients equal scan's: plain, with an addend, and with the float mask
    declared a constant (no gradient computed or kept for it); weight gradients summed
    over chunks of 3 steps (7 = 3 + 3 + 1) with the step products run transposed (the
    toy's weights count as wide) and the step compiled by XLA (the default), or over all
    7 steps in one chunk, products as they are, the step op by op."""
    monkeypatch.setattr(tf_loop, "WEIGHT_GRAD_CHUNK", chunk)
    monkeypatch.setattr(tf_loop, "TRANSPOSED_PRODUCT_MIN_COLS", wide)
    monkeypatch.setenv("SKETCHART_XLA_STEP", xla)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 4, 3)).astype("float32")
    keep = (np.arange(7)[:, None] < np.array([7, 5, 2, 6])[None, :])[..., None]
    toy = _Toy()

    def loss_of(fast_: bool):
        def fn():
            final, ys = toy.run(x, keep, fast_, fused and fast_, constants if fast_ else ())
            loss = ops.sum(ys * ys) + ops.sum(final[0]) + 2.0 * ops.sum(final[1] ** 2)
            return loss, (final, ys)

        return fn

    got = value_and_grad(toy, loss_of(fast))()
    want = value_and_grad(toy, loss_of(False))()
    np.testing.assert_allclose(float(got[0]), float(want[0]), rtol=1e-6)
    for a, b in zip(got[2], want[2]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got[1][1]), np.asarray(want[1][1]), atol=1e-6)


def test_scan_products_rejects_an_addend_that_is_missing() -> None:
    carry = [ops.zeros((2, 3))]
    with pytest.raises(ValueError, match="addend"):
        scan_products(lambda c, xt, p, prm: (c, None), carry, [None],
                      [(0, ops.zeros((3, 3)))], [], addends=[(0, 0)])


@pytest.mark.parametrize(("xla", "expected"), [("1", {True}), ("0", {False})])
def test_compiled_cpu_step_takes_layer_norm_means_as_products(
    xla: str, expected: set[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """TensorFlow's step compiled for the CPU traces its layer norms (forward and the
    backward's recomputation) with means as products; op by op they stay reductions."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the compiled step is TensorFlow's scan_products")
    import tensorflow as tf

    from sketchart.nn import cell_base

    seen: list[bool] = []
    row_mean = cell_base._row_mean

    def recording(x: object) -> object:
        seen.append(cell_base._MEANS_AS_PRODUCTS.get())
        return row_mean(x)

    monkeypatch.setattr(cell_base, "_row_mean", recording)
    monkeypatch.setenv("SKETCHART_XLA_STEP", xla)
    w = tf.Variable(np.random.default_rng(2).normal(size=(4, 4)).astype("float32"))
    gamma, beta = tf.Variable(tf.ones(4)), tf.Variable(tf.zeros(4))

    def body(c, xt, prods, prm):
        new = cell_base.layer_norm(prods[0] + xt[0], prm[0], prm[1])
        return [new], new

    x = tf.constant(np.random.default_rng(3).normal(size=(3, 2, 4)).astype("float32"))

    @tf.function  # as every caller of scan_products on TensorFlow
    def grads() -> list:
        with tf.GradientTape() as tape:
            _, ys = scan_products(
                body, [tf.ones((2, 4))], [x], [(0, w)], [gamma, beta], y_like=tf.ones((2, 4))
            )
            loss = tf.reduce_sum(ys * ys)
        return tape.gradient(loss, [w, gamma, beta])

    assert all(g is not None for g in grads())
    assert set(seen) == expected and len(seen) >= 4  # forward and backward, two means each


def _lanes_run(batch: int, dynamic: bool) -> list[np.ndarray]:
    """A loop with every kind of input a lane splits or shares: a two-part carry, a
    stroke input and a bool mask per step, an addend, a weight, a shared gain and a
    per-example offset; the loss's value and gradients (and the outputs)."""
    import tensorflow as tf

    rng = np.random.default_rng(4)
    x = tf.constant(rng.normal(size=(6, batch, 3)).astype("float32"))
    add = tf.constant(rng.normal(size=(6, batch, 8)).astype("float32"))
    keep = tf.constant(rng.uniform(size=(6, batch, 1)) < 0.8)
    w = tf.Variable(rng.normal(0, 0.4, (4, 8)).astype("float32"))
    gain = tf.Variable(rng.uniform(0.5, 1.5, (8,)).astype("float32"))
    offset = tf.Variable(rng.normal(size=(batch, 8)).astype("float32"))
    w_in = tf.Variable(rng.normal(0, 0.4, (3, 8)).astype("float32"))

    def body(c, xt, prods, prm):
        pre = (prods[0] + xt[0] @ prm[2]) * prm[0] + prm[1]
        h = ops.tanh(pre[:, :4]) * ops.sigmoid(c[1][:, :4])
        new = [ops.where(xt[1], h, c[0]), ops.where(xt[1], pre, c[1])]
        return new, h * 2.0

    def loss_of(x, add, keep, offset):
        carry = [tf.zeros_like(offset[:, :4]), tf.zeros_like(offset)]
        final, ys = scan_products(
            body, carry, [x, keep, add], [(0, w)], [gain, offset, w_in],
            y_like=carry[0], addends=[(0, 2)], per_example=[1],
        )
        return tf.reduce_sum(ys * ys) + tf.reduce_sum(final[0]) + tf.reduce_sum(final[1] ** 2)

    def grads(x, add, keep, offset):
        with tf.GradientTape() as tape:
            tape.watch([x, add, offset])
            loss = loss_of(x, add, keep, offset)
        return [loss, *tape.gradient(loss, [w, gain, w_in, x, add, offset])]

    spec = [tf.TensorSpec([6, None if dynamic else batch, n], d)
            for n, d in ((3, tf.float32), (8, tf.float32), (1, tf.bool))]
    spec.append(tf.TensorSpec([None if dynamic else batch, 8], tf.float32))
    out = tf.function(grads, input_signature=spec)(x, add, keep, tf.convert_to_tensor(offset))
    return [np.asarray(v) for v in out]


@pytest.mark.parametrize(("batch", "dynamic"), [(4, False), (5, False), (5, True), (1, True)])
def test_lanes_match_one_loop(batch: int, dynamic: bool, monkeypatch: pytest.MonkeyPatch
                              ) -> None:
    """Two lanes (the batch's halves in two loops, a per-example param split with it,
    weights and gains shared) give one loop's values and gradients: an even and an odd
    batch, static or only known at run time (a batch of one leaves a lane empty)."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("lanes are TensorFlow's loop")
    monkeypatch.setattr(tf_loop, "MIN_LANE_BATCH", 1)
    split: list[int] = []
    real_split = tf_loop._split_lanes

    def spy(flat, axes, lanes):
        split.append(lanes)
        return real_split(flat, axes, lanes)

    monkeypatch.setattr(tf_loop, "_split_lanes", spy)
    monkeypatch.setenv("SKETCHART_LANES", "1")
    want = _lanes_run(batch, dynamic)
    monkeypatch.setenv("SKETCHART_LANES", "2")
    got = _lanes_run(batch, dynamic)
    assert split == [1, 2]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
