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
