#!/usr/bin/env bash
# GPU check with KERAS_BACKEND=jax on a machine that has JAX + CUDA but no TensorFlow and
# no internet: training steps/s for the lstm, layer_norm and hyper decoders (default
# hparams, batch 100), batched sampling of Google's flamingo, then config Q for the time
# left. Each part is its own process under a time cap (benchmarks/gpu_check.py).
#
#   1. here, with internet (PyPI), once:   bash benchmarks/gpu_check.sh --prepare
#      -> .whl/ holds the sketchart wheel, the wheels the GPU image lacks (keras, namex,
#         optree, tensorboardX), aaron_sheep.npz and flamingo.gen.json (copied from
#         ../shared; .whl/ is git-ignored and never committed).
#   2. there, with .whl/ carried beside the checkout:   bash benchmarks/gpu_check.sh
#      BUDGET=500 (seconds for all parts), OUT=dir for the logs, PYTHON=python3,
#      PARTS="train sample quality" (the default) or any of those and
#      "seeds quality_bf16 train_bf16".
#
# Lines with a figure start with the device, e.g. "H200 (JAX): lstm, default hparams, ...".
set -uo pipefail
cd "$(dirname "$0")/.."
WHL=${WHL:-.whl}
PY=${PYTHON:-python3}

if [ "${1:-}" = "--prepare" ]; then
  set -e
  mkdir -p "$WHL"
  rm -f "$WHL"/*.whl
  "$PY" -m pip wheel -q --no-deps -w "$WHL" .
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$WHL" \
    "keras==3.15.1" "namex==0.1.0" "optree==0.20.0" "tensorboardX==2.6.5"
  cp ../shared/data/sketchrnn/aaron_sheep.npz ../shared/models/sketch-rnn-js/flamingo.gen.json \
    "$WHL"/
  chmod u+w "$WHL"/*
  ls -la "$WHL"
  exit 0
fi

START=$(date +%s)
BUDGET=${BUDGET:-500}
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/sketchart-site "$WHL"/*.whl || exit 1
# the installed wheel, not the checkout: benchmarks/ is the script's own folder
export PYTHONPATH=/tmp/sketchart-site KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

left() { echo $(( BUDGET - ($(date +%s) - START) )); }
part() {  # NAME CAP_SECONDS gpu_check.py-arguments...
  local name=$1 cap=$2 l t0
  shift 2
  l=$(left)
  [ "$cap" -gt "$l" ] && cap=$l
  if [ "$cap" -lt 20 ]; then echo "== $name: skipped, $l s left"; return; fi
  echo "== $name (cap $cap s)"
  t0=$(date +%s)
  timeout -s INT -k 15 "$cap" "$PY" benchmarks/gpu_check.py "$@" > "$OUT/$name.log" 2>&1
  echo "   rc $? in $(( $(date +%s) - t0 )) s"
  grep -E "JAX\)|Error|valid cost|stopped|saved 16" "$OUT/$name.log" | tail -30
}
PARTS=" ${PARTS:-train sample quality} "
want() { [[ "$PARTS" == *" $1 "* ]]; }
SHEEP="$WHL/aaron_sheep.npz"
if want train; then
  part train_lstm 110 train-speed --decoder lstm --seconds 35 --data "$SHEEP"
  part train_layer_norm 100 train-speed --decoder layer_norm --seconds 30 --data "$SHEEP"
  part train_hyper 110 train-speed --decoder hyper --seconds 30 --data "$SHEEP"
fi
want sample && part sample 70 sample --model "$WHL/flamingo.gen.json" --batch 1000 \
  --out "$OUT/seed7.npz"
want seeds && part seeds 120 seeds --model "$WHL/flamingo.gen.json" --model models/sheep
if want quality_bf16; then  # two seeds, 1,000 steps each (the float32 pair is above)
  for seed in 0 1; do
    part "quality_q_bf16_$seed" 170 quality-q --data-dir "$WHL" --num-steps 1000 \
      --save-every 250 --seed $seed --precision bfloat16
  done
fi
if want train_bf16; then
  for d in lstm layer_norm; do
    part "train_${d}_bf16" 100 train-speed --decoder $d --seconds 25 --data "$SHEEP" \
      --precision bfloat16
  done
fi
want quality && part quality_q $(( $(left) - 5 )) quality-q --data-dir "$WHL" \
  --num-steps 3000 --save-every 250
echo "total $(( $(date +%s) - START )) s"
