"""Parity with magenta's sketch_rnn on the reference fixtures (``../shared/fixtures``).

Each fixture holds the reference's weights, a 4-sketch batch and its outputs and
gradients (see ``../shared/README.md``). The imported model must reproduce them, as the
model issue asks:

* r_cost, kl_cost, cost within 1e-5 relative;
* mixture parameters within 1e-4 of each array's largest magnitude;
* decoder states and every gradient within 1e-4 (lstm) or 1e-3 (layer_norm, hyper) of
  each array's largest magnitude.

One array is the exception, explained beside ``GRADIENT_TOLERANCE``: the hyper
fixture's gradient of one ``zw`` bias, whose fixture value carries the reference's own
float32 noise above 1e-3 (our float64 run misses it by 1.5e-3).

**The fixture's z.** The reference fed ``batch_z = mu``: its decoder ran on the float32
``mu`` it had computed (the fixture's ``mu``), not on a value recomputed by another
implementation. The test feeds that same z. Recomputing it instead would test the
encoder's rounding twice: the layer_norm encoder's ``mu`` is within 4e-5 of the
fixture's (float32 noise; an exact float64 run is 3.2e-5 away), and the random-weight
decoder amplifies that difference over 67 steps to 2.5e-4 on the correlations, even in
float64 (``tests/parity_tools.py`` has an independent float64 forward pass that shows it).
The gradient still flows through ``z = mu + exp(presig/2) * eps``, below.

**The fixture's eps.** The reference's gradient flows through
``z = mu + exp(presig/2) * eps`` with the ``eps`` its graph drew in that run: the
gradients of ``presig`` are ``dcost/dz * exp(presig/2) / 2 * eps``. That eps is TF's
Philox normal stream with seeds ``(0, seed2)`` (4 for lstm and layer_norm, 14 for hyper),
found by recovering eps from the fixture's gradients. The test builds
``z = z_fed + (mu - stop_gradient(mu)) + (s - stop_gradient(s))``,
``s = exp(presig/2) * eps``: forward value exactly the fed z, gradient as in the reference.

Also here: ``sketchart convert`` on the real magenta checkpoint reproduces its
``reference_outputs.npz`` (lstm tolerances), and a model directory saved on one backend
loads on the other with bit-identical weights and the same outputs (a subprocess).
Run with ``-s`` to see the worst error per fixture.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import shared_path

pytestmark = pytest.mark.parity

#: fixture -> (hparam overrides, seed2 of the fixture's eps, state/gradient tolerance,
#: mixture-parameter tolerance)
FIXTURES: dict[str, tuple[dict[str, Any], int | None, float, float]] = {
    "lstm": ({}, 4, 1e-4, 1e-4),
    "lstm_kl_tolerance0": ({"kl_tolerance": 0.0}, 4, 1e-4, 1e-4),
    "layer_norm": ({"enc_model": "layer_norm", "dec_model": "layer_norm"}, 4, 1e-3, 1e-4),
    "hyper": ({"enc_model": "hyper", "dec_model": "hyper"}, 14, 1e-3, 1e-4),
    "lstm_unconditional": ({"conditional": False}, None, 1e-4, 1e-4),
}
#: Gradients whose fixture value carries the reference's float32 noise above the rule.
#: (fixture, reference name or name prefix) -> tolerance, relative to the array's largest
#: magnitude like every other one.
#:
#: hyper, backward encoder, ``hyper_ix`` zw bias: the smallest gradient in the fixture
#: (largest magnitude 3.3e-5). It is a sum over batch and time of terms that largely
#: cancel: the same block's weight gradient, the same terms times hyper outputs of
#: magnitude < 1, peaks at 8.7e-4. Our model in float64 lands 1.5e-3 from the fixture
#: (5e-8 absolute, 6e-5 of the weight gradient's peak); in float32 2.0e-3 (TensorFlow) and
#: 2.9e-3 (JAX). Float32 rounding alone moves this array that much: our float32 runs are
#: 5.1e-4 (TensorFlow) and 1.4e-3 (JAX) from our float64 one here, against a median of
#: 1.2e-5 / 1.8e-5 over the fixture's 143 gradient arrays. Every other gradient of the
#: fixture is within 4.3e-4. Tolerance: 5e-3.
GRADIENT_TOLERANCE = {
    ("hyper", "vector_rnn/ENC_RNN/bw/HyperLSTMCell/hyper_ix/zw/super_linear_b"): 5e-3,
}


def gradient_tolerance(fixture: str, name: str) -> float:
    """The tolerance of one gradient array (see ``GRADIENT_TOLERANCE``)."""
    for (fix, prefix), tol in GRADIENT_TOLERANCE.items():
        if fix == fixture and name.startswith(prefix):
            return tol
    return FIXTURES[fixture][2]


MIXTURE_KEYS = ("pi", "mu1", "mu2", "sigma1", "sigma2", "corr", "pen_logits")
COST_RTOL = 1e-5

#: worst error per fixture, printed at the end of the module
WORST: dict[str, dict[str, float]] = {}


def rel_err(ours: Any, ref: np.ndarray) -> float:
    """max |ours - ref| relative to the largest |ref| (absolute when ref is all zero)."""
    ours = np.asarray(ours, dtype=np.float64).reshape(ref.shape)
    scale = float(np.abs(ref).max()) or 1.0
    return float(np.abs(ours - ref).max() / scale)


def fixture_eps(seed2: int, shape: tuple[int, ...]) -> np.ndarray:
    """The reference run's eps: TF's stateful normal stream with seeds (0, seed2)."""
    import tensorflow as tf

    # a fresh graph and session: an eager stateful op would continue its stream on a
    # second call in the same process
    with tf.Graph().as_default():
        op = tf.raw_ops.RandomStandardNormal(
            shape=list(shape), dtype=tf.float32, seed=0, seed2=seed2
        )
        with tf.compat.v1.Session() as session:
            return session.run(op)


def mixture_arrays(params: Any) -> dict[str, np.ndarray]:
    pi = np.asarray(params.pi_logits, dtype=np.float64)
    pi = np.exp(pi - pi.max(-1, keepdims=True))
    pi /= pi.sum(-1, keepdims=True)
    return {
        "pi": pi,
        "mu1": params.mu_x,
        "mu2": params.mu_y,
        "sigma1": params.sigma_x,
        "sigma2": params.sigma_y,
        "corr": params.rho,
        "pen_logits": params.pen_logits,
    }


#: compiled (model, step) per architecture: lstm and lstm_kl_tolerance0 share weights and
#: differ only in kl_tolerance, which the step takes as an argument (one compile, not two)
_STEPS: dict[tuple[Any, ...], tuple[Any, Any]] = {}


def build_model(name: str, data: Any, dtype: str = "float32") -> Any:
    """The model of fixture ``name`` with the fixture's weights (as ``dtype``)."""
    from sketchart.hparams import HParams
    from sketchart.hub.convert import load_reference_weights
    from sketchart.nn.model import SketchRNN

    overrides = FIXTURES[name][0]
    hps = HParams(
        max_seq_len=data["input_data"].shape[1] - 1,
        batch_size=4,
        use_recurrent_dropout=False,
        **overrides,
    )
    model = SketchRNN(hps)
    weights = {k[2:]: np.asarray(data[k], dtype) for k in data.files if k.startswith("w:")}
    load_reference_weights(model, weights, source=name)
    return model


