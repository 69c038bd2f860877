#!/usr/bin/env bash
# The project's test command (README's second command calls it).
# 0. ruff and mypy (both configured in pyproject.toml);
# 1. every test not marked slow, on the TensorFlow backend (the default);
# 2. the backend-parity tests again on JAX (Keras fixes its backend at import time).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

echo "== ruff =="
"$PY" -m ruff check sketchart plugins tests tools benchmarks examples

echo "== mypy =="
"$PY" -m mypy

echo "== pytest (KERAS_BACKEND=tensorflow) =="
KERAS_BACKEND=tensorflow "$PY" -m pytest -m "not slow" -q "$@"

if "$PY" -c "import jax" 2>/dev/null; then
  echo "== pytest parity (KERAS_BACKEND=jax) =="
  set +e
  KERAS_BACKEND=jax "$PY" -m pytest -m "parity and not slow" -q "$@"
  rc=$?
  set -e
  # exit 5 = no parity tests collected (e.g. a filtered run): not a failure
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then exit "$rc"; fi
else
  echo "jax is not installed: skipping the JAX parity run (pip install -e '.[jax]')" >&2
fi
