#!/usr/bin/env bash
# Installs what the test suite needs into .venv: the project with its jax, dev and vsketch
# extras,
# plus the external test clients (Node's @magenta/sketch, Debian's chromium) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[jax,dev,vsketch]"
if [ -f tests/node/package.json ] && command -v npm >/dev/null; then
  npm install --silent --no-audit --no-fund --prefix tests/node
fi
