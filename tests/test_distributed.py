"""Data-parallel training on two virtual CPU devices equals one device on the same batch.

Each backend runs in its own subprocess: the device count is fixed when the backend
starts (``XLA_FLAGS=--xla_force_host_platform_device_count=2`` for JAX, logical CPU
devices for TensorFlow). The script does one update on one device, then the same update
from the same weights with the batch split over two devices (``MirroredStrategy`` /
``keras.distribution.DataParallel``, exactly as ``train(data_parallel=True)`` sets them
up), and compares the weights, the Adam moments and the losses. A short
``train(..., data_parallel=True)`` run then checks the trainer's plumbing end to end
(on JAX only in the slow variant: compiling takes a minute on 2 cores).

On TensorFlow each replica draws its own random numbers, so that comparison uses the
decoder-only model without dropout (nothing random); on JAX the step is one program over
the global batch and the full VAE with recurrent dropout must match too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import os, sys
    backend = os.environ["KERAS_BACKEND"]
    if backend == "tensorflow":
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    import keras
    from sketchart.data.datasets import BatchLoader, load_npz
    from sketchart.hparams import HParams
    from sketchart.nn.model import SketchRNN
    from sketchart.training.devices import data_parallel
    from sketchart.training.trainer import train
    from sketchart.training.step import TrainStep

    sheep_npz, log_root = sys.argv[1], sys.argv[2]
    text = "enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=3,batch_size=4,max_seq_len=40"
    if backend == "tensorflow":
        text += ",conditional=false,use_recurrent_dropout=false"
    else:
        text += ",use_recurrent_dropout=true,kl_tolerance=0.0"
    hps = HParams().parse(text)
    sheep = load_npz(sheep_npz)
    loader = BatchLoader(sheep.train, batch_size=4, max_seq_len=40, scale_factor=18.5,
                         random_scale_factor=0.15, augment_stroke_prob=0.1, seed=3)
    batch = loader.random_batch()

    def one_step(strategy, distribution, scope, init):
        with scope:
            model = SketchRNN(hps, seed=7)
            opt = keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-8)
            step = TrainStep(model, opt, hps, strategy=strategy, distribution=distribution)
        if init is not None:
            for var, value in zip(model.variables, init):
                var.assign(value)
            step.reload()
        init = [np.asarray(v.value) for v in model.variables]
        losses = step.train(batch.strokes5, batch.lengths, 1e-3, 0.3)
        step.sync()
        return init, losses, [np.asarray(v.value) for v in model.variables], \\
            [np.asarray(v.value) for v in opt.variables]

    init, l1, w1, o1 = one_step(None, None, keras.name_scope("single"), None)
    strategy, distribution, scope, n = data_parallel(4)
    assert n == 2, n
    _, l2, w2, o2 = one_step(strategy, distribution, scope, init)
    changed = sum(not np.array_equal(a, b) for a, b in zip(init, w1))
    assert changed >= 5, f"the step changed only {changed} variables"
    worst = max(float(np.max(np.abs(a - b)) / (np.max(np.abs(a)) + 1e-12))
                for a, b in zip(w1 + o1, w2 + o2) if a.size)
    loss_diff = max(abs(l1[k] - l2[k]) / max(abs(l1[k]), 1e-6) for k in l1)
    print(f"devices={n} worst_relative={worst:.3g} loss_relative={loss_diff:.3g}")
    assert worst < 1e-5, worst
    assert loss_diff < 1e-5, (l1, l2)

    if sys.argv[3] != "full":
        print("ok")
        raise SystemExit(0)
    # the trainer end to end with the flag
    from sketchart.data.npzsafe import write_npz
    small = os.path.join(log_root, "small.npz")
    pick = lambda xs, k: [x.astype(np.int16) for x in xs if len(x) <= 40][:k]
    write_npz(small, {"train": pick(sheep.train, 12), "valid": pick(sheep.valid, 4),
                      "test": pick(sheep.test, 4)})
    result = train(os.path.join(log_root, "run"), text + ",num_steps=2,save_every=2,"
                   "data_set=" + small, data_parallel=True, seed=0, progress=False,
                   samples=0, tensorboard=False)
    assert result.steps == 2 and result.best_valid is not None, result
    print("ok")
""")


@pytest.mark.parametrize("backend, full", [
    ("tensorflow", True),
    ("jax", False),
    # compiling the JAX trainer's steps for two devices takes a while on 2 cores
    pytest.param("jax", True, marks=pytest.mark.slow),
], ids=["tensorflow", "jax-step", "jax-trainer"])
def test_one_step_on_two_devices_equals_one_device(backend: str, full: bool,
                                                   sheep_npz: Path, tmp_path: Path) -> None:
    if backend == "jax":
        pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(sheep_npz), str(tmp_path),
                          "full" if full else "step"],
                         env=env, capture_output=True, text=True, timeout=900,
                         check=False)
    assert out.returncode == 0, out.stderr[-4000:]
    assert out.stdout.strip().endswith("ok"), out.stdout
    assert "devices=2" in out.stdout
