"""SketchRNN: architecture, API, sizes, and that its fast paths equal the plain ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sketchart.hparams import HParams

pytestmark = pytest.mark.parity


def tiny(**overrides: Any) -> HParams:
    values = {
        "enc_rnn_size": 8,
        "dec_rnn_size": 12,
        "z_size": 4,
        "num_mixture": 3,
        "max_seq_len": 10,
        "use_recurrent_dropout": False,
        **overrides,
    }
    return HParams(**values)


def batch(rng: np.random.Generator, lengths: list[int], steps: int) -> dict[str, Any]:
    """A padded batch as magenta's pad_batch makes it (start token, end rows)."""
    strokes5 = np.zeros((len(lengths), steps + 1, 5), np.float32)
    strokes5[:, 0, 2] = 1
    for b, n in enumerate(lengths):
        strokes5[b, 1 : n + 1, :2] = rng.normal(size=(n, 2))
        lift = rng.random(n) < 0.3
        lift[-1] = True
        strokes5[b, 1 : n + 1, 2] = ~lift
        strokes5[b, 1 : n + 1, 3] = lift
        strokes5[b, n + 1 :, 4] = 1
    return {"strokes5": strokes5, "lengths": np.array(lengths, np.int32)}


def np_(x: Any) -> np.ndarray:
    from keras import ops

    return np.asarray(ops.convert_to_numpy(x))


@pytest.mark.parametrize(
    ("overrides", "count"),
    [
        ({}, 2_186_107),
        ({"dec_model": "layer_norm"}, 2_189_179),
        ({"dec_model": "hyper"}, 3_477_627),
    ],
)
def test_parameter_counts_match_reference(overrides: dict[str, Any], count: int) -> None:
    """The reference's trainable-parameter counts for default hparams (notes §4, §12)."""
    from sketchart.nn.model import SketchRNN

    assert SketchRNN(HParams(**overrides)).count_params() == count


def test_config_round_trip() -> None:
    import keras

    from sketchart.nn.model import SketchRNN

    model = SketchRNN(tiny(dec_model="layer_norm", kl_weight=0.25), seed=5)
    config = model.get_config()
    clone = SketchRNN.from_config(config)
    assert clone.get_config() == config and clone.hps == model.hps
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert isinstance(again, SketchRNN) and again.hps == model.hps
    clone.set_weights(model.get_weights())
    inputs = batch(np.random.default_rng(0), [10, 4], 10)
    eps = np.zeros((2, 4), np.float32)
    a, b = model(inputs, eps=eps), clone(inputs, eps=eps)
    np.testing.assert_array_equal(np_(a["params"].mu_x), np_(b["params"].mu_x))


def test_same_seed_same_weights() -> None:
    from sketchart.nn.model import SketchRNN

    a, b = SketchRNN(tiny(), seed=1), SketchRNN(tiny(), seed=1)
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)
    c = SketchRNN(tiny(), seed=2)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


@pytest.mark.parametrize("kind", ["lstm", "layer_norm", "hyper"])
@pytest.mark.parametrize("conditional", [True, False])
def test_decoder_step_equals_teacher_forcing(kind: str, conditional: bool) -> None:
    """Stepping decoder_step through the batch reproduces the fast teacher-forced decoder
    (z projected once, projections in one matmul) and its final state."""
    from sketchart.nn.model import SketchRNN

    model = SketchRNN(tiny(dec_model=kind, enc_model=kind, conditional=conditional), seed=3)
    rng = np.random.default_rng(1)
    inputs = batch(rng, [10, 6, 3], 10)
    eps = rng.normal(size=(3, 4)).astype(np.float32)
    out = model(inputs, eps=eps)
    state = out["initial_state"]
    z = out["z"]
    for t in range(10):
        params, state = model.decoder_step(inputs["strokes5"][:, t], state, z)
        for field in ("pen_logits", "pi_logits", "mu_x", "mu_y", "sigma_x", "sigma_y", "rho"):
            np.testing.assert_allclose(
                np_(getattr(params, field)),
                np_(getattr(out["params"], field))[:, t],
                rtol=1e-4,
                atol=1e-5,
                err_msg=f"{field} at {t}",
            )
    for a, b in zip(state, out["final_state"]):
        np.testing.assert_allclose(np_(a), np_(b), rtol=1e-4, atol=1e-5)