def reference_step(model: Any) -> Any:
    """``step(strokes5, lengths, eps, kl_weight, kl_tolerance) -> (cost, aux, grads)``
    computed the way the fixture was made (see the module docstring)."""
    from keras import ops

    from sketchart.nn.backend import value_and_grad
    from sketchart.nn.losses import compute_losses

    hps = model.hps

    def fn(
        strokes5: Any,
        lens: Any,
        noise: Any,
        z_fed: Any,
        kl_weight: Any,
        kl_tolerance: Any,
    ) -> tuple[Any, Any]:
        targets = strokes5[:, 1:]
        out: dict[str, Any] = {}
        if hps.conditional:
            mu, presig = model.encode(targets, lens)
            spread = ops.exp(presig / 2.0) * noise
            # value: exactly the fed z; gradient: through mu and eps, as in the reference
            z = ops.stop_gradient(z_fed) + (mu - ops.stop_gradient(mu))
            z = z + (spread - ops.stop_gradient(spread))
            state = model.initial_state(z)
            out.update(mu=mu, presig=presig)
        else:
            z = None
            state = model.initial_state(batch_size=ops.shape(strokes5)[0])
        params, final, _ = model.decode(strokes5[:, :-1], z, state)
        out.update(params=params, initial_state=state, final_state=final)
        losses = compute_losses(
            out, targets, hps, kl_weight, training=True, kl_tolerance=kl_tolerance
        )
        return losses["cost"], {**out, **losses}

    return value_and_grad(model, fn)


