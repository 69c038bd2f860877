"""Import boundary: the TF-free modules never pull in TensorFlow, Keras or JAX.

vpype imports every plugin on every call (``vpype --help`` included), and the plotting side
must not pay seconds for a deep-learning framework. Each check runs in a fresh interpreter.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# modules of layers L0/L1, the plotting package, the CLI hub and the vpype plugin
# (architecture.md); a module that does not exist yet is skipped, not failed
TF_FREE = [
    "sketchart",
    "sketchart.errors",
    "sketchart.hparams",
    "sketchart.strokes",
    "sketchart.npzsafe",
    "sketchart.data",
    "sketchart.simplify",
    "sketchart.importers",
    "sketchart.modeldir",
    "sketchart.catalog",
    "sketchart.jsformat",
    "sketchart.layout",
    "sketchart.download",
    "sketchart.cli",
    "sketchart.plot",
    "sketchart.plot.profiles",
    "sketchart.plot.paths",
    "sketchart.plot.motion",
    "sketchart.plot.ebb",
    "sketchart.plot.grbl",
    "sketchart.plot.emulators",
    "sketchart.plot.progress",
    "sketchart.plot.run",
    "vpype_sketchart",
    "vpype_sketchart.commands",
    "vpype_sketchart.plot_command",
]

HEAVY = ("tensorflow", "keras", "jax")

_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})))
"""


def _exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the parent package is missing
        return False


def _heavy_modules_after_import(name: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=set(HEAVY)), name],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, f"import {name} failed:\n{proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_core_plugin_and_cli_together_stay_tf_free():
    """The exact set vpype and the CLI hub load, in one interpreter."""
    names = ["sketchart", "sketchart.cli", "sketchart.layout", "vpype_sketchart"]
    names.append("vpype_sketchart.commands")
    code = (
        "import sys, json, " + ", ".join(names) + "\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("name", TF_FREE)
def test_module_does_not_import_tensorflow_keras_or_jax(name):
    if not _exists(name):
        pytest.skip(f"{name} does not exist (yet)")
    assert _heavy_modules_after_import(name) == []


def test_vpype_loads_the_plugin_without_tensorflow():
    """``vpype --help`` lists our commands and never imports a framework."""
    code = (
        "import sys, json, vpype_cli\n"
        "try:\n"
        "    vpype_cli.cli.main(args=['--help'], prog_name='vpype')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    ours = [line for line in proc.stdout.splitlines() if line.strip().startswith("sketchrnn-")]
    assert len(ours) == 4
    assert not any("could not load plugin" in line for line in ours)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