def test_z_and_initial_state() -> None:
    """z = mu + exp(presig/2) * eps; initial state = tanh(W z + b) in the cell's layout."""
    from sketchart.nn.model import SketchRNN

    model = SketchRNN(tiny(), seed=4)
    rng = np.random.default_rng(2)
    inputs = batch(rng, [9, 5], 10)
    eps = rng.normal(size=(2, 4)).astype(np.float32)
    out = model(inputs, eps=eps)
    mu, presig = np_(out["mu"]), np_(out["presig"])
    np.testing.assert_allclose(np_(out["z"]), mu + np.exp(presig / 2) * eps, rtol=1e-6)
    flat = np.tanh(np_(out["z"]) @ np_(model.dec_init.kernel) + np_(model.dec_init.bias))
    c, h = out["initial_state"]  # lstm: [c, h]
    np.testing.assert_allclose(np.concatenate([np_(c), np_(h)], 1), flat, rtol=1e-5, atol=1e-6)
    # without eps, z is random: two calls differ
    z1, z2 = np_(model(inputs)["z"]), np_(model(inputs)["z"])
    assert not np.array_equal(z1, z2)


def test_encoder_reads_only_the_valid_prefix() -> None:
    """Padding never reaches the encoder, and the backward direction reads the reversed
    valid prefix (bidirectional_dynamic_rnn with sequence lengths)."""
    from keras import ops

    from sketchart.nn.model import SketchRNN

    model = SketchRNN(tiny(), seed=6)
    rng = np.random.default_rng(3)
    inputs = batch(rng, [7, 10], 10)
    targets = inputs["strokes5"][:, 1:]
    mu, _ = (np_(v) for v in model.encode(targets, inputs["lengths"]))
    noisy = targets.copy()
    noisy[0, 7:] = rng.normal(size=(3, 5))
    mu2, _ = (np_(v) for v in model.encode(noisy, inputs["lengths"]))
    np.testing.assert_allclose(mu2, mu, rtol=1e-6)
    # the same sketch alone, without padding, gives the same result
    mu3, _ = (np_(v) for v in model.encode(targets[:1, :7], inputs["lengths"][:1]))
    np.testing.assert_allclose(mu3, mu[:1], rtol=1e-5, atol=1e-7)
    # a plain loop over the cells: forward over x[:n], backward over x[:n][::-1]
    feats = []
    for cell, seq in ((model.enc_fw, targets[0, :7]), (model.enc_bw, targets[0, :7][::-1])):
        state = cell.zero_state(1)
        for t in range(7):
            _, state = cell(ops.convert_to_tensor(seq[t : t + 1]), state)
        feats.append(np_(cell.output_of(state)))
    last_h = np.concatenate(feats, 1)
    np.testing.assert_allclose(np_(model.enc_mu(last_h)), mu[:1], rtol=1e-5, atol=1e-7)


def test_dropout_only_in_training() -> None:
    from sketchart.nn.model import SketchRNN

    hps = tiny(
        use_recurrent_dropout=True,
        recurrent_dropout_prob=0.5,
        use_input_dropout=True,
        use_output_dropout=True,
    )
    model = SketchRNN(hps, seed=7)
    inputs = batch(np.random.default_rng(4), [10, 5], 10)
    eps = np.zeros((2, 4), np.float32)
    a = np_(model(inputs, eps=eps)["params"].mu_x)
    b = np_(model(inputs, eps=eps)["params"].mu_x)
    np.testing.assert_array_equal(a, b)
    c = np_(model(inputs, eps=eps, training=True)["params"].mu_x)
    assert not np.allclose(a, c)


def test_unconditional_model() -> None:
    from sketchart.nn.model import SketchRNN

    model = SketchRNN(tiny(conditional=False), seed=8)
    assert not hasattr(model, "enc_fw")
    assert model.decoder.input_dim == 5
    out = model(batch(np.random.default_rng(5), [10, 2], 10))
    assert "mu" not in out and out["params"].pi_logits.shape == (2, 10, 3)
    assert all(float(np.abs(np_(s)).max()) == 0 for s in out["initial_state"])
    with pytest.raises(ValueError, match="decoder-only"):
        model.encode(np.zeros((1, 3, 5), np.float32), np.array([3]))


def test_losses_for_and_shapes() -> None:
    from sketchart.nn.model import SketchRNN

    model = SketchRNN(tiny(dec_model="hyper"), seed=9)
    inputs = batch(np.random.default_rng(6), [10, 3, 8], 10)
    result = model.losses_for(inputs, kl_weight=0.5)
    p = result["outputs"]["params"]
    assert p.pen_logits.shape == (3, 10, 3) and p.rho.shape == (3, 10, 3)
    assert float(result["kl_cost"]) >= 0.2 - 1e-7
    assert float(result["cost"]) == pytest.approx(
        float(result["r_cost"]) + 0.5 * float(result["kl_cost"]), rel=1e-6
    )
    assert [tuple(s.shape) for s in result["outputs"]["final_state"]] == [
        (3, 12),
        (3, 256),
        (3, 12),
        (3, 256),
    ]


