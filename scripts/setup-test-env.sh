#!/usr/bin/env bash
# Installs what the test suite needs into .venv: the project with its jax, dev and vsketch
# extras, plus Node's @magenta/sketch (the real-client tests) when npm is there. Debian's
# chromium (the gallery's browser test) is a system package: .ci/run installs it; here a
# missing one is only reported, with the test it skips.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[jax,dev,vsketch]"
if [ -f tests/node/package.json ] && command -v npm >/dev/null; then
  npm install --silent --no-audit --no-fund --prefix tests/node
fi
if [ -z "${SKETCHART_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 \
    && ! command -v chromium-browser >/dev/null 2>&1; then
  echo "note: no chromium here: tests/test_gallery_browser.py will be skipped" \
       "(apt-get install chromium, as .ci/run does, or set SKETCHART_CHROMIUM)" >&2
fi
