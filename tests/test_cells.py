"""The recurrent cells: the reference's maths, state layouts, dropout and configs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.parity

KINDS = ("lstm", "layer_norm", "hyper")


def make(kind: str, units: int = 6, input_dim: int = 5, **kwargs: Any) -> Any:
    from sketchart.nn.cells import make_cell

    extra = {"hyper_num_units": 7, "hyper_embedding_size": 3} if kind == "hyper" else {}
    return make_cell(kind, units, input_dim, seed=1, **extra, **kwargs)


def random_state(cell: Any, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.normal(size=(batch, n)).astype(np.float32) for n in cell.state_size]


def np_(x: Any) -> np.ndarray:
    from keras import ops

    return np.asarray(ops.convert_to_numpy(x))


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip(kind: str) -> None:
    """from_config(get_config()) rebuilds the same cell; with the same weights, the same
    outputs (through keras.saving's registered deserialisation too)."""
    import keras

    cell = make(kind, use_recurrent_dropout=True, recurrent_dropout_prob=0.8)
    config = cell.get_config()
    clone = type(cell).from_config(config)
    assert clone.get_config() == config
    via_keras = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(cell)
    )
    assert type(via_keras) is type(cell) and via_keras.get_config() == config
    clone.set_weights(cell.get_weights())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5)).astype(np.float32)
    state = random_state(cell, 3, rng)
    h1, s1 = cell(x, state)
    h2, s2 = clone(x, state)
    np.testing.assert_array_equal(np_(h1), np_(h2))
    for a, b in zip(s1, s2):
        np.testing.assert_array_equal(np_(a), np_(b))


def test_initializers_round_trip() -> None:
    from sketchart.nn.cells import NumpyRandom, PerGateOrthogonal

    for init in (PerGateOrthogonal(seed=3), NumpyRandom("normal", 0.01, 4), NumpyRandom()):
        clone = type(init).from_config(init.get_config())
        assert clone.get_config() == init.get_config()
    with pytest.raises(ValueError):
        NumpyRandom("laplace")


def test_per_gate_orthogonal() -> None:
    """Each of the four [H, H] gate blocks of W_hh is orthogonal on its own."""
    from sketchart.nn.cells import PerGateOrthogonal

    w = np_(PerGateOrthogonal(seed=0)((8, 32)))
    for g in range(4):
        block = w[:, 8 * g : 8 * (g + 1)]
        np.testing.assert_allclose(block.T @ block, np.eye(8), atol=1e-5)
    # ...but the whole matrix is not one orthogonal matrix (blocks are independent)
    assert not np.allclose(w[:, :8].T @ w[:, 8:16], 0, atol=1e-3)


def test_glorot_bias_fans() -> None:
    """magenta's output bias is glorot_uniform with fan_in = fan_out = n: U(+-sqrt(3/n))."""
    from sketchart.nn.cells import NumpyRandom

    b = np_(NumpyRandom(seed=0)((123,)))
    assert np.abs(b).max() <= np.sqrt(6 / 246) and np.abs(b).max() > 0.9 * np.sqrt(6 / 246)