def run_fixture(name: str, data: Any) -> tuple[Any, dict[str, Any]]:
    from sketchart.hub.convert import load_reference_weights

    overrides = {k: v for k, v in FIXTURES[name][0].items() if k != "kl_tolerance"}
    key = (tuple(sorted(overrides.items())), data["input_data"].shape)
    if key in _STEPS:
        model, step = _STEPS[key]
        load_reference_weights(
            model, {k[2:]: data[k] for k in data.files if k.startswith("w:")}, source=name
        )
    else:
        model = build_model(name, data)
        step = reference_step(model)
        _STEPS[key] = (model, step)
    kl_tolerance = float(FIXTURES[name][0].get("kl_tolerance", model.hps.kl_tolerance))
    seed2 = FIXTURES[name][1]
    batch = data["input_data"]
    if model.hps.conditional:
        eps = fixture_eps(seed2, data["mu"].shape)  # type: ignore[arg-type]
    else:
        eps = np.zeros((batch.shape[0], model.hps.z_size), np.float32)
    kl_weight = float(data["kl_weight"]) if "kl_weight" in data.files else 0.01
    z_fed = data["mu"] if model.hps.conditional else eps
    _, aux, grads = step(
        batch,
        data["sequence_lengths"].astype(np.int32),
        eps,
        z_fed,
        np.float32(kl_weight),
        np.float32(kl_tolerance),
    )
    grads_by_path = {v.path: np.asarray(g) for v, g in zip(model.trainable_variables, grads)}
    return model.hps, {"aux": aux, "grads": grads_by_path}


@pytest.fixture(scope="module", params=list(FIXTURES))
def fixture_run(request: pytest.FixtureRequest) -> tuple[str, Any, Any, dict[str, Any]]:
    name = request.param
    data = np.load(shared_path("fixtures", "reference", f"{name}.npz"))
    hps, run = run_fixture(name, data)
    return name, data, hps, run


def _record(name: str, key: str, err: float) -> None:
    WORST.setdefault(name, {})
    WORST[name][key] = max(WORST[name].get(key, 0.0), err)


def test_costs(fixture_run: tuple[str, Any, Any, dict[str, Any]]) -> None:
    name, data, _, run = fixture_run
    aux = run["aux"]
    for key in ("r_cost", "kl_cost", "cost"):
        if key not in data.files:
            continue
        ref = float(data[key])
        err = abs(float(aux[key]) - ref) / abs(ref)
        _record(name, "cost_rel", err)
        assert err < COST_RTOL, f"{name}: {key} {float(aux[key])} vs reference {ref}"


def test_latent_and_mixture(fixture_run: tuple[str, Any, Any, dict[str, Any]]) -> None:
    name, data, hps, run = fixture_run
    aux = run["aux"]
    tol = FIXTURES[name][3]
    if hps.conditional:
        for key in ("mu", "presig"):
            err = rel_err(aux[key], data[key])
            _record(name, "mu_presig", err)
            assert err < FIXTURES[name][2], f"{name}: {key} off by {err:.2e}"
    for key, ours in mixture_arrays(aux["params"]).items():
        err = rel_err(ours, data[key])
        _record(name, "mixture", err)
        assert err < tol, f"{name}: mixture {key} off by {err:.2e} (tolerance {tol})"


def test_decoder_states(fixture_run: tuple[str, Any, Any, dict[str, Any]]) -> None:
    name, data, _, run = fixture_run
    tol = FIXTURES[name][2]
    for key in ("initial_state", "final_state"):
        ours = np.concatenate([np.asarray(s) for s in run["aux"][key]], axis=-1)
        err = rel_err(ours, data[key])
        _record(name, "states", err)
        assert err < tol, f"{name}: {key} off by {err:.2e} (tolerance {tol})"


