#!/usr/bin/env bash
# GPU check for issue 4: train default hparams with KERAS_BACKEND=jax on a machine that has
# JAX + CUDA but no TensorFlow and no internet, and print steps/s and the losses.
#
# Two steps:
#   1. here, with internet (PyPI), once:   bash benchmarks/gpu_check.sh --prepare
#      -> .whl/ holds the sketchart wheel, the few pure-Python wheels the GPU image lacks
#         (keras, namex, tensorboardX; optree is a small cp312 binary wheel) and a copy of
#         aaron_sheep.npz (read from ../shared; .whl/ is git-ignored and never committed).
#   2. there, with .whl/ carried beside the checkout:   bash benchmarks/gpu_check.sh
#      Options: STEPS=300 (timed steps per mode), TRAIN_STEPS=200 (a full train() run
#      with evaluation and checkpoints), PYTHON=python3; for a smoke run on a CPU:
#      WHL=none WARM=0 STEPS=2 TRAIN_STEPS=2 HPARAMS="dec_rnn_size=32,enc_rnn_size=16,batch_size=20" \
#        PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh
#
# Prints: device, compile time, ms/step and steps/s for exact and bucketed batches at
# batch 100, then a short train() run's summary line (valid/test costs, checkpoints).
set -euo pipefail
cd "$(dirname "$0")/.."
WHL=${WHL:-.whl}
PY=${PYTHON:-python3}

if [ "${1:-}" = "--prepare" ]; then
  mkdir -p "$WHL"
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  rm -f "$WHL"/*.whl
  "$PY" -m pip wheel -q --no-deps -w "$WHL" .
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$WHL" \
    "keras==3.15.1" namex "optree>=0.14" "tensorboardX>=2.6"
  cp ../shared/data/sketchrnn/aaron_sheep.npz "$WHL"/aaron_sheep.npz
  chmod u+w "$WHL"/aaron_sheep.npz
  ls -la "$WHL"
  exit 0
fi

if ls "$WHL"/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/sketchart-site "$WHL"/*.whl
  export PYTHONPATH=/tmp/sketchart-site${PYTHONPATH:+:$PYTHONPATH}
fi
DATA=${DATA:-$WHL/aaron_sheep.npz}
[ -f "$DATA" ] || DATA=../shared/data/sketchrnn/aaron_sheep.npz
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export STEPS=${STEPS:-300} TRAIN_STEPS=${TRAIN_STEPS:-200} DATA

"$PY" - <<'EOF'
import os, statistics, sys, tempfile, time
import jax
import numpy as np
import keras
from sketchart.data.datasets import BatchLoader, load_npz
from sketchart.hparams import HParams
from sketchart.nn.model import SketchRNN
from sketchart.training.trainer import (bucket_multiple, bucket_steps, kl_weight_at,
                             learning_rate_at, train)
from sketchart.training.step import TrainStep

print(f"jax {jax.__version__} on {jax.devices()}; keras {keras.__version__} "
      f"({keras.backend.backend()})")
steps = int(os.environ["STEPS"])
# magenta's defaults (batch 100, lstm 512 decoder, z 128, max_seq_len 250); HPARAMS only
# for smoke runs on a CPU
hps = HParams().parse(os.environ.get("HPARAMS", ""))
data = load_npz(os.environ["DATA"])
scale = data.scale_factor()
for mode in ("exact", "bucketed"):
    loader = BatchLoader(data.train, batch_size=hps.batch_size, max_seq_len=hps.max_seq_len,
                         scale_factor=scale, random_scale_factor=hps.random_scale_factor,
                         augment_stroke_prob=hps.augment_stroke_prob,
                         bucketed=mode == "bucketed", seed=0)
    model = SketchRNN(hps, seed=0)
    opt = keras.optimizers.Adam(learning_rate=hps.learning_rate, epsilon=1e-8)
    step_fn = TrainStep(model, opt, hps)
    multiple = bucket_multiple()
    t0 = time.perf_counter()
    times, losses = [], None
    # bucketed: warm up every step count first, so compilation is not timed
    top = hps.max_seq_len
    warm = [top]
    if mode == "bucketed" and os.environ.get("WARM", "1") == "1":
        warm = list(range(multiple, top, multiple)) + [top]
    for n in warm:
        b = loader.random_batch()
        step_fn.train(b.strokes5[:, : n + 1], b.lengths, 1e-3, 0.01)
    compile_s = time.perf_counter() - t0
    for i in range(steps):
        t = time.perf_counter()
        b = loader.random_batch()
        s5 = b.strokes5
        if mode == "bucketed":
            s5 = s5[:, : bucket_steps(b.lengths, top, multiple) + 1]
        losses = step_fn.train(s5, b.lengths, learning_rate_at(hps, i), kl_weight_at(hps, i))
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    print(f"{mode:8s}: compile+warm-up {compile_s:.1f} s; {med * 1e3:.1f} ms/step median, "
          f"{1 / med:.1f} steps/s ({len(times) / sum(times):.1f} steps/s mean over {steps}); "
          f"last cost {losses['cost']:.4f} r {losses['r_cost']:.4f} "
          f"kl {losses['kl_cost']:.4f}", flush=True)

n = int(os.environ["TRAIN_STEPS"])
with tempfile.TemporaryDirectory() as tmp:
    result = train(os.path.join(tmp, "run"),
                   f"data_set={os.path.abspath(os.environ['DATA'])},num_steps={n},"
                   f"save_every={max(n // 2, 1)},{os.environ.get('HPARAMS', '')}".rstrip(","),
                   seed=0, progress=True, samples=4)
    print(result.summary())
    for h in result.history:
        print(f"  step {h['step']} {h['split']}: r_cost {h['r_cost']:.4f} "
              f"kl_cost {h['kl_cost']:.4f}")
print("tensorflow imported:", "tensorflow" in sys.modules)
EOF