def test_gradients_reach_every_weight() -> None:
    """value_and_grad (tf.GradientTape / jax.value_and_grad) gives a finite gradient for
    every trainable weight, with training-mode dropout (seed state is carried)."""
    from sketchart.nn.backend import value_and_grad
    from sketchart.nn.model import SketchRNN

    model = SketchRNN(tiny(use_recurrent_dropout=True, kl_tolerance=0.0), seed=10)
    inputs = batch(np.random.default_rng(7), [10, 4], 10)

    def fn(strokes5: Any, lengths: Any) -> tuple[Any, Any]:
        result = model.losses_for(
            {"strokes5": strokes5, "lengths": lengths}, 0.5, training=True
        )
        return result["cost"], result["r_cost"]

    step = value_and_grad(model, fn)
    cost1, _, grads = step(inputs["strokes5"], inputs["lengths"])
    cost2, _, _ = step(inputs["strokes5"], inputs["lengths"])
    assert len(grads) == len(model.trainable_variables)
    for v, g in zip(model.trainable_variables, grads):
        g = np_(g)
        assert g.shape == tuple(v.shape) and np.isfinite(g).all(), v.path
        assert np.abs(g).max() > 0, f"no gradient reaches {v.path}"
    # dropout masks differ between the two calls (the seed state advanced)
    assert float(cost1) != float(cost2)


@pytest.mark.parametrize("cell", ["lstm", "layer_norm", "hyper"])
@pytest.mark.parametrize(
    ("conditional", "input_dropout"), [(True, False), (False, False), (True, True)]
)
def test_fast_loop_gradients_equal_tensorflows_own(
    cell: str, conditional: bool, input_dropout: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TensorFlow's hand-scheduled backward loop (weight gradients per chunk of 4 steps,
    the decoder's step products run transposed, the step compiled by XLA, inputs projected
    step by step, or projected first with input dropout) gives the gradients of TensorFlow's
    own ``while_loop`` gradient (``SKETCHART_SCAN=plain``): recurrent dropout on, ragged
    lengths, two calls (the seed state advances)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the hand-scheduled loop is TensorFlow's; JAX differentiates lax.scan")
    from keras import ops

    from sketchart.nn import tf_loop
    from sketchart.nn.backend import value_and_grad
    from sketchart.nn.model import SketchRNN

    monkeypatch.setattr(tf_loop, "WEIGHT_GRAD_CHUNK", 4)
    # the decoder's 4H = 48 (and a hyper cell's 1024) run transposed, the encoder's 32 not
    monkeypatch.setattr(tf_loop, "TRANSPOSED_PRODUCT_MIN_COLS", 48)
    hps = tiny(enc_model=cell, dec_model=cell, conditional=conditional,
               use_recurrent_dropout=True, recurrent_dropout_prob=0.7,
               use_input_dropout=input_dropout, input_dropout_prob=0.8, kl_tolerance=0.0)
    inputs = batch(np.random.default_rng(3), [10, 4, 7], 10)

    def run(scan_mode: str | None) -> list[tuple[float, list[np.ndarray]]]:
        if scan_mode is None:
            monkeypatch.delenv("SKETCHART_SCAN", raising=False)
        else:
            monkeypatch.setenv("SKETCHART_SCAN", scan_mode)
        model = SketchRNN(hps, seed=5)

        def fn(strokes5: Any, lengths: Any) -> tuple[Any, Any]:
            out = model.losses_for({"strokes5": strokes5, "lengths": lengths}, 0.7,
                                   training=True)
            # every state output matters too (the final carry's gradient path)
            extra = sum(ops.sum(s * s) for s in out["outputs"]["final_state"])
            return out["cost"] + 0.1 * extra, out["r_cost"]

        step = value_and_grad(model, fn)
        return [
            (float(c), [np_(g) for g in grads])
            for c, _, grads in (step(inputs["strokes5"], inputs["lengths"]) for _ in range(2))
        ]

    fast, plain = run(None), run("plain")
    for (c_fast, g_fast), (c_plain, g_plain) in zip(fast, plain):
        np.testing.assert_allclose(c_fast, c_plain, rtol=1e-5)
        for a, b in zip(g_fast, g_plain):
            # float32 sums in another order: within 1e-4 of each array's largest value
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())
    assert fast[0][0] != fast[1][0]  # the masks changed between calls