def test_gradients(fixture_run: tuple[str, Any, Any, dict[str, Any]]) -> None:
    from sketchart.hub.convert import reference_names

    name, data, hps, run = fixture_run
    grads = run["grads"]
    checked = 0
    for ref in reference_names(hps):
        ours = grads[ref.path]
        if ref.index is not None:
            ours = np.take(ours, ref.index, axis=ref.axis)
        expected = data[f"g:{ref.name}:0"]
        err = rel_err(ours, expected)
        tol = gradient_tolerance(name, ref.name)
        # the GRADIENT_TOLERANCE exceptions are reported apart from the rule's worst
        _record(name, "gradients" if tol == FIXTURES[name][2] else "grad_except", err)
        assert err < tol, f"{name}: gradient of {ref.name} off by {err:.2e} (tolerance {tol})"
        checked += 1
    # every gradient in the fixture was compared
    assert checked == sum(1 for k in data.files if k.startswith("g:"))


def test_layer_norm_float64_maths() -> None:
    """In float64, where rounding hides nothing, our layer_norm model computes the same
    function as ``parity_tools``, an independent NumPy forward pass written from the
    reference's description: mu, presig, mixture parameters and decoder states agree to
    1e-9 (they land near 1e-13). And that exact arithmetic, fed the fixture's z as the
    reference was, is within the issue's 1e-4 of the float32 fixture (5e-5 on the
    correlations), so the mixture tolerance tests the implementation, not the fixture."""
    import keras
    from parity_tools import ln_decode, ln_encode

    if keras.backend.backend() != "tensorflow":
        pytest.skip("float64 on JAX needs x64 mode, which is set at start-up")
    data = np.load(shared_path("fixtures", "reference", "layer_norm.npz"))
    # both: the global dtype policy, once used, no longer follows floatx
    previous = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        model = build_model("layer_norm", data, dtype="float64")
        batch = np.asarray(data["input_data"], np.float64)
        lengths = data["sequence_lengths"].astype(np.int32)
        mu, presig = model.encode(batch[:, 1:], lengths)
        z = np.asarray(data["mu"], np.float64)
        state = model.initial_state(z)
        params, final, _ = model.decode(batch[:, :-1], z, state)
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])
    exact_mu, exact_presig = ln_encode(data)
    exact = ln_decode(data, z)
    ours = {
        "mu": mu,
        "presig": presig,
        **mixture_arrays(params),
        "initial_state": np.concatenate([np.asarray(s) for s in state], axis=-1),
        "final_state": np.concatenate([np.asarray(s) for s in final], axis=-1),
    }
    for key, value in ours.items():
        assert np.asarray(value).dtype == np.float64, key
        ref = {"mu": exact_mu, "presig": exact_presig}.get(key, exact.get(key))
        err = rel_err(value, np.asarray(ref))
        assert err < 1e-9, f"float64 {key}: ours and the independent pass differ by {err:.1e}"
    for key in MIXTURE_KEYS:
        err = rel_err(exact[key], data[key])
        assert err < 1e-4, f"exact arithmetic is {err:.1e} from the fixture's {key}"


