"""Mixed-precision training (``precision="bfloat16"``) on TensorFlow and JAX (tiny models).

Each backend runs in its own process (the Keras backend is fixed at import): a bfloat16
model trained on one batch gives finite, falling losses; a bfloat16 ``train()`` run saves
float32 weights that load and sample, records its precision, and ``--resume`` keeps it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import write_small_sheep

TINY = ("data_set=small.npz,enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=2,"
        "batch_size=10,dec_model=layer_norm,enc_model=layer_norm,"
        "use_recurrent_dropout=true")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, sheep_npz: Path) -> Path:
    """``small.npz``: 40 train / 10 valid / 10 test real sheep of at most 40 points."""
    return write_small_sheep(tmp_path_factory.mktemp("data"), sheep_npz, 40, 40)


_SCRIPT = """
import json, sys
import numpy as np
import keras
from sketchart.hparams import HParams
from sketchart.modeldir import load_model_dir
from sketchart.nn.model import SketchRNN
from sketchart.training.step import TrainStep
from sketchart.training.trainer import TrainError, train
from sketchart import sample

tiny, data_dir, root = sys.argv[1:4]
out = {}
hps = HParams().parse(tiny.replace("data_set=small.npz,", "") + ",max_seq_len=30")
model = SketchRNN(hps, seed=0, precision="bfloat16")
out["compute"] = str(model.decoder.compute_dtype)
out["weights"] = sorted({str(v.dtype) for v in model.trainable_variables})
step = TrainStep(model, keras.optimizers.Adam(1e-3, epsilon=1e-8), hps)
rng = np.random.default_rng(0)
s5 = np.zeros((10, 31, 5), np.float32)
s5[:, 1:, :2] = rng.normal(size=(10, 30, 2))
s5[:, 1:, 2] = 1.0
s5[:, 0, 2] = 1.0
lengths = np.full(10, 30, np.int32)
out["losses"] = [step.train(s5, lengths, 2e-3, 0.5)["cost"] for _ in range(25)]

common = dict(data_dir=data_dir, progress=False, tensorboard=False)
train(root, tiny + ",num_steps=4,save_every=4", seed=3, samples=2,
      precision="bfloat16", **common)
out["state"] = json.load(open(root + "/last/train_state.json"))["options"]["precision"]
res = train(root, "num_steps=8", resume=True, samples=0, **common)
out["resumed_steps"] = res.steps
out["resumed_state"] = json.load(open(root + "/last/train_state.json"))["options"]["precision"]
try:
    train(root, "num_steps=12", resume=True, precision="float32", samples=0, **common)
    out["refused"] = False
except TrainError as exc:
    out["refused"] = "bfloat16" in str(exc)
loaded = load_model_dir(root + "/best")
out["loaded"] = sorted({str(v.dtype) for v in loaded.variables if "seed" not in v.path})
out["loaded_precision"] = loaded.precision
drawn = sample(loaded, n=2, temperature=0.4, seed=1)
out["sampled"] = [int(len(d)) for d in drawn]
print("RESULT " + json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_bfloat16_training_end_to_end(backend: str, data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip(backend)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = [TINY, str(data_dir), str(tmp_path / "run")]
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_SCRIPT), *args], env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][7:])
    assert out["compute"] == "bfloat16" and out["weights"] == ["float32"]
    losses = np.asarray(out["losses"])
    assert np.all(np.isfinite(losses))
    assert losses[-5:].mean() < losses[:5].mean() - 0.1, losses
    assert out["state"] == out["resumed_state"] == "bfloat16"
    assert out["resumed_steps"] == 8 and out["refused"]
    assert out["loaded"] == ["float32"] and out["loaded_precision"] == "float32"
    assert len(out["sampled"]) == 2 and min(out["sampled"]) > 0


def test_float32_is_the_default_and_unknown_precisions_are_refused() -> None:
    from sketchart.hparams import HParams
    from sketchart.nn.model import SketchRNN
    from sketchart.nn.precision import check_precision, dtype_policy

    model = SketchRNN(HParams().parse("enc_rnn_size=4,dec_rnn_size=8,z_size=2"), seed=0)
    assert model.precision == "float32" and model.decoder.compute_dtype == "float32"
    assert dtype_policy("bfloat16") == "mixed_bfloat16"
    with pytest.raises(ValueError, match="bfloat16"):
        check_precision("float16")


def test_an_unknown_precision_fails_before_training(data_dir: Path, tmp_path: Path) -> None:
    from sketchart.training.trainer import TrainError, train

    with pytest.raises(TrainError, match="unknown precision"):
        train(tmp_path / "r", TINY + ",num_steps=2", data_dir=data_dir, precision="half",
              progress=False, tensorboard=False, samples=0)


#: per decoder: the dtype of each state part under bfloat16 (the cell's state layout)
STATE_DTYPES = [
    ("lstm", ["float32", "bfloat16"]),  # [c, h]
    ("layer_norm", ["bfloat16", "float32"]),  # [h, c]
    ("hyper", ["bfloat16", "bfloat16", "float32", "float32"]),  # [h, hyper h, c, hyper c]
]


@pytest.mark.parametrize(("cell", "dtypes"), STATE_DTYPES)
def test_bfloat16_products_with_float32_gates_and_cell_states(
    cell: str, dtypes: list[str]
) -> None:
    # only what a product reads (h) is bfloat16; c is float32 from the initial state to
    # the final one, and the step's result stays close to a float32 twin's
    import keras

    from sketchart.hparams import HParams
    from sketchart.nn.model import SketchRNN
    from sketchart.nn.precision import float32_twin

    hps = HParams().parse(
        f"enc_model={cell},dec_model={cell},enc_rnn_size=8,dec_rnn_size=16,z_size=4,"
        "num_mixture=2,max_seq_len=12"
    )
    model = SketchRNN(hps, seed=0, precision="bfloat16")
    twin = float32_twin(model)
    rng = np.random.default_rng(0)
    x = np.zeros((3, 12, 5), np.float32)
    x[:, 1:, :2] = rng.normal(size=(3, 11, 2))
    x[:, :, 2] = 1.0
    z = rng.normal(size=(3, 4)).astype(np.float32)
    results = []
    for m in (model, twin):
        state = m.initial_state(keras.ops.convert_to_tensor(z))
        _, final, _ = m.decode(x, z, state)
        results.append((state, final))
    (state, final), (_, final32) = results
    def names(parts: list) -> list[str]:
        return [keras.backend.standardize_dtype(p.dtype) for p in parts]

    assert names(state) == names(final) == dtypes
    for got, want in zip(final, final32):
        got = keras.ops.convert_to_numpy(keras.ops.cast(got, "float32"))
        want = keras.ops.convert_to_numpy(want)
        assert np.abs(got - want).max() < 0.05