def np_lstm(
    x: np.ndarray,
    c: np.ndarray,
    h: np.ndarray,
    w_xh: np.ndarray,
    w_hh: np.ndarray,
    bias: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The reference LSTMCell in NumPy: one matmul of [x, h] with [W_xh; W_hh]."""

    def sig(v: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-v))

    hidden = np.concatenate([x, h], 1) @ np.concatenate([w_xh, w_hh], 0) + bias
    i, j, f, o = np.split(hidden, 4, axis=1)
    new_c = c * sig(f + 1.0) + sig(i) * np.tanh(j)
    return new_c, np.tanh(new_c) * sig(o)


def np_layer_norm_lstm(
    x: np.ndarray,
    h: np.ndarray,
    c: np.ndarray,
    w_xh: np.ndarray,
    w_hh: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    gamma_c: np.ndarray,
    beta_c: np.ndarray,
) -> tuple[np.ndarray, ...]:
    def sig(v: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-v))

    def ln(v: np.ndarray) -> np.ndarray:
        mean = v.mean(-1, keepdims=True)
        return (v - mean) / np.sqrt(((v - mean) ** 2).mean(-1, keepdims=True) + 1e-3)

    units = h.shape[1]
    pre = np.concatenate([x, h], 1) @ np.concatenate([w_xh, w_hh], 0)
    pre = ln(pre.reshape(-1, 4, units)).reshape(-1, 4 * units) * gamma + beta
    i, j, f, o = np.split(pre, 4, axis=1)
    new_c = c * sig(f + 1.0) + sig(i) * np.tanh(j)
    new_h = np.tanh(ln(new_c) * gamma_c + beta_c) * sig(o)
    return new_h, new_c


def test_lstm_matches_reference_maths() -> None:
    """Gates i, j, f, o; forget bias +1 inside the sigmoid at run time; state [c, h]."""
    cell = make("lstm")
    rng = np.random.default_rng(1)
    bias = rng.normal(size=(24,)).astype(np.float32)
    cell.bias.assign(bias)  # nonzero, to see the bias is not where the +1 goes
    x = rng.normal(size=(2, 5)).astype(np.float32)
    c, h = random_state(cell, 2, rng)
    out, (new_c, new_h) = cell(x, [c, h])
    ref_c, ref_h = np_lstm(x, c, h, np_(cell.W_xh), np_(cell.W_hh), bias)
    np.testing.assert_allclose(np_(new_c), ref_c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np_(new_h), ref_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np_(out), np_(new_h))
    assert cell.output_index == 1 and np.array_equal(np_(cell.output_of([c, h])), h)


def test_layer_norm_matches_reference_maths() -> None:
    """No bias, per-gate LN (eps 1e-3), LN of c before tanh, state [h, c]."""
    cell = make("layer_norm")
    rng = np.random.default_rng(2)
    for v in (cell.ln_all_gamma, cell.ln_all_beta, cell.ln_c_gamma, cell.ln_c_beta):
        v.assign(rng.normal(size=v.shape).astype(np.float32))
    x = rng.normal(size=(2, 5)).astype(np.float32)
    h, c = random_state(cell, 2, rng)
    out, (new_h, new_c) = cell(x, [h, c])
    ref_h, ref_c = np_layer_norm_lstm(
        x,
        h,
        c,
        *(
            np_(v)
            for v in (
                cell.W_xh,
                cell.W_hh,
                cell.ln_all_gamma,
                cell.ln_all_beta,
                cell.ln_c_gamma,
                cell.ln_c_beta,
            )
        ),
    )
    np.testing.assert_allclose(np_(new_h), ref_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np_(new_c), ref_c, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np_(out), np_(new_h))


def test_hyper_state_layout_and_initial_modulation() -> None:
    """State [h, hyper_h, c, hyper_c]; at initialisation every alpha is 0.1 and the
    recurrent beta 0, so the main cell is a layer-norm LSTM on 0.1 * (x W_xh + h W_hh)."""
    cell = make("hyper")
    assert cell.state_size == (6, 7, 6, 7)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5)).astype(np.float32)
    h, hh, c, hc = random_state(cell, 2, rng)
    out, (new_h, new_hh, new_c, new_hc) = cell(x, [h, hh, c, hc])
    # the hyper cell is a layer-norm LSTM over [x, h]
    ref_hh, ref_hc = np_layer_norm_lstm(
        np.concatenate([x, h], 1),
        hh,
        hc,
        *(
            np_(v)
            for v in (
                cell.hyper_W_xh,
                cell.hyper_W_hh,
                cell.hyper_ln_all_gamma,
                cell.hyper_ln_all_beta,
                cell.hyper_ln_c_gamma,
                cell.hyper_ln_c_beta,
            )
        ),
    )
    np.testing.assert_allclose(np_(new_hh), ref_hh, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np_(new_hc), ref_hc, rtol=1e-5, atol=1e-5)
    ref_h, ref_c = np_layer_norm_lstm(
        x * 0.1,
        h * 0.1,
        c,
        np_(cell.W_xh),
        np_(cell.W_hh),
        np_(cell.ln_all_gamma),
        np_(cell.ln_all_beta),
        np_(cell.ln_c_gamma),
        np_(cell.ln_c_beta),
    )
    np.testing.assert_allclose(np_(new_h), ref_h, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np_(new_c), ref_c, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(np_(out), np_(new_h))


@pytest.mark.parametrize("kind", KINDS)
def test_projection_splits_additively(kind: str) -> None:
    """Projecting [x, z] in two slices (z once per sketch) equals the whole projection."""
    from keras import ops

    cell = make(kind, input_dim=9)
    if kind == "lstm":
        cell.bias.assign(np.linspace(-1, 1, 24).astype(np.float32))
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 9)).astype(np.float32)
    whole = cell.project_inputs(ops.convert_to_tensor(x))
    a = cell.project_inputs(ops.convert_to_tensor(x[:, :5]), 0, use_bias=True)
    b = cell.project_inputs(ops.convert_to_tensor(x[:, 5:]), 5, use_bias=False)
    for w, p, q in zip(whole, a, b):
        np.testing.assert_allclose(np_(w), np_(p) + np_(q), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_recurrent_dropout_hits_only_the_candidate(kind: str) -> None:
    """A zero keep mask removes the candidate and nothing else: c' = c * sigmoid(f + 1)
    with no memory lost; an all-ones mask changes nothing."""
    from keras import ops

    cell = make(kind)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 5)).astype(np.float32)
    state = random_state(cell, 2, rng)
    projected = cell.project_inputs(ops.convert_to_tensor(x))
    _, plain = cell.step(projected, state, None)
    _, ones = cell.step(projected, state, ops.ones((2, 6)))
    _, zeros = cell.step(projected, state, ops.zeros((2, 6)))
    c_index = {"lstm": 0, "layer_norm": 1, "hyper": 2}[kind]
    for a, b in zip(plain, ones):
        np.testing.assert_allclose(np_(a), np_(b), rtol=1e-6)
    # with the candidate dropped, c' = c * forget: same sign as c, smaller magnitude
    c = state[c_index]
    dropped = np_(zeros[c_index])
    assert np.all(np.sign(dropped) == np.sign(c)) and np.all(np.abs(dropped) < np.abs(c))
    if kind == "lstm":
        hidden = np_(projected[0]) + state[1] @ np_(cell.W_hh)
        forget = 1 / (1 + np.exp(-(hidden[:, 12:18] + 1.0)))
        np.testing.assert_allclose(dropped, c * forget, rtol=1e-5)


def test_dropout_masks_fresh_per_step_and_example() -> None:
    cell = make("lstm", use_recurrent_dropout=True, recurrent_dropout_prob=0.75)
    masks = np_(cell.dropout_masks(4, 50, training=True))
    assert masks.shape == (50, 4, 6)
    assert set(np.unique(masks)) <= {0.0, np.float32(1 / 0.75)}
    assert abs(masks.mean() - 1.0) < 0.15  # inverted dropout keeps the expectation
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(
        masks[:, 0], masks[:, 1]
    )
    assert cell.dropout_masks(4, 50, training=False) is None
    assert make("lstm").dropout_masks(4, 50, training=True) is None


@pytest.mark.parametrize(
    ("units", "keep"), [(6, 0.75), (7, 0.9), (1, 0.5), (512, 0.9)]
)
def test_keep_mask_from_dropout_bits(units: int, keep: float) -> None:
    # two units' draws per int32 value: both halves, odd widths included, keep their rate
    cell = make("layer_norm", units=units, use_recurrent_dropout=True,
                recurrent_dropout_prob=keep)
    bits = np_(cell.dropout_bits(64, 40, training=True))
    assert bits.shape == (40, 64, (units + 1) // 2) and bits.dtype == np.int32
    assert bits.min() >= 0 and bits.max() < 2**30
    masks = np_(cell.keep_mask(bits))
    assert masks.shape == (40, 64, units)
    assert set(np.unique(masks)) <= {0.0, np.float32(1 / keep)}
    expected = (bits[..., None] >> np.array([0, 15])) & (2**15 - 1) < round(keep * 2**15)
    expected = np.concatenate([expected[..., 0], expected[..., 1]], axis=-1)[..., :units]
    np.testing.assert_array_equal(masks > 0, expected)
    half = (units + 1) // 2
    for part in (masks[..., :half], masks[..., half:]):
        if part.size:
            assert abs((part > 0).mean() - keep) < 0.05
    assert cell.keep_mask(None) is None


@pytest.mark.parametrize(("shape", "gates"), [((3, 8), 1), ((5, 4 * 6), 4), ((2, 4 * 512), 4)])
def test_layer_norm_means_as_products_match_reductions(shape: tuple[int, int], gates: int
                                                       ) -> None:
    from sketchart.nn.cell_base import (
        _MEANS_AS_PRODUCTS,
        layer_norm,
        layer_norm_gates,
        means_as_products,
    )

    rng = np.random.default_rng(3)
    x = (rng.normal(size=shape) * 3 + 1).astype("float32")
    n = shape[1]
    gamma, beta = rng.normal(size=n).astype("float32"), rng.normal(size=n).astype("float32")
    units = n // gates

    def both() -> list[np.ndarray]:
        return [np_(layer_norm_gates(x, gamma, beta, gates, units)),
                np_(layer_norm(x[:, :units], gamma[:units], beta[:units]))]

    plain = both()
    with means_as_products():
        assert _MEANS_AS_PRODUCTS.get()
        products = both()
    assert not _MEANS_AS_PRODUCTS.get()
    for a, b in zip(plain, products):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_unknown_cell_is_a_one_line_error() -> None:
    from sketchart.errors import SketchartError
    from sketchart.nn.cells import make_cell

    with pytest.raises(SketchartError, match="unknown cell 'gru'.*lstm, layer_norm, hyper"):
        make_cell("gru", 4, 5)