def test_converted_checkpoint(tmp_path: Path) -> None:
    """``sketchart convert`` on a real magenta checkpoint reproduces the reference."""
    from keras import ops

    from sketchart.cli import app
    from sketchart.modeldir import load_model_dir
    from sketchart.nn.losses import compute_losses

    src = shared_path("fixtures", "reference", "magenta_checkpoint_small")
    ref = np.load(src / "reference_outputs.npz")
    from typer.testing import CliRunner

    result = CliRunner().invoke(
        app,
        [
            "convert",
            str(src),
            str(tmp_path / "small"),
            "--scale-factor",
            str(float(ref["scale_factor"])),
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    model = load_model_dir(tmp_path / "small")
    assert model.meta.source == "magenta-checkpoint" and model.meta.steps == 12
    assert model.hps.dec_model == "layer_norm" and model.hps.use_recurrent_dropout
    batch = ref["input_data"]
    inputs = {"strokes5": batch, "lengths": ref["sequence_lengths"].astype(np.int32)}
    out = model(inputs, training=False, eps=np.zeros(ref["mu"].shape, np.float32))
    losses = compute_losses(out, batch[:, 1:], model.hps, 0.01, training=True)
    for key in ("r_cost", "kl_cost"):
        err = abs(float(losses[key]) - float(ref[key])) / abs(float(ref[key]))
        _record("magenta_checkpoint_small", "cost_rel", err)
        assert err < COST_RTOL, f"{key}: {float(losses[key])} vs {float(ref[key])}"
    err = rel_err(ops.convert_to_numpy(out["mu"]), ref["mu"])
    _record("magenta_checkpoint_small", "mu_presig", err)
    assert err < 1e-4
    for key, ours in mixture_arrays(out["params"]).items():
        err = rel_err(ops.convert_to_numpy(ours), ref[key])
        _record("magenta_checkpoint_small", "mixture", err)
        assert err < 1e-4, f"checkpoint: mixture {key} off by {err:.2e}"


_CROSS_SCRIPT = """
import sys, numpy as np, keras
from sketchart.modeldir import load_model_dir
model = load_model_dir(sys.argv[1])
batch = np.load(sys.argv[2])
out = model({"strokes5": batch["strokes5"], "lengths": batch["lengths"]}, eps=batch["eps"])
p = out["params"]
np.savez(sys.argv[3], backend=keras.backend.backend(), mu=out["mu"], pi=p.pi_logits,
         mu_x=p.mu_x, rho=p.rho, pen=p.pen_logits,
         **{"w%d" % i: v.numpy() for i, v in enumerate(model.weights)})
"""


def test_weights_cross_backend(tmp_path: Path) -> None:
    """A model directory saved on this backend loads on the other with the same outputs."""
    import keras

    from sketchart.hparams import HParams
    from sketchart.modeldir import ModelMeta, save_model_dir
    from sketchart.nn.model import SketchRNN

    here = keras.backend.backend()
    other = "jax" if here == "tensorflow" else "tensorflow"
    try:
        __import__(other if other == "jax" else "tensorflow")
    except ImportError:
        pytest.skip(f"{other} is not installed")
    hps = HParams(
        enc_rnn_size=16,
        dec_rnn_size=24,
        z_size=8,
        num_mixture=3,
        max_seq_len=12,
        dec_model="layer_norm",
    )
    model = SketchRNN(hps, seed=3)
    save_model_dir(model, tmp_path / "m", ModelMeta(scale_factor=2.0))
    rng = np.random.default_rng(0)
    lengths = np.array([12, 5, 9], np.int32)
    strokes5 = np.zeros((3, 13, 5), np.float32)
    strokes5[:, 0, 2] = 1
    for b, n in enumerate(lengths):
        strokes5[b, 1 : n + 1, :2] = rng.normal(size=(n, 2))
        strokes5[b, 1 : n + 1, 2] = 1
        strokes5[b, n + 1 :, 4] = 1
    eps = rng.normal(size=(3, 8)).astype(np.float32)
    np.savez(tmp_path / "batch.npz", strokes5=strokes5, lengths=lengths, eps=eps)
    env = {**os.environ, "KERAS_BACKEND": other, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_CROSS_SCRIPT),
            str(tmp_path / "m"),
            str(tmp_path / "batch.npz"),
            str(tmp_path / "out.npz"),
        ],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = np.load(tmp_path / "out.npz")
    assert str(theirs["backend"]) == other
    for i, v in enumerate(model.weights):  # bit-identical weights
        assert np.array_equal(np.asarray(v.numpy()), theirs[f"w{i}"]), v.path
    ours = model({"strokes5": strokes5, "lengths": lengths}, eps=eps)
    p = ours["params"]
    for key, value in (
        ("mu", ours["mu"]),
        ("pi", p.pi_logits),
        ("mu_x", p.mu_x),
        ("rho", p.rho),
        ("pen", p.pen_logits),
    ):
        err = rel_err(np.asarray(value), theirs[key])
        _record("cross_backend", "outputs", err)
        assert err < 1e-5, f"{key} differs across backends by {err:.2e}"


def test_print_worst_errors() -> None:
    """Print the worst error per fixture (run with -s to see it)."""
    if not WORST:
        pytest.skip("no parity fixture ran")
    import keras

    print(f"\nworst errors on {keras.backend.backend()} (relative to each array's max):")
    for name, errs in WORST.items():
        print(f"  {name:20s} " + "  ".join(f"{k}={v:.1e}" for k, v in errs.items()))
